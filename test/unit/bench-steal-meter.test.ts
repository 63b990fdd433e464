/**
 * The bench's steal meter (bench/steal-meter.ts): the hypervisor's steal read from /proc/stat over a window, and
 * the rule that measures a window again while steal was high, keeping the one with the least.
 */
import t from 'tap';
import {
  leastSteal,
  pairsStealNote,
  parseCpuTicks,
  readCpuTicks,
  startStealWindow,
  stealNote,
  uncleared,
  STEAL_LIMIT_PCT,
  STEAL_PAUSE_MS,
  PAIR_STEAL_LIMIT_PCT,
  STEAL_TRIES,
} from '../../bench/steal-meter.js';
import { alternate } from '../../bench/paired-throughput.js';

// user nice system idle iowait irq softirq steal guest guest_nice [proc(5)]
const stat = (idle: number, steal: number, user = 1000): string =>
  `cpu  ${user} 0 200 ${idle} 10 0 5 ${steal} 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1 2 3\n`;

t.test('reads the aggregate cpu line: every state summed, steal its eighth column', async (t) => {
  t.same(parseCpuTicks(stat(5000, 40)), { total: 1000 + 200 + 5000 + 10 + 5 + 40, steal: 40 });
  t.equal(parseCpuTicks('cpu  1 2 3 4 5 6 7\n'), null, 'a kernel without the steal column');
  t.equal(parseCpuTicks('intr 1 2\n'), null, 'no cpu line');
  t.equal(parseCpuTicks('cpu  1 2 x 4 5 6 7 8\n'), null, 'not numbers');
  t.equal(
    readCpuTicks(() => {
      throw new Error('ENOENT');
    }),
    null,
    'no /proc: no reading',
  );
  const real = readCpuTicks();
  t.ok(real !== null && real.total > 0 && real.steal >= 0, 'this machine has a reading');
});

t.test('a window is the steal between its two readings, in % of all CPU time in it', async (t) => {
  const readings = [stat(5000, 40), stat(5700, 340, 1000)]; // +700 idle, +300 steal: 30 %
  const end = startStealWindow(() => readings.shift()!);
  t.equal(end(), 30);
  const same = stat(5000, 40);
  t.equal(startStealWindow(() => same)(), undefined, 'no time passed: no figure');
  const gone = startStealWindow(() => {
    throw new Error('EACCES');
  });
  t.equal(gone(), undefined);
});

t.test('leastSteal measures again while steal is over the limit and keeps the least', async (t) => {
  const runs = (steals: (number | undefined)[]) => {
    let i = 0;
    return () => Promise.resolve({ n: i, stealPct: steals[i++] });
  };
  const calm = await leastSteal(runs([0.5, 30]), { pauseMs: 0 });
  t.same(calm, { n: 0, stealPct: 0.5, discardedSteal: [] }, 'under the limit: measured once');
  const burst = await leastSteal(runs([30, 12, 0.4, 0]), { pauseMs: 0 });
  t.same(burst, { n: 2, stealPct: 0.4, discardedSteal: [30, 12] }, 'stops at the first window under the limit');
  const stuck = await leastSteal(runs([30, 8, 19, 5, 0]), { pauseMs: 0 });
  t.same(stuck, { n: 3, stealPct: 5, discardedSteal: [30, 8, 19] }, `${STEAL_TRIES} tries at most, the least kept`);
  t.equal(STEAL_TRIES, 4);
  const blind = await leastSteal(runs([undefined, 1]), { pauseMs: 0 });
  t.same(blind, { n: 0, stealPct: undefined, discardedSteal: [] }, 'no reading: kept as measured');
  let k = 0;
  const failing = [
    { stealPct: 30, failed: 2 },
    { stealPct: 0, failed: 1 },
  ];
  const summed = await leastSteal(() => Promise.resolve(failing[k++]!), { pauseMs: 0 });
  t.equal(summed.failed, 3, 'failures of a discarded try still count');
  t.equal(summed.stealPct, 0);
  const t0 = performance.now();
  const strict = await leastSteal(runs([1, 0.2]), { limitPct: 0.5, tries: 2, pauseMs: 60 });
  t.equal(strict.n, 1, 'the limit and the tries are options');
  t.ok(performance.now() - t0 >= 55, 'a window is measured again only after the pause (a burst may pass)');
  t.ok(STEAL_PAUSE_MS >= 1000);
  t.ok(STEAL_LIMIT_PCT > 0 && STEAL_LIMIT_PCT <= 0.5, 'a few ticks of 3 s on 2 vCPUs: one burst decides a p99');
});

t.test('a pair with steal on either side is measured again, both sides, in the same order', async (t) => {
  const calls: string[] = [];
  const steals = [0, 25, 0, 0, 0, 0]; // the first pair's second run had 25 %
  const r = await alternate(
    2,
    async (side) => {
      calls.push(side);
      return { perSecond: calls.length, failed: 0, stealPct: steals[calls.length - 1] };
    },
    { pauseMs: 0 },
  );
  t.same(calls, ['ref', 'target', 'ref', 'target', 'target', 'ref'], 'round 0 twice (ABBA kept), then round 1');
  t.same(r.ref, [3, 6], 'round 0 keeps its second pair');
  t.same(r.target, [4, 5]);
  t.same(r.steal, [0, 0]);
  t.same(r.discardedSteal, [25]);
  let runs = 0;
  const mild = await alternate(1, async () => ({ perSecond: ++runs, failed: 0, stealPct: PAIR_STEAL_LIMIT_PCT }), {
    pauseMs: 0,
  });
  t.equal(runs, 2, `a pair with ${PAIR_STEAL_LIMIT_PCT} % (a latency window's limit is lower) is kept`);
  t.same(mild.discardedSteal, []);
});

t.test('notes: what was kept and what was measured again', async (t) => {
  t.equal(
    stealNote([{ stealPct: 0.31 }, { stealPct: 0.5, discardedSteal: [18.2, 24] }]),
    '; steal 0.3 / 0.5 (2 discarded: 18.2, 24.0) %',
  );
  t.equal(stealNote([{}, {}]), '', 'no readings: nothing said');
  t.equal(stealNote([{ stealPct: 1 }, {}]), '; steal 1.0 / – %');
  t.equal(pairsStealNote({ steal: [0.2, 1.24, NaN], discardedSteal: [31] }), '; steal ≤ 1.2 % (1 discarded: 31.0)');
  t.equal(pairsStealNote({ steal: [NaN] }), '');
  t.equal(pairsStealNote({}), '');
  t.equal(uncleared({ direct: { stealPct: 0.2 }, haproxy: undefined, verigate: {} }), '', 'clean or no reading');
  t.equal(
    uncleared({ direct: { stealPct: 0.7 }, haproxy: { stealPct: 20.6 }, verigate: { stealPct: 0.1 } }),
    ' — not met: steal over 0.5 % in the kept window (direct 0.7 %, haproxy 20.6 %)',
  );
});
