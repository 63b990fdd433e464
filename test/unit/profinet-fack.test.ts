/** Fragment acknowledgement [C706 12.5.3.9]: body round trip in both byte orders, header of a client's fack. */
import t from 'tap';
import {
  decodeFackBody,
  decodeRpcDatagram,
  encodeFackBody,
  fackDatagram,
  Flags1,
  FragmentAssembler,
  PacketType,
  rpcHeader,
} from '../../protocols/profinet/index.js';

t.test('fack body: 16 bytes + selective acks, both byte orders, lengths checked', async (t) => {
  const f = { version: 0, windowSize: 1, maxTsdu: 1472, maxFragSize: 1472, serialNumber: 3, selectiveAcks: [5] };
  const be = encodeFackBody(f, false);
  t.equal(be.toString('hex'), '00000001000005c0000005c0000300010000000' + '5');
  t.same(decodeFackBody(be, false), { ok: true, value: f });
  t.same(decodeFackBody(encodeFackBody(f, true), true), { ok: true, value: f });
  t.match(decodeFackBody(be.subarray(0, 15), false), { ok: false, reason: 'truncated' });
  t.match(decodeFackBody(be.subarray(0, 18), false), { ok: false, reason: 'truncated' });
  t.match(decodeFackBody(Buffer.concat([be, Buffer.alloc(2)]), false), { ok: false, reason: 'trailing-bytes' });
});

t.test("a client's fack repeats the call and names the fragment it acknowledges", async (t) => {
  const frag = {
    ...rpcHeader({
      packetType: PacketType.Response,
      activityUuid: '01234567-89ab-cdef-0123-456789abcdef',
      sequenceNumber: 9,
      opnum: 5,
      flags1: Flags1.Fragment,
      fragmentNumber: 2,
      serial: 2,
    }),
    bodyLength: 100,
  };
  const d = decodeRpcDatagram(fackDatagram(frag, { littleEndian: true }));
  t.ok(d.ok);
  if (!d.ok) return;
  t.equal(d.value.header.packetType, PacketType.Fack);
  t.equal(d.value.header.activityUuid, frag.activityUuid);
  t.equal(d.value.header.sequenceNumber, 9);
  t.equal(d.value.header.fragmentNumber, 2);
  t.equal(d.value.header.flags1, 0);
  t.match(decodeFackBody(d.value.body, true), { ok: true, value: { serialNumber: 2, selectiveAcks: [] } });
});

t.test('a fack acknowledges the highest fragment with no gap before it, not the one that just arrived', async (t) => {
  const asm = new FragmentAssembler({ now: () => 0 });
  const frag = (n: number, last = false) => ({
    ...rpcHeader({
      packetType: PacketType.Response,
      activityUuid: '01234567-89ab-cdef-0123-456789abcdef',
      sequenceNumber: 4,
      opnum: 5,
      flags1: Flags1.Fragment | (last ? Flags1.LastFragment : 0),
      fragmentNumber: n,
      serial: n,
    }),
    bodyLength: 4,
  });
  const acked = (n: number): number => {
    t.equal(asm.push(frag(n), Buffer.alloc(4, n)).kind, 'need-more');
    const d = decodeRpcDatagram(fackDatagram(frag(n), { littleEndian: false, inOrder: asm.inOrder(frag(n)) }));
    if (!d.ok) throw new Error(d.detail);
    t.match(
      decodeFackBody(d.value.body, false),
      { ok: true, value: { serialNumber: n } },
      'serial of the fragment that caused it',
    );
    return d.value.header.fragmentNumber;
  };
  t.equal(asm.inOrder(frag(0)), -1, 'nothing pending');
  t.equal(asm.push(frag(1), Buffer.alloc(4, 1)).kind, 'need-more');
  t.equal(asm.inOrder(frag(1)), -1, 'fragment 0 missing: nothing to acknowledge (the client sends no fack)');
  t.equal(acked(0), 1, '0 and 1 in: acknowledges 1');
  t.equal(acked(3), 1, '2 missing: still 1, so the device resends 2');
  t.equal(acked(2), 3, 'gap filled: 3');
  t.equal(asm.push(frag(4, true), Buffer.alloc(4)).kind, 'complete');
});
