/**
 * Row 4's latency aims judged on alternating rounds (bench/paired-latency.ts, bench/latency-rows.ts): the three
 * paths take turns in the documented order at both rates, each aim's quantity is taken per round and judged on
 * the median, and a round window the host stole from, or one that fell behind its rate, fails the aim.
 */
import t from 'tap';
import type { DataPathOptions, LatencyWindow, PathResult } from '../../bench/data-path.js';
import { latencyRows } from '../../bench/latency-rows.js';
import type { RunResult } from '../../bench/load-generator.js';
import {
  latencyMargins,
  latencyOrder,
  measurePairedLatency,
  type LatencyRound,
  type PairedLatency,
} from '../../bench/paired-latency.js';
import { turnServers } from '../helpers/turn-servers.js';

const O: DataPathOptions = {
  connections: 4,
  depthConnections: 2,
  rate: 1000,
  highRate: 5000,
  depth: 1,
  pacedMs: 1,
  latencyWarmupMs: 0,
  closedMs: 1,
  warmupMs: 0,
};

t.test('the three paths take turns: direct, haproxy, verigate, then the reverse, at each rate', async (t) => {
  const s = await turnServers(['direct', 'ref', 'target']);
  t.teardown(() => s.close());
  const [direct, ref, target] = s.ports.map((port) => ({ port, tls: null }));
  const o = { ...O, rate: 200, highRate: 400, pacedMs: 150, warmupMs: 20 };
  // the host's steal would measure a window again and add turns: the order is what is checked here
  const p = await measurePairedLatency({ direct: direct!, ref: ref!, target: target! }, o, 2, { limitPct: Infinity });
  t.equal(p.low.length, 2);
  t.equal(p.high.length, 2);
  const forward = ['direct', 'ref', 'target'];
  const back = ['target', 'ref', 'direct'];
  // round 1 starts with verigate, which ended round 0: one turn in `turns`
  t.same(s.turns, [...forward, ...forward, ...back.slice(1), ...back], 'round 0 at both rates, then round 1 reversed');
  for (const r of [...p.low, ...p.high])
    for (const side of forward) t.ok(r[side as 'direct'].completed > 0, `${side} served requests`);
  t.same(latencyOrder(2), forward);
  t.same(latencyOrder(3), back);
});

const run = (perSecond: number, p50Us: number, p99Us: number, extra: Partial<LatencyWindow> = {}): LatencyWindow => ({
  completed: perSecond,
  failed: 0,
  seconds: 1,
  perSecond,
  p50Us,
  p99Us,
  ...extra,
});
const round = (rate: number, d: [number, number], h: [number, number], g: [number, number]): LatencyRound => ({
  direct: run(rate, ...d),
  ref: run(rate, ...h),
  target: run(rate, ...g),
});

/**
 * Three rounds; verigate's p50 over haproxy's 30, 15, 120 µs (median 30, where the difference of the two medians
 * would be 35), its added p99 300, 420, 900 (median 420).
 */
const rounds: PairedLatency = {
  low: [
    round(1000, [100, 300], [180, 500], [210, 600]),
    round(1000, [110, 320], [200, 520], [215, 740]),
    round(1000, [90, 280], [160, 480], [280, 1180]),
  ],
  high: [round(5000, [0, 700], [0, 900], [0, 1500]), round(5000, [0, 800], [0, 950], [0, 2000])],
};

t.test('each aim is judged on the median of its quantity per round', async (t) => {
  const m = latencyMargins(rounds);
  t.same(m.p50OverRef, { median: 30, min: 15, max: 120 });
  t.same(m.refAddedP50, { median: 80, min: 70, max: 90 });
  t.same(m.addedP99, { median: 420, min: 300, max: 900 });
  t.same(m.addedP99High, { median: 1000, min: 800, max: 1200 });
  t.same(m.refAddedP99High, { median: 175, min: 150, max: 200 });
});

const seqRun = (rate: number, p50: number, p99: number): RunResult => run(rate, p50, p99);
const path = (p50: number, p99: number, p99High: number): PathResult => ({
  paced: seqRun(1000, p50, p99),
  pacedHigh: seqRun(5000, 0, p99High),
  closed1: seqRun(1, 0, 0),
  closedN: seqRun(1, 0, 0),
});
// sequentially verigate misses the p50 aim by far (+300 µs over haproxy): the rounds decide, this is context
const [direct, haproxy, gateway] = [path(100, 300, 700), path(150, 500, 900), path(500, 700, 1500)];

const verdicts = (p: PairedLatency | string | undefined) => {
  const rows = latencyRows(gateway, O, direct, haproxy, '', p);
  const find = (s: string) => rows.find((r) => r.what.includes(s));
  return { rows, low: find('p50 / p99 @ 1000')!, high: find('p99 @ 5000')!, context: find('sequential run') };
};

t.test('rows: the rounds judge the aims; the sequential windows stay as context', async (t) => {
  const v = verdicts(rounds);
  t.equal(v.low.met, true, 'p50 +30 µs over haproxy ≤ 50, p99 +420 ≤ 500');
  t.match(v.low.what, /median of 3 alternating rounds with direct and haproxy/);
  t.match(v.low.value, /^p50 \+0\.030 ms vs haproxy \(rounds \+0\.015 ms to \+0\.120 ms\) \/ p99 \+0\.420 ms/);
  t.match(v.low.baseline, /haproxy added p50 \+0\.080 ms/);
  t.equal(v.high.met, true, 'p99 +1000 µs ≤ 1000 at 5,000 req/s');
  t.ok(v.context, 'the sequential run is a row of its own');
  t.equal(v.context!.met, undefined, 'with no verdict');
  t.equal(v.context!.aim, undefined);
  t.match(v.context!.value, /^\+0\.400 ms \/ \+0\.400 ms; \+0\.800 ms \(0\.500 ms \/ 0\.700 ms; 1\.500 ms\)/);
});

t.test('rows: a median over the aim, a window that fell behind or a stolen one is not met', async (t) => {
  const slower: PairedLatency = {
    ...rounds,
    low: rounds.low.map((r) => ({ ...r, target: { ...r.target, p50Us: r.target.p50Us + 25 } })),
  };
  t.equal(verdicts(slower).low.met, false, 'p50 +55 µs over haproxy: the median is over the 50 µs margin');
  const behind: PairedLatency = {
    ...rounds,
    high: [rounds.high[0]!, { ...rounds.high[1]!, target: { ...rounds.high[1]!.target, perSecond: 4000 } }],
  };
  t.equal(verdicts(behind).high.met, false, 'one verigate window served 4,000 of 5,000 req/s');
  t.match(verdicts(behind).high.value, /; not served in full: verigate r1 4,000\/s$/);
  t.equal(verdicts(behind).low.met, true, 'the other rate is judged on its own');
  // a haproxy window that served nothing: no percentile, and a slow reference would flatter verigate anyway
  const dead: PairedLatency = {
    ...rounds,
    low: [
      { ...rounds.low[0]!, ref: { ...rounds.low[0]!.ref, perSecond: 0, completed: 0, failed: 8, p50Us: NaN } },
      ...rounds.low.slice(1),
    ],
  };
  t.same(latencyMargins(dead).p50OverRef, { median: NaN, min: NaN, max: NaN }, 'no median over a missing figure');
  t.equal(verdicts(dead).low.met, false);
  t.match(verdicts(dead).low.value, /; not served in full: haproxy r0 0\/s, 8 failed$/);
  const stolen: PairedLatency = {
    ...rounds,
    low: [
      rounds.low[0]!,
      { ...rounds.low[1]!, ref: { ...rounds.low[1]!.ref, stealPct: 3, discardedSteal: [9, 12, 4] } },
    ],
  };
  const v = verdicts(stolen);
  t.equal(v.low.met, false, "haproxy's window in round 1 was kept at 3 % steal");
  t.match(v.low.aim, /not met: steal over 0\.5 % in the kept window \(haproxy r1 3\.0 %\)$/);
  t.match(v.low.value, /; steal ≤ 3\.0 % \(3 discarded: 9\.0, 12\.0, 4\.0\)$/);
});

t.test('rows: without rounds the sequential windows judge the aims; failed rounds say why', async (t) => {
  for (const p of [undefined, 'failed: connect ECONNREFUSED', { low: [], high: [] }]) {
    const v = verdicts(p);
    t.equal(v.low.met, false, 'sequentially +300 µs over haproxy');
    t.equal(v.context, undefined);
    t.equal(
      v.rows.some((r) => r.value === 'failed: connect ECONNREFUSED'),
      typeof p === 'string',
    );
  }
});

t.test("rows: without the direct path's sequential run the rounds still judge the aims", async (t) => {
  const rows = latencyRows(gateway, O, null, haproxy, '', rounds);
  t.same(
    rows.map((r) => r.met),
    [true, true],
    'both aims from the rounds, no context row',
  );
  t.same(latencyRows(gateway, O, null, haproxy, '', undefined), [], 'nothing to judge on');
});
