/**
 * The PROFINET upstream client against a fake device on real UDP (127.0.0.1): reads, PNIO errors, one
 * retransmission for a read and none for a write, answer matching (address, activity, sequence, type),
 * fragmented answers (with facks), one call in flight with fair turns across identities, the supervisor
 * device-access AR (opened once, reused, released when idle, reopened after "unknown AR", never an IOCAR).
 * Timeouts and idle release are driven through injected fake timers; no sleeps.
 */
import { createSocket, type Socket } from 'node:dgram';
import t, { type Test } from 'tap';
import {
  ARProperties,
  ARType,
  encodeIm0,
  encodeRealIdentification,
  encodeRpcDatagram,
  Flags1,
  NIL_UUID,
  PacketType,
  PNIO_OK,
  PnioErrors,
  encodeFaultBody,
  NcaStatus,
  type Im0,
} from '../../protocols/profinet/index.js';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import type { ProfinetDeviceOptions, ProfinetResult } from '../../gateway/upstream/profinet-types.js';
import { FakePnioDevice, recordKey, type Seen } from '../fixtures/profinet/fake-device.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const IM0: Im0 = {
  vendorId: 0x002a,
  orderId: '6ES7 155-6AU01-0BN0',
  serialNumber: 'S C-X4U812345',
  hardwareRevision: 3,
  softwareRevisionPrefix: 'V',
  softwareRevision: [4, 2, 1],
  revisionCounter: 0,
  profileId: 0,
  profileSpecificType: 0,
  imVersion: [1, 1],
  imSupported: 0x000e,
};
const MODULES = [
  {
    api: 0,
    slot: 0,
    moduleIdentNumber: 0x00000001,
    submodules: [
      { subslot: 1, submoduleIdentNumber: 1 },
      { subslot: 0x8000, submoduleIdentNumber: 2 },
    ],
  },
  { api: 0, slot: 1, moduleIdentNumber: 0x00000100, submodules: [{ subslot: 1, submoduleIdentNumber: 0x10 }] },
];
const KEY = 'spiffe://plant.example/historian';
const read = (
  o: Partial<{ slot: number; subslot: number; index: number; maxLength: number; clientKey: string }> = {},
) => ({
  clientKey: o.clientKey ?? KEY,
  api: 0,
  slot: o.slot ?? 0,
  subslot: o.subslot ?? 1,
  index: o.index ?? 0xaff0,
  maxLength: o.maxLength ?? 4096,
});
const write = (data: Buffer, clientKey = 'spiffe://plant.example/engineer') => ({
  clientKey,
  api: 0,
  slot: 1,
  subslot: 1,
  index: 0x0010,
  data,
});

async function setup(
  t: Test,
  o: Partial<ProfinetDeviceOptions> = {},
): Promise<{ dev: FakePnioDevice; client: ProfinetClient }> {
  const dev = await FakePnioDevice.start();
  dev.records.set(recordKey(0, 1, 0xaff0), encodeIm0(IM0));
  dev.records.set(recordKey(0, 1, 0xf000), encodeRealIdentification(MODULES));
  dev.records.set(recordKey(1, 1, 0x0010), Buffer.from([0, 100, 1, 244]));
  const client = new ProfinetClient({ name: 'io-1', host: '127.0.0.1', port: dev.port, timeoutMs: 5000, ...o });
  t.teardown(async () => {
    await client.close();
    await dev.close();
  });
  return { dev, client };
}

const kind = (r: ProfinetResult): string => r.kind;

t.test('read ok: Read Implicit, nil AR, one datagram, the record and a zero PNIOStatus', async (t) => {
  const { dev, client } = await setup(t);
  const r = await client.readRecord(read());
  t.equal(r.kind, 'record');
  if (r.kind === 'record') {
    t.same(r.data, encodeIm0(IM0));
    t.equal(r.pnioStatus.toString('hex'), '00000000');
  }
  t.equal(dev.datagrams, 1);
  const [s] = dev.seen;
  t.equal(s?.request.op, 'read-implicit');
  t.equal(s?.request.op === 'read-implicit' ? s.request.record.arUuid : '', NIL_UUID);
  t.equal((s?.header.flags1 ?? 0) & Flags1.Idempotent, Flags1.Idempotent, 'a read is marked idempotent');
  const id = await client.readIdentity({ clientKey: KEY });
  t.equal(id.kind, 'identity');
  if (id.kind === 'identity') {
    t.equal(id.im0.orderId, IM0.orderId);
    t.same(
      id.modules.map((m) => m.slot),
      [0, 1],
    );
  }
  t.equal(client.stats().ar.established, 0, 'reads open no AR');
});

t.test('PNIO error: an unknown index answers pnio-error with the 4 status bytes and their meaning', async (t) => {
  const { client } = await setup(t);
  const r = await client.readRecord(read({ index: 0x1234 }));
  t.equal(r.kind, 'pnio-error');
  if (r.kind === 'pnio-error') {
    t.equal(r.status.toString('hex'), 'de80b00a');
    t.equal(r.name, 'invalid-index');
    t.match(r.meaning, /invalid index/);
    t.equal(r.stage, 'read');
  }
});

t.test('a silent device: a read is sent exactly twice (same activity, sequence and bytes), then timeout', async (t) => {
  const timers = new FakeTimers();
  const { dev, client } = await setup(t, { timers, timeoutMs: 1000 });
  dev.handler = () => 'silent';
  const p = client.readRecord(read());
  await dev.waitFor(() => dev.datagrams === 1);
  timers.advance(999);
  t.equal(dev.datagrams, 1, 'no retransmission before the timeout');
  timers.advance(1);
  await dev.waitFor(() => dev.datagrams === 2);
  timers.advance(1000);
  const r = await p;
  t.same(r, { kind: 'timeout', stage: 'read' });
  timers.advance(60_000);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(dev.datagrams, 2, 'exactly one retry');
  const [a, b] = dev.seen;
  t.ok(a !== undefined && b !== undefined && a.raw.equals(b.raw), 'the retransmission repeats the call byte for byte');
  t.equal(client.stats().retransmissions, 1);
  t.equal(client.stats().timeouts, 1);
});

t.test('a lost write is never resent: write-lost, one write datagram', async (t) => {
  const timers = new FakeTimers();
  const { dev, client } = await setup(t, { timers, timeoutMs: 1000 });
  dev.handler = (s, d) => (s.request.op === 'write' ? 'silent' : d.standardReply(s));
  const p = client.writeRecord(write(Buffer.from([1, 2, 3, 4])));
  await dev.waitFor(() => dev.ops('write').length === 1);
  timers.advance(1000);
  t.same(await p, { kind: 'write-lost' });
  timers.advance(60_000); // past the AR idle time too: only the release may follow
  await dev.waitFor(() => dev.ops('release').length === 1);
  t.equal(dev.ops('write').length, 1, 'the write went out once');
  t.equal(dev.ops('connect').length, 1);
  t.equal(client.stats().writesLost, 1);
  t.equal(client.stats().retransmissions, 0);
});

t.test('answers from another address, with a wrong activity, sequence or type are dropped and counted', async (t) => {
  const { dev, client } = await setup(t);
  const other: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.2', resolve));
  const samePortless: Socket = createSocket('udp4');
  await new Promise<void>((resolve) => samePortless.bind(0, '127.0.0.1', resolve));
  t.teardown(() => {
    other.close();
    samePortless.close();
  });
  const good = Buffer.from('good');
  dev.records.set(recordKey(1, 1, 0x0011), good);
  dev.handler = (s: Seen, d) => {
    const req = s.request;
    if (req.op !== 'read-implicit') return 'silent';
    const ok = d.standardReply(s) as Buffer[];
    const [sp] = d.answer(s, {
      op: 'read-implicit',
      status: PNIO_OK,
      record: { ...req.record, recordDataLength: 4, additionalValue1: 0, additionalValue2: 0 },
      data: Buffer.from('evil'),
    });
    if (sp === undefined) return 'silent';
    const wrongActivity = Buffer.from(sp);
    wrongActivity[40] = (wrongActivity[40] ?? 0) ^ 0xff; // activity UUID starts at byte 40
    const wrongSeq = Buffer.from(sp);
    wrongSeq.writeUInt32BE(s.header.sequenceNumber + 1, 64);
    const wrongType = Buffer.from(sp);
    wrongType[1] = PacketType.Request;
    const working = encodeRpcDatagram(
      { ...s.header, packetType: PacketType.Working, flags1: 0, bodyLength: 0 },
      Buffer.alloc(0),
    );
    d.send(sp, s.from, other); // right call, wrong address
    for (const dg of [wrongActivity, wrongSeq, wrongType, working]) d.send(dg, s.from);
    // The real answer from another source port of the device's address: accepted (never matched by port).
    for (const dg of ok) d.send(dg, s.from, samePortless);
    return 'silent';
  };
  const r = await client.readRecord(read({ slot: 1, subslot: 1, index: 0x0011 }));
  t.equal(kind(r), 'record');
  if (r.kind === 'record') t.same(r.data, good, 'only the real answer counts');
  await dev.waitFor(() => client.stats().datagramsReceived >= 6).catch(() => undefined);
  const dropped = client.stats().dropped;
  t.equal(dropped['foreign-address'], 1);
  t.equal(dropped['wrong-call'], 2, 'wrong activity + wrong sequence');
  t.equal(dropped['wrong-type'], 1);
  t.equal(dropped.ignored, 1, 'a working PDU is no answer');
});

t.test(
  'an answer to this call that does not decode is malformed-answer with its raw bytes, never a record',
  async (t) => {
    const { dev, client } = await setup(t);
    dev.handler = (s, d) => {
      const [dg] = d.standardReply(s) as Buffer[];
      if (dg === undefined) return 'silent';
      const cut = Buffer.from(dg.subarray(0, dg.length - 10));
      cut.writeUInt16BE(cut.length - 80, 74); // consistent RPC length, truncated record inside
      return [cut];
    };
    const r = await client.readRecord(read());
    t.equal(r.kind, 'malformed-answer');
    if (r.kind === 'malformed-answer') {
      t.ok(r.raw.length > 80);
      t.ok(r.detail.length > 0);
    }
    dev.handler = (s) => [
      encodeRpcDatagram(
        { ...s.header, packetType: PacketType.Reject, flags1: 0, bodyLength: 0 },
        encodeFaultBody(NcaStatus.OpRangeError, false),
      ),
    ];
    const f = await client.readRecord(read());
    t.match(f, { kind: 'rpc-fault', packet: 'reject', name: 'nca_s_op_rng_error' });
  },
);

t.test('fragmented answers are reassembled; a fack goes back per fragment (paced devices wait for it)', async (t) => {
  const { dev, client } = await setup(t);
  const big = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff));
  dev.records.set(recordKey(1, 1, 0x0020), big);
  dev.maxFragmentBody = 1000;
  const r = await client.readRecord(read({ slot: 1, subslot: 1, index: 0x0020, maxLength: 4000 }));
  t.equal(r.kind, 'record');
  if (r.kind === 'record') t.same(r.data, big);
  dev.paced = true;
  const p = await client.readRecord(read({ slot: 1, subslot: 1, index: 0x0020, maxLength: 4000 }));
  t.equal(p.kind, 'record', 'a device that sends the next fragment only after a fack');
  if (p.kind === 'record') t.same(p.data, big);
  t.equal(dev.facks, 6, 'three facks per four-fragment answer (none for the last)');
  t.equal(client.stats().facksSent, 6);
});

t.test('one call in flight per device; three identities take fair turns', async (t) => {
  const { dev, client } = await setup(t);
  let inFlight = 0;
  let maxInFlight = 0;
  const order: string[] = [];
  dev.handler = (s, d) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const slot = s.request.op === 'read-implicit' ? s.request.record.slot : -1;
    order.push(`${'ABC'[Math.floor(slot / 10)]}${slot % 10}`);
    const reply = d.answer(s, { op: 'read-implicit', status: PnioErrors.readInvalidIndex, data: Buffer.alloc(0) });
    setTimeout(() => {
      inFlight--;
      for (const dg of reply) d.send(dg, s.from);
    }, 2);
    return 'silent';
  };
  const all: Promise<ProfinetResult>[] = [];
  for (const [who, base] of [
    ['A', 0],
    ['B', 10],
    ['C', 20],
  ] as const) {
    for (let i = 1; i <= 3; i++) all.push(client.readRecord(read({ clientKey: who, slot: base + i, index: 0x0010 })));
  }
  t.same(client.stats().byClient, { A: 3, B: 3, C: 3 });
  const results = await Promise.all(all);
  t.ok(results.every((r) => r.kind === 'pnio-error'));
  t.equal(maxInFlight, 1, 'never two calls on the wire at once');
  t.same(order, ['A1', 'A2', 'B1', 'C1', 'A3', 'B2', 'C2', 'B3', 'C3'], 'round-robin between identities');
});

t.test(
  'the device-access AR: opened once, reused, released when idle, reopened after unknown AR, never an IOCAR',
  async (t) => {
    const timers = new FakeTimers();
    const { dev, client } = await setup(t, { timers, timeoutMs: 1000, arIdleMs: 5000, arActivityTimeoutFactor: 100 });
    t.equal((await client.writeRecord(write(Buffer.from([1])))).kind, 'record');
    t.equal((await client.writeRecord(write(Buffer.from([2])))).kind, 'record');
    t.equal(dev.ops('connect').length, 1, 'one AR for two writes');
    const [w1, w2] = dev.ops('write');
    const arOf = (s: Seen | undefined): string => (s?.request.op === 'write' ? s.request.record.arUuid : '');
    t.equal(arOf(w1), arOf(w2));
    t.equal(w1?.header.activityUuid, dev.ops('connect')[0]?.header.activityUuid, 'the AR has its own activity');
    t.ok((w2?.header.sequenceNumber ?? 0) > (w1?.header.sequenceNumber ?? 0));
    t.equal(client.stats().ar.open, true);
    timers.advance(4999);
    t.equal(dev.ops('release').length, 0, 'not released before the idle time');
    timers.advance(1);
    await dev.waitFor(() => dev.ops('release').length === 1);
    await new Promise((resolve) => setImmediate(resolve));
    t.equal(client.stats().ar.open, false);
    t.equal(dev.ars.size, 0, 'the device freed it');
    t.equal(
      (await client.readRecord({ ...read({ slot: 1, subslot: 1, index: 0x0010 }), viaAr: true })).kind,
      'record',
      'a read over the AR opens one',
    );
    t.equal(dev.ops('connect').length, 2);
    dev.ars.clear(); // the device restarted: it no longer knows the gateway's AR
    const r = await client.writeRecord(write(Buffer.from([3])));
    t.match(
      r,
      { kind: 'pnio-error', stage: 'write' },
      'unknown AR → the device\'s error; the write is NOT sent again (a forged "unknown AR" must not double a write)',
    );
    t.equal(dev.ops('write').length, 3, 'the write went out exactly once');
    t.equal(dev.ops('connect').length, 2, 'no AR opened on its behalf');
    const next = await client.writeRecord(write(Buffer.from([4])));
    t.equal(next.kind, 'record', 'the next write opens a new AR and goes through');
    t.equal(dev.ops('connect').length, 3);
    t.equal(client.stats().ar.reestablished, 1);
    t.equal(dev.ops('write').length, 4);
    t.not(arOf(dev.ops('write').at(-1)), arOf(dev.ops('write').at(-2)), 'on the new AR');
    for (const c of dev.ops('connect')) {
      if (c.request.op !== 'connect') continue;
      t.equal(c.request.ar.arType, ARType.IOSAR, 'IOSAR, never IOCAR');
      t.equal(c.request.ar.arProperties & ARProperties.DeviceAccess, ARProperties.DeviceAccess);
      t.equal(c.request.otherBlocks.length, 0, 'ARBlockReq only');
    }
    await client.close();
    t.equal(dev.ops('release').length, 2, 'close releases the open AR');
  },
);

t.test('a device that refuses device-access ARs: the write answers the connect error, nothing written', async (t) => {
  const { dev, client } = await setup(t);
  dev.handler = (s, d) =>
    s.request.op === 'connect'
      ? d.answer(s, { op: 'connect', status: PnioErrors.connectArTypeNotSupported, otherBlocks: [] })
      : d.standardReply(s);
  const r = await client.writeRecord(write(Buffer.from([9])));
  t.match(r, { kind: 'pnio-error', name: 'ar-type-not-supported', stage: 'connect' });
  t.equal(dev.ops('write').length, 0);
});

t.test('aborted, stillAllowed, queue-full, invalid arguments: values, nothing sent', async (t) => {
  const { dev, client } = await setup(t, { queueLimit: 1 });
  dev.handler = (s, d) => {
    setTimeout(() => (d.standardReply(s) as Buffer[]).forEach((dg) => d.send(dg, s.from)), 5);
    return 'silent';
  };
  const first = client.readRecord(read());
  const ac = new AbortController();
  const queued = client.writeRecord({ ...write(Buffer.from([1])), signal: ac.signal });
  t.same(await client.readRecord(read()), { kind: 'queue-full' }, 'a full queue of one: no push-out of a lone request');
  ac.abort();
  t.same(await queued, { kind: 'aborted' });
  t.equal((await first).kind, 'record');
  t.same(await client.readRecord({ ...read(), stillAllowed: () => false }), { kind: 'aborted' });
  t.same(
    await client.readRecord({
      ...read(),
      stillAllowed: () => {
        throw new Error('lock store down');
      },
    }),
    { kind: 'aborted' },
    'a throwing gate fails closed',
  );
  t.match(await client.readRecord({ ...read(), maxLength: 65536 }), { kind: 'invalid-argument' });
  t.match(await client.readRecord({ ...read(), slot: 0x10000 }), { kind: 'invalid-argument' });
  t.match(await client.writeRecord(write(Buffer.alloc(0))), { kind: 'invalid-argument' });
  t.equal(dev.ops().length, 1, 'only the first read reached the device');
  t.equal(dev.ops('connect').length, 0);
});

t.test('config errors throw GW_ERR_UPSTREAM_CONFIG at construction (startup), never later', async (t) => {
  const base = { name: 'io-1', host: '127.0.0.1' };
  const bad = [
    { host: 'plc.example' }, // answers are matched by address: an IP literal
    { port: 0 },
    { timeoutMs: 0 },
    { arIdleMs: 30_000, arActivityTimeoutFactor: 300 }, // the device would drop the AR first
    { stationName: '' },
    { initiatorMac: 'zz' },
    { objectUuid: 'not-a-uuid' },
  ];
  for (const o of bad)
    t.throws(() => new ProfinetClient({ ...base, ...o }), { code: 'GW_ERR_UPSTREAM_CONFIG' }, JSON.stringify(o));
  const ok = new ProfinetClient({ ...base, host: '::1' });
  t.equal(ok.stats().queued, 0, 'IPv6 literals are fine');
  await ok.close();
});

t.test(
  'the AR idle countdown does not run during a call on the AR: released only after arIdleMs without use',
  async (t) => {
    const timers = new FakeTimers();
    const { dev, client } = await setup(t, { timers, timeoutMs: 1000, arIdleMs: 5000, arActivityTimeoutFactor: 100 });
    t.equal((await client.writeRecord(write(Buffer.from([1])))).kind, 'record');
    timers.advance(4900);
    let held: Seen | undefined;
    dev.handler = (s, d) => {
      if (s.request.op !== 'write') return d.standardReply(s);
      held = s;
      return 'silent';
    };
    const p = client.writeRecord(write(Buffer.from([2])));
    await dev.waitFor(() => dev.ops('write').length === 2);
    timers.advance(100); // the idle time since the first write's end passes while the second write is on the wire
    const reply = dev.standardReply(held as Seen);
    if (reply !== 'silent') for (const dg of reply) dev.send(dg, (held as Seen).from);
    t.equal((await p).kind, 'record');
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    t.equal(dev.ops('release').length, 0, 'an AR just used is not released');
    t.equal(client.stats().ar.open, true);
    timers.advance(4999);
    await new Promise((resolve) => setImmediate(resolve));
    t.equal(dev.ops('release').length, 0, 'not before arIdleMs after the last use');
    timers.advance(1);
    await dev.waitFor(() => dev.ops('release').length === 1);
    t.equal(dev.ops('connect').length, 1);
  },
);
