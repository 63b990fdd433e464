/**
 * The one time seam (gateway/timers.ts): the fake implementation tests use, and a stateful module (the trust
 * runtime's housekeeping tick) that arms its timer through it instead of the global setInterval.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ExponentialBackoff, LinearBackoff, type Backoff } from '../../gateway/backoff.js';
import { systemTimers, unrefTimer } from '../../gateway/timers.js';
import type { CompiledPolicy } from '../../gateway/policy/compiled-policy.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import { FakeTimers } from '../helpers/fake-timers.js';

t.test(
  'FakeTimers: timeouts and intervals fire in time order only when advanced; clearTimeout cancels both',
  async (t) => {
    const timers = new FakeTimers(1000);
    const fired: string[] = [];
    timers.setTimeout(() => fired.push(`t50@${timers.now()}`), 50);
    const every = timers.setInterval(() => fired.push(`i30@${timers.now()}`), 30);
    const never = timers.setTimeout(() => fired.push('never'), 10);
    timers.clearTimeout(never);
    t.same(fired, [], 'nothing fires without advance');
    t.same(timers.delays(), [30, 50]);
    timers.advance(100);
    t.same(fired, ['i30@1030', 't50@1050', 'i30@1060', 'i30@1090']);
    t.equal(timers.now(), 1100);
    timers.clearTimeout(every);
    timers.advance(1000);
    t.equal(fired.length, 4, 'a cleared interval stops');
    t.equal(timers.pending, 0);
  },
);

t.test('systemTimers: real timers; unrefTimer is a no-op on fake handles', async (t) => {
  const h = systemTimers.setTimeout(() => t.fail('cleared'), 5);
  t.equal(unrefTimer(h), h);
  systemTimers.clearTimeout(h);
  systemTimers.clearTimeout(undefined);
  t.equal(unrefTimer(42), 42);
  t.ok(Math.abs(systemTimers.now() - Date.now()) < 1000, 'epoch milliseconds');
});

t.test('one Backoff interface, two strategies; attempts are counted and reset', async (t) => {
  const strategies: Backoff[] = [
    new LinearBackoff({ initialMs: 10, maxMs: 25 }),
    new ExponentialBackoff({ initialMs: 10, maxMs: 25 }, () => 1),
  ];
  const seqs = strategies.map((b) => [b.next(), b.next(), b.next()]);
  t.same(seqs, [
    [10, 20, 25],
    [10, 20, 25],
  ]);
  t.same(
    strategies.map((b) => b.attempts),
    [3, 3],
  );
  for (const b of strategies) b.reset();
  t.same(
    strategies.map((b) => b.attempts),
    [0, 0],
  );
});

t.test('the trust runtime arms its housekeeping through the injected timers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-timers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const timers = new FakeTimers(Date.now());
  const sessions = { all: () => [], countFor: () => 0, endMatching: () => 0 };
  const policy = {} as CompiledPolicy; // the tick below is counted, never run
  const rt = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions,
    audit: { append: () => ({ ok: true, seq: 1 }) },
    timers,
    tickMs: 1000,
  });
  let ticks = 0;
  rt.tick = () => void ticks++;
  t.equal(timers.pending, 1, 'one interval armed on the fake timers');
  timers.advance(999);
  t.equal(ticks, 0);
  timers.advance(2001);
  t.equal(ticks, 3, 'one tick per second of fake time');
  rt.close();
  t.equal(timers.pending, 0, 'close clears it');
  timers.advance(5000);
  t.equal(ticks, 3);
});
