/**
 * Which open connection the pool puts a request on (device-pool.ts, through pick-link.ts), on fake links whose
 * pending write the test ends: one turn's requests stay on the connection that already has a write pending while it
 * has room, then the roomiest; across turns the roomiest wins, so light load still uses every connection.
 * A link that does not report `batching` (an RTU line) always gets the roomiest rule.
 */
import t, { type Test } from 'tap';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import type { UpstreamResult } from '../../gateway/upstream/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { fakeTransport } from '../helpers/fake-upstream.js';

const read = (clientKey: string) => ({ clientKey, unitId: 1, pdu: Buffer.from([3, 0, 0, 0, 1]), isWrite: false });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A pool over `links` fake links of `slots` each, all opened (by one burst that fills them) and idle again. */
async function warmPool(t: Test, links: number, slots: number, reportsBatching = true) {
  const fake = fakeTransport(slots, reportsBatching);
  const pool = new DevicePool({
    name: 'plc',
    transport: fake.transport,
    maxConnections: links,
    maxInFlight: slots,
    timeoutMs: 1000,
    queueLimit: 1024,
    timers: new FakeTimers(),
  });
  t.teardown(() => pool.close());
  const warm = Array.from({ length: links * slots }, (_, i) => pool.submit(read(`c${i % 4}`)));
  for (let i = 0; i < links; i++) await turn(); // the links open one after the other
  t.equal(pool.stats().connections, links, 'warm: every link open');
  fake.answerAll();
  fake.endTurn();
  await Promise.all(warm);
  fake.sentOn.length = 0;
  return { pool, fake };
}

t.test('one turn: requests stay on the connection with a pending write until it is full', async (t) => {
  const { pool, fake } = await warmPool(t, 3, 4);
  const rs: Promise<UpstreamResult>[] = [];
  for (let i = 0; i < 6; i++) rs.push(pool.submit(read(`c${i % 3}`)));
  t.same(fake.sentOn, [1, 1, 1, 1, 2, 2], 'four on the first (full), then the roomiest; spread would be 1,2,3,1,2,3');
  fake.endTurn();
  fake.answerAll();
  t.same(
    (await Promise.all(rs)).map((r) => r.kind),
    Array<string>(6).fill('response'),
  );
});

t.test('across turns: the roomiest connection, so light load is spread, not packed', async (t) => {
  const { pool, fake } = await warmPool(t, 3, 4);
  const rs: Promise<UpstreamResult>[] = [];
  for (let i = 0; i < 3; i++) {
    rs.push(pool.submit(read('c0'))); // one request per turn, each still in flight when the next comes
    fake.endTurn();
  }
  t.same(fake.sentOn, [1, 2, 3], 'each turn on the connection with the most free slots');
  rs.push(pool.submit(read('c1')), pool.submit(read('c2')));
  t.same(fake.sentOn, [1, 2, 3, 1, 1], 'the next turn: the roomiest (ties: the first), then stays on it');
  fake.endTurn();
  fake.answerAll();
  t.equal((await Promise.all(rs)).filter((r) => r.kind === 'response').length, 5);
});

t.test('a freed slot on the batching connection is reused within the turn before moving on', async (t) => {
  const { pool, fake } = await warmPool(t, 2, 2);
  const a = [pool.submit(read('c0')), pool.submit(read('c1'))];
  t.same(fake.sentOn, [1, 1]);
  fake.endTurn();
  const b = pool.submit(read('c2')); // next turn: link 2 is the roomiest
  t.same(fake.sentOn, [1, 1, 2]);
  // link 1 answers in the same turn: link 2 still has its write pending and room, so it keeps the turn's work
  fake.answerAll([fake.links[0]!]);
  const c = pool.submit(read('c3'));
  t.same(fake.sentOn, [1, 1, 2, 2], 'joined the pending write on link 2');
  fake.endTurn();
  fake.answerAll();
  t.equal((await Promise.all([...a, b, c])).filter((r) => r.kind === 'response').length, 4);
});

t.test('a link that reports no pending write (an RTU line): always the roomiest', async (t) => {
  const { pool, fake } = await warmPool(t, 3, 4, false);
  const rs = Array.from({ length: 6 }, (_, i) => pool.submit(read(`c${i % 3}`)));
  t.same(fake.sentOn, [1, 2, 3, 1, 2, 3]);
  fake.answerAll();
  t.equal((await Promise.all(rs)).filter((r) => r.kind === 'response').length, 6);
});

t.test('limits hold: never more than maxInFlight on a link; the rest queues and goes out as slots free', async (t) => {
  const { pool, fake } = await warmPool(t, 2, 3);
  const rs = Array.from({ length: 8 }, (_, i) => pool.submit(read(`c${i % 2}`)));
  t.same(fake.sentOn, [1, 1, 1, 2, 2, 2], 'both links full');
  t.equal(pool.stats().queued, 2);
  t.ok(
    fake.links.every((l) => l.jobs.length <= 3),
    'per-link limit',
  );
  fake.endTurn();
  fake.answerAll(); // frees every slot: the two queued go out (one turn: together on the roomiest)
  t.same(fake.sentOn.slice(6), [1, 1]);
  fake.endTurn();
  fake.answerAll();
  t.equal((await Promise.all(rs)).filter((r) => r.kind === 'response').length, 8);
});
