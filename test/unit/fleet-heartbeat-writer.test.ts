/**
 * The control heartbeat (gateway/fleet/heartbeat-writer.ts) driven by fake timers: one beat at start and one
 * per interval to every site with `{ time, seq, by }`; a site whose put hangs (hub unreachable) is skipped, not
 * queued, and catches up once the put completes; stop() ends the ticks.
 */
import t from 'tap';
import { HeartbeatWriter, type Heartbeat } from '../../gateway/fleet/heartbeat-writer.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { flushIo } from '../helpers/eventually.js';

const BY = 'spiffe://plant.example/fleet/control';

t.test('one beat per interval to every site, seq counting up, time from the injected clock', async (t) => {
  const timers = new FakeTimers(Date.parse('2026-03-01T10:00:00Z'));
  const puts: { site: string; beat: Heartbeat }[] = [];
  const w = new HeartbeatWriter({
    sites: ['site-a', 'site-b'],
    by: BY,
    everyMs: 1000,
    timers,
    put: async (site, json) => void puts.push({ site, beat: JSON.parse(json) as Heartbeat }),
  });
  w.start();
  for (let i = 0; i < 2; i++) {
    await flushIo();
    timers.advance(1000);
  }
  await flushIo();
  t.equal(puts.length, 6, 'start + 2 ticks, 2 sites each');
  t.same(
    puts.filter((p) => p.site === 'site-b').map((p) => p.beat),
    [
      { time: '2026-03-01T10:00:00.000Z', seq: 1, by: BY },
      { time: '2026-03-01T10:00:01.000Z', seq: 2, by: BY },
      { time: '2026-03-01T10:00:02.000Z', seq: 3, by: BY },
    ],
  );
  await w.stop();
  timers.advance(5000);
  await flushIo();
  t.equal(puts.length, 6, 'no beat after stop');
  t.equal(timers.pending, 0, 'no timer left armed');
});

t.test('a hanging site is skipped (no queue), the others keep beating; it resumes once its put returns', async (t) => {
  const timers = new FakeTimers(0);
  const done: Record<string, number[]> = { a: [], b: [] };
  let release: (() => void) | null = null;
  let calls = 0;
  const w = new HeartbeatWriter({
    sites: ['a', 'b'],
    by: BY,
    everyMs: 1000,
    timers,
    put: (site, json) => {
      const seq = (JSON.parse(json) as Heartbeat).seq;
      if (site === 'b' && seq === 1) {
        calls += 1;
        return new Promise<void>((r) => (release = r)).then(() => void done.b?.push(seq));
      }
      if (site === 'b') calls += 1;
      done[site]?.push(seq);
      return Promise.resolve();
    },
  });
  w.start();
  for (let i = 0; i < 5; i++) {
    await flushIo();
    timers.advance(1000);
  }
  await flushIo();
  t.same(done.a, [1, 2, 3, 4, 5, 6], 'site a beat every tick');
  t.equal(calls, 1, 'site b got one put while it hung, not six');
  (release as unknown as () => void)();
  await flushIo();
  timers.advance(1000);
  await flushIo();
  t.same(done.b, [1, 7], 'b resumes with the current seq');
  await w.stop();
});

t.test('a failing put is retried on the next tick and logged once per outage', async (t) => {
  const timers = new FakeTimers(0);
  const warnings: string[] = [];
  let failing = true;
  const ok: number[] = [];
  const w = new HeartbeatWriter({
    sites: ['a'],
    by: BY,
    everyMs: 500,
    timers,
    put: async (_s, json) => {
      if (failing) throw new Error('no responders');
      ok.push((JSON.parse(json) as Heartbeat).seq);
    },
    logger: {
      debug: () => undefined,
      info: () => undefined,
      error: () => undefined,
      warn: (_o, msg) => void warnings.push(msg ?? ''),
    },
  });
  w.start();
  for (let i = 0; i < 4; i++) {
    timers.advance(500);
    await flushIo();
  }
  failing = false;
  timers.advance(500);
  await flushIo();
  t.equal(warnings.length, 1, 'one warning for the outage');
  t.same(ok, [6]);
  await w.stop();
});
