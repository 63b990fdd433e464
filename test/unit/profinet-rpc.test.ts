/** Connectionless DCE/RPC v4 header [C706 12.5] in both byte orders, call matching, fragments. */
import t from 'tap';
import {
  answersCall,
  callKey,
  decodeCmRequest,
  decodeRpcDatagram,
  encodeCmRequest,
  encodeRpcDatagram,
  Flags1,
  FragmentAssembler,
  fragmentDatagrams,
  PacketType,
  PNIO_DEVICE_INTERFACE,
  rpcHeader,
  type AssemblyResult,
  type RpcHeader,
} from '../../protocols/profinet/index.js';
import { hex } from '../fixtures/modbus/annotated-hex.js';
import { ACTIVITY, call, OBJECT, READ_IM0 } from '../fixtures/profinet/calls.js';

const READ_IMPLICIT_BE = hex(`
  04                                   # RPC version 4 (connectionless)
  00                                   # packet type 0 request
  00 00                                # flags1, flags2
  00 00 00                             # DREP: big-endian, ASCII, IEEE
  00                                   # serial high
  de a0 00 00 6c 97 11 d1 82 71 00 01 04 05 00 2a # object UUID: instance 1, device 0x0405, vendor 0x002A
  de a0 00 01 6c 97 11 d1 82 71 00 a0 24 42 df 7d # interface UUID: PNIO device interface
  01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef # activity UUID
  00 00 00 00                          # server boot time
  00 00 00 01                          # interface version 1
  00 00 00 07                          # sequence number 7
  00 05                                # opnum 5 Read Implicit
  ff ff ff ff                          # interface hint, activity hint
  00 54                                # fragment (body) length 84 = 20 NDR + 64 block
  00 00                                # fragment number 0
  00 00                                # auth proto none, serial low
  00 00 10 00                          # NDR ArgsMaximum 4096
  00 00 00 40                          # ArgsLength 64
  00 00 10 00                          # MaximumCount 4096
  00 00 00 00                          # Offset 0
  00 00 00 40                          # ActualCount 64
  00 09 00 3c 01 00                    # IODReadReqHeader, BlockLength 60, version 1.0
  00 03                                # SeqNumber 3
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 # ARUUID nil (implicit)
  00 00 00 00                          # API 0
  00 00 00 01                          # slot 0, subslot 1
  00 00                                # padding
  af f0                                # index 0xAFF0 I&M0
  00 00 10 00                          # RecordDataLength 4096
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 # TargetARUUID nil
  00 00 00 00 00 00 00 00              # padding`);

const HEADER_LE = hex(`
  04 00 00 00                          # version, request, flags
  10 00 00                             # DREP: little-endian
  00                                   # serial high
  00 00 a0 de 97 6c d1 11 82 71 00 01 04 05 00 2a # object UUID, first three fields swapped
  01 00 a0 de 97 6c d1 11 82 71 00 a0 24 42 df 7d # interface UUID, swapped the same way
  67 45 23 01 ab 89 ef cd 01 23 45 67 89 ab cd ef # activity UUID
  00 00 00 00                          # server boot
  01 00 00 00                          # interface version 1
  07 00 00 00                          # sequence 7
  05 00                                # opnum 5
  ff ff ff ff                          # hints
  54 00                                # body length 84
  00 00 00 00                          # fragment number, auth, serial low`);

t.test('Read Implicit request, big-endian, byte for byte', async (t) => {
  const { datagrams, header } = encodeCmRequest(call(false), READ_IM0);
  t.equal(datagrams.length, 1);
  t.equal(datagrams[0]?.toString('hex'), READ_IMPLICIT_BE.toString('hex'));
  t.equal(header.bodyLength, 84);
  const d = decodeRpcDatagram(READ_IMPLICIT_BE);
  if (!d.ok) throw new Error(d.detail);
  t.match(d.value.header, {
    packetType: 0,
    littleEndian: false,
    objectUuid: OBJECT,
    interfaceUuid: PNIO_DEVICE_INTERFACE,
    activityUuid: ACTIVITY,
    sequenceNumber: 7,
    opnum: 5,
    bodyLength: 84,
    interfaceVersion: 1,
  });
  t.same(decodeCmRequest(d.value.header, d.value.body), { ok: true, value: READ_IM0 });
});

t.test('Read Implicit request, little-endian: integers and UUID fields swapped, blocks stay big-endian', async (t) => {
  const [dg] = encodeCmRequest(call(true), READ_IM0).datagrams;
  if (!dg) throw new Error('no datagram');
  t.equal(dg.subarray(0, 80).toString('hex'), HEADER_LE.toString('hex'));
  t.equal(dg.subarray(80, 84).toString('hex'), '00100000', 'ArgsMaximum 4096 little-endian');
  t.equal(
    dg.subarray(100).toString('hex'),
    READ_IMPLICIT_BE.subarray(100).toString('hex'),
    'the block is the same bytes',
  );
  const d = decodeRpcDatagram(dg);
  if (!d.ok) throw new Error(d.detail);
  t.equal(d.value.header.littleEndian, true);
  t.equal(d.value.header.activityUuid, ACTIVITY);
  t.same(decodeCmRequest(d.value.header, d.value.body), { ok: true, value: READ_IM0 });
});

t.test('header refusals', async (t) => {
  const bad = (edit: (b: Buffer) => Buffer, reason: string, what: string): void => {
    const r = decodeRpcDatagram(edit(Buffer.from(READ_IMPLICIT_BE)));
    t.equal(r.ok ? 'ok' : r.reason, reason, what);
  };
  bad((b) => b.subarray(0, 79), 'truncated', '79 bytes');
  bad((b) => ((b[0] = 5), b), 'rpc-version', 'connection-oriented version 5');
  bad((b) => ((b[1] = 11), b), 'packet-type', 'packet type 11');
  bad((b) => ((b[4] = 0x20), b), 'drep', 'DREP 0x20');
  bad((b) => ((b[4] = 0x11), b), 'drep', 'EBCDIC characters');
  bad((b) => ((b[5] = 1), b), 'drep', 'VAX floats');
  bad((b) => ((b[78] = 1), b), 'auth', 'auth proto 1');
  bad((b) => b.subarray(0, b.length - 1), 'truncated', 'body shorter than its length field');
  bad((b) => Buffer.concat([b, Buffer.from([0])]), 'trailing-bytes', 'one byte more than the length field');
});

t.test('answers are matched by activity + sequence, then type, opnum and interface', async (t) => {
  const req = rpcHeader({ packetType: PacketType.Request, activityUuid: ACTIVITY, sequenceNumber: 7, opnum: 5 });
  const res = { ...req, packetType: PacketType.Response };
  t.same(answersCall(req, res), { ok: true, value: true });
  t.equal(callKey(ACTIVITY.toUpperCase(), 7), callKey(ACTIVITY, 7), 'key ignores UUID case');
  const reason = (h: RpcHeader): string => {
    const r = answersCall(req, h);
    return r.ok ? 'ok' : r.reason;
  };
  t.equal(reason({ ...res, sequenceNumber: 8 }), 'mismatch', 'other sequence');
  t.equal(reason({ ...res, activityUuid: '01234567-89ab-cdef-0123-456789abcdee' }), 'mismatch', 'other activity');
  t.equal(reason({ ...res, opnum: 2 }), 'mismatch', 'other opnum');
  t.equal(reason({ ...res, interfaceUuid: OBJECT }), 'mismatch', 'other interface');
  t.equal(reason({ ...res, packetType: PacketType.Request }), 'packet-type', 'a request is no answer');
  t.equal(reason({ ...res, packetType: PacketType.Fault, opnum: 0 }), 'ok', 'a fault answers whatever its opnum');
});

function datagramsOf(body: Buffer, max: number, le = false): RpcHeader[] {
  const h = rpcHeader({
    packetType: PacketType.Response,
    activityUuid: ACTIVITY,
    sequenceNumber: 9,
    opnum: 5,
    littleEndian: le,
  });
  return fragmentDatagrams(h, body, max).map((dg) => {
    const d = decodeRpcDatagram(dg);
    if (!d.ok) throw new Error(d.detail);
    return d.value.header;
  });
}

t.test('fragmentDatagrams: flags, numbers and lengths', async (t) => {
  const body = Buffer.from(Array.from({ length: 250 }, (_, i) => i & 0xff));
  const h = rpcHeader({ packetType: PacketType.Response, activityUuid: ACTIVITY, sequenceNumber: 9, opnum: 5 });
  const dgs = fragmentDatagrams(h, body, 100);
  t.equal(dgs.length, 3);
  const heads = datagramsOf(body, 100);
  t.same(
    heads.map((x) => [x.fragmentNumber, x.bodyLength, x.flags1]),
    [
      [0, 100, Flags1.Fragment],
      [1, 100, Flags1.Fragment],
      [2, 50, Flags1.Fragment | Flags1.LastFragment],
    ],
  );
  t.same(
    datagramsOf(body, 250).map((x) => x.flags1),
    [0],
    'fits: one unfragmented datagram',
  );
  t.throws(() => fragmentDatagrams(h, body, 0), RangeError);
});

/** Push every datagram of `dgs` (in the given order) and return the last result. */
function feed(a: FragmentAssembler, dgs: Buffer[]): AssemblyResult[] {
  return dgs.map((dg) => {
    const d = decodeRpcDatagram(dg);
    if (!d.ok) throw new Error(d.detail);
    return a.push(d.value.header, d.value.body);
  });
}

t.test('FragmentAssembler: in order, out of order, duplicates', async (t) => {
  const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff));
  const h = rpcHeader({
    packetType: PacketType.Response,
    activityUuid: ACTIVITY,
    sequenceNumber: 9,
    opnum: 5,
    littleEndian: true,
  });
  const dgs = fragmentDatagrams(h, body, 128);
  t.equal(dgs.length, 8);
  const inOrder = feed(new FragmentAssembler(), dgs);
  const last = inOrder.at(-1);
  t.same(
    inOrder.slice(0, -1).map((r) => r.kind),
    Array(7).fill('need-more'),
  );
  if (last?.kind !== 'complete') throw new Error('not complete');
  t.ok(last.body.equals(body), 'body reassembled');
  t.equal(last.fragments, 8);
  t.equal(last.header.bodyLength, 1000);
  const a = new FragmentAssembler();
  const shuffled = [dgs[7], dgs[3], dgs[0], dgs[3], dgs[6], dgs[5], dgs[1], dgs[2], dgs[4]] as Buffer[];
  const results = feed(a, shuffled);
  t.equal(results[3]?.kind, 'duplicate', 'the same fragment again is ignored');
  const end = results.at(-1);
  t.ok(end?.kind === 'complete' && end.body.equals(body), 'out of order + duplicate → same body');
  t.equal(a.calls, 0);
  t.equal(a.bufferedBytes, 0, 'nothing held after completion');
  t.same(a.stats, { completed: 1, dropped: 0, evicted: 0, expired: 0, duplicates: 1 });
});

t.test('FragmentAssembler: conflicts and bounds drop the call', async (t) => {
  const body = Buffer.alloc(400, 0xab);
  const h = rpcHeader({ packetType: PacketType.Response, activityUuid: ACTIVITY, sequenceNumber: 9, opnum: 5 });
  const dgs = fragmentDatagrams(h, body, 100);
  const reasonOf = (r: AssemblyResult | undefined): string => (r?.kind === 'dropped' ? r.reason : (r?.kind ?? 'none'));
  const conflicting = Buffer.from(dgs[1] as Buffer);
  conflicting[90] = 0;
  t.equal(
    reasonOf(feed(new FragmentAssembler(), [dgs[1] as Buffer, conflicting]).at(-1)),
    'fragment',
    'same number, other bytes',
  );
  const otherOpnum = Buffer.from(dgs[1] as Buffer);
  otherOpnum.writeUInt16BE(2, 68);
  t.equal(
    reasonOf(feed(new FragmentAssembler(), [dgs[0] as Buffer, otherOpnum]).at(-1)),
    'fragment',
    'header changes between fragments',
  );
  t.equal(
    reasonOf(feed(new FragmentAssembler({ maxFragments: 3 }), dgs).at(-1)),
    'too-large',
    'fragment number ≥ maxFragments',
  );
  t.equal(reasonOf(feed(new FragmentAssembler({ maxBytes: 250 }), dgs).at(2)), 'too-large', 'over maxBytes');
  const twoLast = fragmentDatagrams(h, Buffer.alloc(150), 100);
  t.equal(
    reasonOf(feed(new FragmentAssembler(), [twoLast[1] as Buffer, dgs[3] as Buffer]).at(-1)),
    'fragment',
    'two last fragments',
  );
  t.equal(
    reasonOf(feed(new FragmentAssembler(), [dgs[3] as Buffer, twoLast[1] as Buffer]).at(-1)),
    'fragment',
    'a last fragment below one already seen',
  );
  t.equal(
    reasonOf(feed(new FragmentAssembler(), [twoLast[1] as Buffer, dgs[2] as Buffer]).at(-1)),
    'fragment',
    'a fragment after the last',
  );
  const stray = encodeRpcDatagram({ ...h, fragmentNumber: 3 }, Buffer.alloc(4));
  t.equal(
    reasonOf(feed(new FragmentAssembler(), [stray]).at(-1)),
    'fragment',
    'unfragmented datagram with a fragment number',
  );
  const a = new FragmentAssembler();
  feed(a, [dgs[0] as Buffer]);
  const whole = encodeRpcDatagram(h, Buffer.alloc(8));
  t.equal(feed(a, [whole])[0]?.kind, 'complete', 'an unfragmented answer replaces a partial one');
  t.equal(a.calls, 0);
});

t.test('FragmentAssembler: calls are bounded in number and age (injected clock)', async (t) => {
  let now = 1000;
  const a = new FragmentAssembler({ maxCalls: 2, timeoutMs: 500, now: () => now });
  const first = (seq: number): Buffer =>
    fragmentDatagrams(
      rpcHeader({ packetType: 2, activityUuid: ACTIVITY, sequenceNumber: seq, opnum: 5 }),
      Buffer.alloc(300),
      100,
    )[0] as Buffer;
  feed(a, [first(1), first(2)]);
  t.equal(a.calls, 2);
  t.equal(a.bufferedBytes, 200);
  feed(a, [first(3)]);
  t.equal(a.calls, 2, 'third call evicts the oldest');
  t.equal(a.stats.evicted, 1);
  now += 499;
  t.equal(a.expire(), 0);
  now += 1;
  t.equal(a.expire(), 2, 'both expire at the timeout');
  t.equal(a.bufferedBytes, 0);
  feed(a, [first(4)]);
  a.forget(callKey(ACTIVITY, 4));
  t.equal(a.calls, 0, 'forget frees a call');
});
