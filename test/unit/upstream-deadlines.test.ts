/**
 * The pool's deadlines under one timer (gateway/upstream/deadline-list.ts) on fake timers, and the regression
 * guard of issue 11 for the pool's per-request work, counted, not timed: N pipelined requests arm a handful of
 * timers, not N, and add no abort listener when they go straight onto a connection; a request that waits in
 * the queue still gets its listener (dropped in the same turn as the abort) and still times out on time.
 */
import t from 'tap';
import { DeadlineList, type Deadlined } from '../../gateway/upstream/deadline-list.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import type { TimerHandle } from '../../gateway/timers.js';
import type { UpstreamResult } from '../../gateway/upstream/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { fakeTransport } from '../helpers/fake-upstream.js';

interface Item extends Deadlined<Item> {
  readonly name: string;
}
const item = (name: string, deadline: number): Item => ({ name, deadline, earlier: null, later: null, listed: false });

/** Fake timers that count what is armed. */
class CountingTimers extends FakeTimers {
  armedCount = 0;
  override setTimeout(fn: () => void, ms: number): TimerHandle {
    this.armedCount++;
    return super.setTimeout(fn, ms);
  }
}

t.test('deadline list: expiry in deadline order, on time, one timer at a time', async (t) => {
  const timers = new CountingTimers();
  const expired: string[] = [];
  const list = new DeadlineList<Item>(timers, (i) => expired.push(`${i.name}@${timers.now()}`));
  const a = item('a', 100);
  const b = item('b', 110);
  const c = item('c', 105); // out of order: placed before b
  list.add(a);
  list.add(b);
  list.add(c);
  t.equal(timers.pending, 1, 'one timer for three deadlines');
  list.remove(a); // the head settles early: the timer stays, fires at 100 with nothing due, re-arms for c
  list.remove(a);
  timers.advance(100);
  t.same(expired, []);
  t.equal(timers.pending, 1);
  timers.advance(5);
  t.same(expired, ['c@105']);
  timers.advance(5);
  t.same(expired, ['c@105', 'b@110']);
  t.equal(timers.pending, 0, 'fired with the list empty: not re-armed');
  t.equal(timers.armedCount, 3, 'armed for a, re-armed for c, then for b: one per due moment');
});

t.test('deadline list: emptied, the timer stays armed, fires once with nothing due, and is not re-armed', async (t) => {
  const timers = new CountingTimers();
  const list = new DeadlineList<Item>(timers, () => t.fail('nothing expires'));
  const a = item('a', 50);
  list.add(a);
  list.remove(a);
  t.equal(timers.pending, 1, 'left armed: the next add needs no new timer');
  timers.advance(100);
  t.equal(timers.pending, 0);
  t.equal(timers.armedCount, 1);
});

t.test('deadline list: an item added after the list emptied still expires on time', async (t) => {
  const timers = new CountingTimers();
  const expired: string[] = [];
  const list = new DeadlineList<Item>(timers, (i) => expired.push(`${i.name}@${timers.now()}`));
  const a = item('a', 50);
  list.add(a);
  list.remove(a);
  list.add(item('b', 80)); // the timer armed for a carries b: it fires at 50, finds nothing due, re-arms for 80
  t.equal(timers.armedCount, 1, 'no new timer for b');
  timers.advance(50);
  t.same(expired, []);
  timers.advance(30);
  t.same(expired, ['b@80']);
  t.equal(timers.armedCount, 2);
});

t.test('deadline list: close() clears the timer', async (t) => {
  const timers = new CountingTimers();
  const list = new DeadlineList<Item>(timers, () => t.fail('nothing expires'));
  const a = item('a', 50);
  list.add(a);
  list.remove(a);
  list.close();
  t.equal(timers.pending, 0);
  timers.advance(100);
});

/** An AbortSignal that counts its listeners. */
function countingSignal(): { signal: AbortSignal; abort(): void; added: () => number } {
  const ac = new AbortController();
  let added = 0;
  const real = ac.signal.addEventListener.bind(ac.signal);
  ac.signal.addEventListener = (...args: Parameters<typeof real>) => {
    added++;
    real(...args);
  };
  return { signal: ac.signal, abort: () => ac.abort(), added: () => added };
}

const N = 64;
const read = (signal: AbortSignal) => ({
  clientKey: 'spiffe://plant.example/historian/1',
  unitId: 1,
  pdu: Buffer.from([3, 0, 0, 0, 1]),
  isWrite: false,
  signal,
});

/** A pool on a fake transport (`maxInFlight` slots per link) and counting fake timers, 1 s budget; closed at teardown. */
function countedPool(
  t: { teardown(fn: () => unknown): void },
  o: { maxConnections: number; maxInFlight: number; queueLimit: number },
) {
  const timers = new CountingTimers();
  const fake = fakeTransport(o.maxInFlight);
  const pool = new DevicePool({ name: 'plc', transport: fake.transport, timeoutMs: 1000, timers, ...o });
  t.teardown(() => pool.close());
  return { timers, fake, pool };
}

const settled = (p: Promise<UpstreamResult>[]): Promise<string[]> => Promise.all(p).then((r) => r.map((x) => x.kind));
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test(`${N} pipelined requests with free slots: at most 2 timers, no abort listener (not ${N} of each)`, async (t) => {
  const { timers, fake, pool } = countedPool(t, { maxConnections: N / 16, maxInFlight: 16, queueLimit: N });
  const s = countingSignal();
  const warm = Array.from({ length: N }, () => pool.submit(read(s.signal))); // opens the links, one after the other
  for (let i = 0; i < N / 16; i++) await turn();
  t.equal(pool.stats().connections, N / 16, 'warm: every link open');
  fake.answerAll();
  await settled(warm);
  fake.sent.length = 0;
  const armedBefore = timers.armedCount;
  const listenersBefore = s.added();
  const results: Promise<UpstreamResult>[] = [];
  for (let i = 0; i < N; i++) {
    results.push(pool.submit(read(s.signal)));
    timers.advance(1); // each a millisecond later: N different deadlines
  }
  t.equal(fake.sent.length, N, 'all sent at once');
  fake.answerAll();
  t.same(await settled(results), Array<string>(N).fill('response'));
  t.ok(timers.armedCount - armedBefore <= 2, `${timers.armedCount - armedBefore} timers armed for ${N} requests`);
  t.equal(s.added() - listenersBefore, 0, 'no abort listener for a request that was sent at once');
  timers.advance(1000);
  t.equal(timers.pending, 0, 'nothing outstanding: the timer left armed fired once and stopped');
});

t.test(`${N} requests one at a time (a paced poller): one timer per budget, not ${N}`, async (t) => {
  const { timers, fake, pool } = countedPool(t, { maxConnections: 1, maxInFlight: 1, queueLimit: 4 });
  const s = countingSignal();
  const warm = pool.submit(read(s.signal));
  await turn();
  fake.answerAll();
  await warm;
  const armedBefore = timers.armedCount;
  for (let i = 0; i < N; i++) {
    const r = pool.submit(read(s.signal));
    fake.answerAll(); // answered before the next is sent: the list empties after every request
    t.equal((await r).kind, 'response');
    timers.advance(5); // 5 ms apart: N × 5 ms < the 1 s budget
  }
  t.equal(timers.armedCount - armedBefore, 0, 'the timer armed for the first request carries every later one');
  timers.advance(1000);
  t.equal(timers.pending, 0, 'fired once with nothing due, not re-armed');
});

t.test(
  'queued requests: one listener each, aborted in the same turn; timeouts on time for sent and queued',
  async (t) => {
    const { timers, fake, pool } = countedPool(t, { maxConnections: 1, maxInFlight: 2, queueLimit: 16 });
    const s = countingSignal();
    const other = countingSignal();
    const first = pool.submit(read(s.signal));
    await turn();
    fake.answerAll();
    await first;
    const listenersBefore = s.added();
    const sent = [pool.submit(read(s.signal)), pool.submit(read(s.signal))];
    const queued = pool.submit(read(s.signal));
    timers.advance(10);
    const queuedOther = pool.submit(read(other.signal));
    t.equal(s.added() - listenersBefore, 1, 'a listener only for the request left waiting');
    t.equal(other.added(), 1);
    s.abort();
    t.equal(pool.stats().queued, 1, 'dropped in the same turn as the abort');
    t.equal((await queued).kind, 'aborted');
    timers.advance(989);
    t.equal(fake.sent.length, 3, 'the first and the two in flight');
    timers.advance(1); // t = 1000 after the first two: they time out (sent: aborting changed nothing)
    t.same(await settled(sent), ['timeout', 'timeout']);
    t.same(await sent[0], { kind: 'timeout', sent: true }, 'on the wire: may have executed');
    timers.advance(10); // the other one waited its whole budget: timeout (a connection is open)
    t.same(await queuedOther, { kind: 'timeout' }, 'never left the queue: no `sent`');
  },
);
