/**
 * DevicePool against the real PLC simulator with faults: PLC down, silent, slow (timed-out write), dropping
 * the connection, restarting. Proves: right outcome kinds, recovery, and that nothing sent is ever resent
 * (simulator request and write counters). 127.0.0.1, port 0, bounded.
 * The pool's deadlines, late-reply grace and reconnect waits run on fake timers the test advances; what is awaited
 * is the socket I/O (on the simulator's counter events and the pool's timers being armed, never polled) and the
 * simulator's own (short, real) scan/slow/restart delays.
 */
import t, { type Test } from 'tap';
import { startSimulator, type Simulator } from '../../simulators/simulator.js';
import type { Scenario } from '../../simulators/scenario.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import { defaultDialer } from '../../gateway/upstream/default-dialer.js';
import type { DevicePoolOptions, PlcDialer, UpstreamResult } from '../../gateway/upstream/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { freePort } from '../helpers/free-port.js';
import { when } from '../helpers/when.js';

const scenario: Scenario = {
  name: 'upstream-faults',
  unknownUnit: 'exception',
  units: [
    { id: 1, tables: { coils: 16, discrete: 16, holding: 256, input: 16 }, init: { holding: { 0: [11, 22, 33] } } },
  ],
};
const readHolding = (addr: number) => Buffer.from([0x03, addr >> 8, addr & 0xff, 0, 1]);
const writeHolding = (addr: number, v: number) => Buffer.from([0x06, addr >> 8, addr & 0xff, v >> 8, v & 0xff]);

async function sim(t: Test, over: { scanDelayMs?: number; port?: number } = {}): Promise<Simulator> {
  const s = await startSimulator({
    scenario,
    port: over.port ?? 0,
    scanDelayMs: over.scanDelayMs ?? 2,
    tickMs: 0,
    maxConnections: 4,
  });
  t.teardown(() => s.close());
  return s;
}

/** A pool on fake timers (`random: 0` pins the backoff jitter to its floor, initialMs/2). */
function pool(t: Test, port: number, over: Partial<DevicePoolOptions> = {}): { p: DevicePool; timers: FakeTimers } {
  const timers = new FakeTimers();
  const p = new DevicePool({
    name: 'plc',
    host: '127.0.0.1',
    port,
    maxConnections: 1,
    maxInFlight: 1,
    timeoutMs: 1000,
    queueLimit: 100,
    backoff: { initialMs: 40, maxMs: 200 },
    timers,
    random: () => 0,
    ...over,
  });
  t.teardown(() => p.close());
  return { p, timers };
}

function value(r: UpstreamResult): number | string {
  return r.kind === 'response' ? r.pdu.readUInt16BE(2) : r.kind;
}

t.test('PLC down: unavailable without waiting out the timeout; fast fail while backing off', async (t) => {
  const port = await freePort();
  let dials = 0;
  const counting: PlcDialer = (h, p, s) => {
    dials++;
    return defaultDialer(h, p, s);
  };
  const { p, timers } = pool(t, port, {
    timeoutMs: 20_000,
    backoff: { initialMs: 600_000, maxMs: 600_000 },
    dialer: counting,
  });
  const r = await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(r.kind, 'unavailable', 'a 20 s timeout did not hold the request: the refused connect answered it');
  if (r.kind === 'unavailable') t.match(r.reason, /unreachable.*ECONNREFUSED/);
  t.equal(p.stats().down, true);
  const again = await p.submit({ clientKey: 'b', unitId: 1, pdu: readHolding(0), isWrite: false });
  t.equal(again.kind, 'unavailable');
  t.equal(dials, 1, 'no new connect attempt before the backoff elapsed');
  // the only timer is the first request's deadline (20 s), left armed and carrying nothing (deadline-list.ts)
  t.same(timers.delays(), [20_000], 'nothing queued, so no retry armed: only the idle deadline timer');
  timers.advance(300_000);
  t.equal(p.stats().down, false, 'the backoff (300 s, jitter floor) has elapsed');
});

t.test('PLC not up yet: a queued request waits for the reconnect within its timeout', async (t) => {
  const port = await freePort();
  const { p, timers } = pool(t, port, { timeoutMs: 5000, backoff: { initialMs: 40, maxMs: 150 } });
  const pending = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(1), isWrite: false });
  while (!p.stats().down) await timers.armed(); // the refused connect arms the retry
  t.same(timers.delays(), [20, 5000], 'the retry (jitter floor 20 ms) and the request deadline are armed');
  const s = await sim(t, { port });
  timers.advance(20);
  t.equal(value(await pending), 22, 'answered once the PLC came up');
  t.equal(s.counters().requests, 1);
  t.equal(p.stats().down, false);
});

t.test('PLC silent: timeout; after the fault clears the next request works', async (t) => {
  const s = await sim(t);
  // The late-reply grace (plc-connection.ts) runs on the pool's timers too: once it ends, the silent connection
  // is recycled and the next request goes out on a fresh one.
  const { p, timers } = pool(t, s.port, { timeoutMs: 1000, lateReplyGraceMs: 20 });
  t.equal(value(await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false })), 11, 'warm');
  s.setFault({ mode: 'silent' });
  const silent = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  await when(s.events, 'dropped', () => s.counters().dropped === 1);
  timers.advance(999);
  t.equal(p.stats().inFlight, 1, 'still waiting 1 ms before the deadline');
  timers.advance(1);
  t.equal((await silent).kind, 'timeout');
  s.setFault({ mode: 'none' });
  const next = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(2), isWrite: false });
  await timers.tick(19);
  t.equal(p.stats().queued, 1, 'waits while the late slot is reserved (1 ms before the grace ends)');
  timers.advance(1);
  t.equal(value(await next), 33, 'recovered');
  t.equal(s.counters().requests, 3, 'nothing was resent');
});

t.test('a timed-out write is applied at most once; the queue behind it is untouched', async (t) => {
  const s = await sim(t);
  const { p, timers } = pool(t, s.port, { timeoutMs: 1000, lateReplyGraceMs: 5000 });
  // The simulator answers 300 ms (real) late; the pool's 1000 ms deadline passes when the test says so, before that.
  s.setFault({ mode: 'slow', delayMs: 300 });
  const write = p.submit({ clientKey: 'hmi', unitId: 1, pdu: writeHolding(10, 1234), isWrite: true });
  await when(s.events, 'request', () => s.counters().requests === 1);
  s.setFault({ mode: 'none' }); // the write already got its slow delay; later requests are answered at once
  timers.advance(700); // queued before the write times out (1000 ms), deadline well after its late reply
  const queuedRead = p.submit({ clientKey: 'historian', unitId: 1, pdu: readHolding(1), isWrite: false });
  timers.advance(300);
  t.equal((await write).kind, 'timeout');
  t.equal(p.stats().queued, 1, 'the queued read was not flushed by the timeout');
  t.equal(value(await queuedRead), 22, 'served after the late reply freed the slot');
  const c = s.counters();
  t.equal(c.byFc['6'], 1, 'the write reached the PLC exactly once');
  t.equal(c.writes['holding:1:10'], 1, 'and was applied exactly once');
  t.equal(s.store(1).get('holding', 10), 1234);
  t.equal(p.stats().lateReserved, 0, 'late reply dropped, slot freed');
});

t.test('connection dropped after a write was sent: unavailable, never replayed, then recovery', async (t) => {
  const s = await sim(t);
  const { p } = pool(t, s.port);
  t.equal(value(await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false })), 11);
  s.setFault({ mode: 'close' });
  const r = await p.submit({ clientKey: 'hmi', unitId: 1, pdu: writeHolding(11, 77), isWrite: true });
  t.equal(r.kind, 'unavailable');
  if (r.kind === 'unavailable')
    t.match(r, { reason: /not replayed/, sent: true }, 'flagged as sent: the client gets 0x0B, not 0x0A');
  s.setFault({ mode: 'none' });
  t.equal(value(await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(2), isWrite: false })), 33, 'reconnected');
  const c = s.counters();
  t.equal(c.byFc['6'], 1, 'the write was sent once, not again on the new connection');
  t.equal(c.writes['holding:1:11'], undefined, 'the close fault executed nothing');
  t.equal(c.connections.accepted, 2);
});

t.test('PLC restart: the request in flight is unavailable, requests during the outage recover', async (t) => {
  const s = await sim(t, { scanDelayMs: 150 });
  const { p, timers } = pool(t, s.port, { timeoutMs: 5000 });
  t.equal(value(await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false })), 11);
  const inFlight = p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false });
  await when(s.events, 'request', () => s.counters().requests === 2);
  const restarting = s.restart(100);
  const r = await inFlight;
  t.equal(r.kind, 'unavailable', 'sent, then the PLC went away: not resent');
  const during = p.submit({ clientKey: 'b', unitId: 1, pdu: readHolding(2), isWrite: false });
  await restarting;
  // Back up: the pool's next attempt comes when its backoff elapses. An attempt is either in flight or armed:
  // fire the armed one (the backoff cap, 200 ms, never the 5 s deadline) and await its outcome — the answer, or
  // the next retry armed after a refused connect.
  let answered = false;
  void during.then(() => (answered = true));
  while (!answered) {
    const outcome = Promise.race([during, timers.armed()]);
    timers.advance(200);
    await outcome;
  }
  t.ok(timers.now() < 5000, 'within the request deadline');
  t.equal(value(await during), 33, 'waited for the reconnect and got its answer');
  t.equal(s.counters().restarts, 1);
});
