/**
 * DevicePool against a tiny scripted TCP "PLC" written in this file: the cases the real simulator cannot
 * produce on purpose (replies out of order, wrong FC, unknown transaction ids, broken framing).
 * Everything runs on 127.0.0.1, port 0, and stops itself. Pools whose deadlines matter run on fake timers.
 */
import t from 'tap';
import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { MbapFramer, encodeAdu } from '../../protocols/modbus/index.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import type { DevicePoolOptions } from '../../gateway/upstream/types.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { when } from '../helpers/when.js';

interface Req {
  tid: number;
  unit: number;
  pdu: Buffer;
  socket: net.Socket;
}

/**
 * A PLC whose behaviour the test scripts: every request goes to `onRequest`, which may answer or not; `events`
 * emits 'request' after each one, what a test awaits instead of polling for the pool's write to arrive.
 */
async function scriptedPlc(onRequest: (r: Req, reply: (tid: number, pdu: Buffer, unit?: number) => void) => void) {
  const events = new EventEmitter();
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const framer = new MbapFramer();
    socket.on('data', (chunk) => {
      framer.push(chunk);
      for (let r = framer.next(); r.kind === 'frame'; r = framer.next()) {
        const { header, pdu } = r.frame;
        const req = { tid: header.transactionId, unit: header.unitId, pdu, socket };
        onRequest(req, (tid, res, unit = header.unitId) => socket.write(encodeAdu(tid, unit, res)));
        events.emit('request');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    events,
    accepted: () => accepted,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const readHolding = (addr: number, count = 1) => Buffer.from([0x03, addr >> 8, addr & 0xff, 0, count]);
/** A correct FC3 answer whose single register value is `v`. */
const fc3Answer = (v: number) => Buffer.from([0x03, 2, v >> 8, v & 0xff]);

function pool(port: number, over: Partial<DevicePoolOptions> = {}) {
  return new DevicePool({
    name: 'raw',
    host: '127.0.0.1',
    port,
    maxConnections: 1,
    maxInFlight: 1,
    timeoutMs: 2000,
    queueLimit: 100,
    ...over,
  });
}

t.test('replies out of order are paired by upstream transaction id; ids are unique in flight', async (t) => {
  const held: { tid: number; pdu: Buffer; reply: (tid: number, pdu: Buffer) => void }[] = [];
  const seenTids: number[] = [];
  const plc = await scriptedPlc((r, reply) => {
    seenTids.push(r.tid);
    held.push({ tid: r.tid, pdu: r.pdu, reply });
    if (held.length === 4) {
      // Answer newest first: each answer carries the register address it was asked for, as its value.
      for (const h of held.reverse()) h.reply(h.tid, fc3Answer(h.pdu.readUInt16BE(1)));
      held.length = 0;
    }
  });
  t.teardown(() => plc.close());
  const p = pool(plc.port, { maxInFlight: 4 });
  t.teardown(() => p.close());
  const results = await Promise.all(
    [100, 200, 300, 400].map((addr) =>
      p.submit({ clientKey: `c${addr}`, unitId: 1, pdu: readHolding(addr), isWrite: false }),
    ),
  );
  results.forEach((r, i) => {
    t.equal(r.kind, 'response');
    if (r.kind === 'response') t.equal(r.pdu.readUInt16BE(2), (i + 1) * 100, `request ${i} got its own answer`);
  });
  t.equal(new Set(seenTids).size, 4, 'four distinct upstream transaction ids in flight');
  t.equal(plc.accepted(), 1, 'one connection carried all four');
});

t.test('a reply with the wrong FC is invalid-response and the connection is recycled', async (t) => {
  let n = 0;
  const plc = await scriptedPlc((r, reply) => {
    n++;
    reply(r.tid, n === 1 ? Buffer.from([0x04, 2, 0, 1]) : fc3Answer(7));
  });
  t.teardown(() => plc.close());
  const p = pool(plc.port);
  t.teardown(() => p.close());
  const bad = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(bad.kind, 'invalid-response');
  if (bad.kind === 'invalid-response') t.match(bad.reason, /function code 0x04/);
  const good = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(good.kind, 'response');
  t.equal(plc.accepted(), 2, 'a fresh connection after the bad reply');
});

t.test('a structurally wrong reply (byte count) and a wrong unit id are invalid-response', async (t) => {
  let n = 0;
  const plc = await scriptedPlc((r, reply) => {
    n++;
    if (n === 1)
      reply(r.tid, Buffer.from([0x03, 4, 0, 1, 0, 2])); // asked for 1 register, got 2
    else reply(r.tid, fc3Answer(1), r.unit + 1);
  });
  t.teardown(() => plc.close());
  const p = pool(plc.port);
  t.teardown(() => p.close());
  const r1 = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(r1.kind, 'invalid-response');
  const r2 = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(r2.kind, 'invalid-response');
  if (r2.kind === 'invalid-response') t.match(r2.reason, /unit id 2/);
});

t.test('an exception reply (FC|0x80) is a valid response, passed through', async (t) => {
  const plc = await scriptedPlc((r, reply) => reply(r.tid, Buffer.from([0x83, 0x02])));
  t.teardown(() => plc.close());
  const p = pool(plc.port);
  t.teardown(() => p.close());
  const r = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(r.kind, 'response');
  if (r.kind === 'response') t.same([...r.pdu], [0x83, 0x02]);
});

t.test('a reply with an unknown transaction id is dropped; the real reply still pairs', async (t) => {
  const plc = await scriptedPlc((r, reply) => {
    reply((r.tid + 1) & 0xffff, fc3Answer(666));
    reply(r.tid, fc3Answer(42));
  });
  t.teardown(() => plc.close());
  const p = pool(plc.port);
  t.teardown(() => p.close());
  const r = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(r.kind, 'response');
  if (r.kind === 'response') t.equal(r.pdu.readUInt16BE(2), 42);
  t.equal(plc.accepted(), 1, 'connection kept');
});

t.test(
  'timeout keeps the tid reserved; the late reply is dropped and frees the slot for the next request',
  async (t) => {
    let first: { tid: number; reply: (tid: number, pdu: Buffer) => void } | undefined;
    const tids: number[] = [];
    const plc = await scriptedPlc((r, reply) => {
      tids.push(r.tid);
      if (first === undefined) first = { tid: r.tid, reply };
      else reply(r.tid, fc3Answer(2));
    });
    t.teardown(() => plc.close());
    const timers = new FakeTimers();
    const p = pool(plc.port, { timeoutMs: 200, lateReplyGraceMs: 5000, timers });
    t.teardown(() => p.close());
    const pendingFirst = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: true });
    await when(plc.events, 'request', () => tids.length === 1);
    timers.advance(200);
    const timedOut = await pendingFirst;
    t.equal(timedOut.kind, 'timeout');
    t.equal(p.stats().lateReserved, 1, 'slot still reserved for the late reply');
    // The next request waits (maxInFlight 1, slot reserved) until the late reply comes.
    const next = p.submit({ clientKey: 'b', unitId: 1, pdu: readHolding(0), isWrite: false });
    await flushIo();
    t.equal(p.stats().queued, 1, 'not sent while the late slot is reserved');
    t.equal(tids.length, 1);
    first?.reply(first.tid, fc3Answer(1)); // the late reply: must not be taken as the answer to `next`
    const r = await next;
    t.equal(r.kind, 'response');
    if (r.kind === 'response') t.equal(r.pdu.readUInt16BE(2), 2, 'next got its own answer, not the late one');
    t.not(tids[1], tids[0], 'a different upstream tid');
    t.equal(p.stats().lateReserved, 0);
    t.equal(plc.accepted(), 1);
  },
);

t.test('a late reply that never comes: the connection is recycled after the grace period', async (t) => {
  let n = 0;
  const plc = await scriptedPlc((r, reply) => {
    if (n++ > 0) reply(r.tid, fc3Answer(9));
  });
  t.teardown(() => plc.close());
  // The request deadline and the late-reply grace (plc-connection.ts) both run on the pool's fake timers.
  const timers = new FakeTimers();
  const p = pool(plc.port, { timeoutMs: 150, lateReplyGraceMs: 20, timers });
  t.teardown(() => p.close());
  const stuck = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  await when(plc.events, 'request', () => n === 1);
  timers.advance(150);
  t.equal((await stuck).kind, 'timeout');
  const next = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  await timers.tick(19);
  t.equal(p.stats().queued, 1, 'the late slot is still reserved 1 ms before the grace ends: the next one waits');
  t.equal(plc.accepted(), 1, 'no second connection yet');
  timers.advance(1);
  const r = await next;
  t.equal(r.kind, 'response', 'served on a fresh connection once the stuck one was recycled');
  t.equal(plc.accepted(), 2);
});

t.test('broken framing from the PLC: in-flight request unavailable, next one on a new connection', async (t) => {
  let n = 0;
  const plc = await scriptedPlc((r, reply) => {
    if (n++ === 0)
      r.socket.write(Buffer.from([0, 1, 0, 7, 0, 3, 1, 3, 2, 0, 0])); // protocol id 7
    else reply(r.tid, fc3Answer(3));
  });
  t.teardown(() => plc.close());
  const p = pool(plc.port);
  t.teardown(() => p.close());
  const r1 = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(r1.kind, 'unavailable');
  if (r1.kind === 'unavailable') t.match(r1.reason, /not replayed.*malformed/);
  t.equal((await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false })).kind, 'response');
});

t.test('AbortSignal removes a queued request; a sent one still gets its real answer', async (t) => {
  const pending: (() => void)[] = [];
  const plc = await scriptedPlc((r, reply) => pending.push(() => reply(r.tid, fc3Answer(5))));
  t.teardown(() => plc.close());
  const p = pool(plc.port);
  t.teardown(() => p.close());
  const acSent = new AbortController();
  const acQueued = new AbortController();
  const sent = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false, signal: acSent.signal });
  const queued = p.submit({ clientKey: 'b', unitId: 1, pdu: readHolding(1), isWrite: false, signal: acQueued.signal });
  await when(plc.events, 'request', () => pending.length > 0);
  t.same(p.stats().byClient, { a: 1, b: 1 });
  acQueued.abort();
  acSent.abort();
  t.same(await queued, { kind: 'aborted' });
  t.equal(p.stats().queued, 0);
  pending.shift()?.();
  t.equal((await sent).kind, 'response', 'already sent: the outcome is reported, not dropped');
  t.equal(
    (await p.submit({ clientKey: 'c', unitId: 1, pdu: readHolding(0), isWrite: false, signal: AbortSignal.abort() }))
      .kind,
    'aborted',
  );
});

t.test(
  'dispatch re-checks the signal and stillAllowed right before the socket write, even if no abort event came',
  async (t) => {
    const pending: (() => void)[] = [];
    let received = 0;
    const plc = await scriptedPlc((r, reply) => {
      received++;
      pending.push(() => reply(r.tid, fc3Answer(5)));
    });
    t.teardown(() => plc.close());
    const p = pool(plc.port);
    t.teardown(() => p.close());
    const first = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
    // A signal whose abort event never fires: only the synchronous re-check in dispatch can stop it.
    const silent = { aborted: false, addEventListener() {}, removeEventListener() {} } as unknown as AbortSignal;
    const queued = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(1), isWrite: false, signal: silent });
    let locked = false;
    const vetoed = p.submit({
      clientKey: 'a',
      unitId: 1,
      pdu: readHolding(3),
      isWrite: false,
      stillAllowed: () => !locked,
    });
    const broken = p.submit({
      clientKey: 'a',
      unitId: 1,
      pdu: readHolding(4),
      isWrite: false,
      stillAllowed: () => {
        throw new Error('gate bug');
      },
    });
    await when(plc.events, 'request', () => pending.length > 0);
    (silent as { aborted: boolean }).aborted = true;
    locked = true; // e.g. a device lock created while it waited: the session is still open
    pending.shift()?.(); // frees the slot: dispatch would now send the queued one
    t.equal((await first).kind, 'response');
    t.same(await queued, { kind: 'aborted' });
    t.same(await vetoed, { kind: 'aborted' }, 'stillAllowed false: dropped unsent');
    t.same(await broken, { kind: 'aborted' }, 'a throwing gate fails closed');
    // A later request on the same connection: had the aborted one been written, the PLC would see it first.
    const later = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(2), isWrite: false });
    await when(plc.events, 'request', () => pending.length > 0);
    pending.shift()?.();
    t.equal((await later).kind, 'response');
    t.equal(received, 2, 'the aborted request never reached the PLC');
    t.equal(p.stats().queued, 0);
  },
);

t.test('close answers everything outstanding and later submits', async (t) => {
  const plc = await scriptedPlc(() => {});
  t.teardown(() => plc.close());
  const p = pool(plc.port);
  const a = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  const b = p.submit({ clientKey: 'b', unitId: 1, pdu: readHolding(0), isWrite: false });
  await when(plc.events, 'request', () => p.stats().inFlight > 0);
  await p.close();
  t.equal((await a).kind, 'unavailable');
  t.equal((await b).kind, 'unavailable');
  t.equal((await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false })).kind, 'unavailable');
  t.same(p.stats().byClient, {});
});
