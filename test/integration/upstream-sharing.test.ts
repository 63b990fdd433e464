/**
 * Many clients sharing a PLC's few connections through DevicePool, against the real simulator:
 * correctness with a single allowed connection, fairness against a flooding client, the bounded queue,
 * lazy connection opening, and learning a PLC limit lower than configured. 127.0.0.1, port 0, bounded.
 */
import t, { type Test } from 'tap';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../simulators/simulator.js';
import type { Scenario } from '../../simulators/scenario.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import type { DevicePoolOptions, UpstreamResult } from '../../gateway/upstream/types.js';
import { when } from '../helpers/when.js';

const scenario: Scenario = {
  name: 'upstream-sharing',
  unknownUnit: 'exception',
  units: [
    { id: 1, tables: { coils: 16, discrete: 16, holding: 256, input: 16 }, init: { holding: { 0: [11, 22, 33] } } },
  ],
};
const readHolding = (addr: number) => Buffer.from([0x03, addr >> 8, addr & 0xff, 0, 1]);
const writeHolding = (addr: number, v: number) => Buffer.from([0x06, addr >> 8, addr & 0xff, v >> 8, v & 0xff]);

async function sim(t: Test, over: Partial<SimulatorOptions> = {}): Promise<Simulator> {
  const s = await startSimulator({ scenario, port: 0, scanDelayMs: 2, tickMs: 0, maxConnections: 1, ...over });
  t.teardown(() => s.close());
  return s;
}

function pool(t: Test, port: number, over: Partial<DevicePoolOptions> = {}): DevicePool {
  const p = new DevicePool({
    name: 'plc',
    host: '127.0.0.1',
    port,
    maxConnections: 1,
    maxInFlight: 1,
    timeoutMs: 15_000,
    queueLimit: 1000,
    ...over,
  });
  t.teardown(() => p.close());
  return p;
}

function value(r: UpstreamResult): number | string {
  return r.kind === 'response' ? r.pdu.readUInt16BE(2) : r.kind;
}

t.test('20 clients, a PLC that allows 1 connection: every write lands and every read-back is right', async (t) => {
  const s = await sim(t, { maxConnections: 1 });
  const p = pool(t, s.port);
  const clients = Array.from({ length: 20 }, (_, i) => i);
  const results = await Promise.all(
    clients.map(async (i) => {
      const key = `spiffe://plant.example/client/${i}`;
      const w = await p.submit({ clientKey: key, unitId: 1, pdu: writeHolding(100 + i, 1000 + i), isWrite: true });
      const r = await p.submit({ clientKey: key, unitId: 1, pdu: readHolding(100 + i), isWrite: false });
      return { w, r };
    }),
  );
  results.forEach(({ w, r }, i) => {
    t.equal(w.kind, 'response', `client ${i} write answered`);
    if (w.kind === 'response') t.same([...w.pdu], [...writeHolding(100 + i, 1000 + i)], `client ${i} write echo`);
    t.equal(value(r), 1000 + i, `client ${i} reads its own value`);
  });
  const c = s.counters();
  t.equal(c.connections.peak, 1, 'one connection to the PLC at most');
  t.equal(c.connections.refused, 0, 'never tried a second one');
  t.equal(c.byFc['6'], 20, 'each write sent once');
  t.same(p.stats(), { connections: 1, inFlight: 0, queued: 0, byClient: {}, lateReserved: 0, down: false });
});

t.test('fairness: one flood of 200 requests does not delay another client behind all of them', async (t) => {
  const s = await sim(t, { maxConnections: 1, scanDelayMs: 1 });
  const p = pool(t, s.port);
  let noisyDone = 0;
  const flood = Array.from({ length: 200 }, () =>
    p.submit({ clientKey: 'noisy', unitId: 1, pdu: readHolding(0), isWrite: false }).then((r) => {
      noisyDone++;
      return r;
    }),
  );
  t.equal(p.stats().byClient['noisy'], 200);
  let doneBeforeQuiet = -1;
  const quiet = p.submit({ clientKey: 'quiet', unitId: 1, pdu: readHolding(1), isWrite: false }).then((r) => {
    doneBeforeQuiet = noisyDone;
    return r;
  });
  t.equal(value(await quiet), 22);
  t.ok(doneBeforeQuiet >= 0 && doneBeforeQuiet <= 2, `quiet served after ${doneBeforeQuiet} of the flood, not 200`);
  const all = await Promise.all(flood);
  t.ok(
    all.every((r) => value(r) === 11),
    'the flood is served too, all correct',
  );
});

t.test("bounded queue: queue-full at once; a quiet client pushes out the flooder's newest", async (t) => {
  const s = await sim(t, { maxConnections: 1, scanDelayMs: 100 });
  const p = pool(t, s.port, { queueLimit: 5 });
  const submitNoisy = () => p.submit({ clientKey: 'noisy', unitId: 1, pdu: readHolding(0), isWrite: false });
  const noisy = [submitNoisy()];
  await when(s.events, 'request', () => p.stats().inFlight > 0); // it reached the PLC (100 ms scan ahead)
  for (let i = 0; i < 5; i++) noisy.push(submitNoisy());
  t.same(p.stats().queued, 5, 'one sent, five queued');
  t.same(await p.submit({ clientKey: 'noisy', unitId: 1, pdu: readHolding(0), isWrite: false }), {
    kind: 'queue-full',
  });
  const quiet = p.submit({ clientKey: 'quiet', unitId: 1, pdu: readHolding(2), isWrite: false });
  t.same(await noisy[5], { kind: 'queue-full' }, "the flooder's newest queued request made room");
  t.same(p.stats().byClient, { noisy: 5, quiet: 1 });
  t.equal(value(await quiet), 33);
  const rest = await Promise.all(noisy.slice(0, 5));
  t.ok(
    rest.every((r) => value(r) === 11),
    'the others are answered',
  );
  t.equal(s.counters().requests, 6, 'refused requests never reached the PLC');
});

t.test('connections open lazily and never beyond maxConnections; in-flight slots are used', async (t) => {
  const s = await sim(t, { maxConnections: 4, maxInFlight: 2, scanDelayMs: 20 });
  const p = pool(t, s.port, { maxConnections: 2, maxInFlight: 2 });
  t.equal(value(await p.submit({ clientKey: 'a', unitId: 1, pdu: readHolding(0), isWrite: false })), 11);
  t.equal(s.counters().connections.accepted, 1, 'one request, one connection');
  const burst = Array.from({ length: 40 }, (_, i) =>
    p.submit({ clientKey: `c${i % 4}`, unitId: 1, pdu: readHolding(i % 3), isWrite: false }),
  );
  t.ok(p.stats().inFlight <= 4, 'at most 2 connections × 2 in flight');
  const rs = await Promise.all(burst);
  rs.forEach((r, i) => t.equal(value(r), [11, 22, 33][i % 3], `request ${i}`));
  const c = s.counters();
  t.equal(c.connections.peak, 2, 'grew to the configured limit under load, no further');
  t.equal(p.stats().connections, 2);
});

t.test('configured above the PLC limit: the pool learns the real limit and keeps serving', async (t) => {
  const s = await sim(t, { maxConnections: 1, scanDelayMs: 5 });
  const p = pool(t, s.port, { maxConnections: 3, backoff: { initialMs: 20, maxMs: 100 } });
  const rs = await Promise.all(
    Array.from({ length: 30 }, (_, i) =>
      p.submit({ clientKey: `c${i % 3}`, unitId: 1, pdu: readHolding(0), isWrite: false }),
    ),
  );
  const ok = rs.filter((r) => value(r) === 11).length;
  const lost = rs.filter((r) => r.kind === 'unavailable' && /not replayed/.test(r.reason)).length;
  t.equal(ok + lost, 30, 'every request is either answered correctly or honestly unavailable');
  t.ok(lost <= 2, `at most the request(s) on the refused connection were lost (${lost})`);
  t.ok(s.counters().connections.refused >= 1, 'the PLC did refuse an extra connection');
  const after = await Promise.all(
    Array.from({ length: 10 }, () => p.submit({ clientKey: 'x', unitId: 1, pdu: readHolding(1), isWrite: false })),
  );
  t.ok(
    after.every((r) => value(r) === 22),
    'after learning, all answered',
  );
  t.equal(p.stats().connections, 1);
});
