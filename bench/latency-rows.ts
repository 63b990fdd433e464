/**
 * Row 4's latency aims for verigate: added p50 / p99 at `rate` and added p99 at `highRate` ("added": the path's
 * percentile minus the direct path's). Judged on the alternating rounds (paired-latency.ts) when they ran, the
 * sequential windows then being context; otherwise on the sequential windows, and a row says why.
 */
import { AIMS } from './aims.js';
import type { DataPathOptions, LatencyWindow, PathResult } from './data-path.js';
import { latencyMargins, type PairedLatency, type Spread } from './paired-latency.js';
import { pairsStealNote, stealNote, uncleared } from './steal-meter.js';
import { ms, perSec, signedMs, type Row } from './table.js';
import { fails, served, short } from './window-notes.js';

const BASELINE = 'haproxy';
const NAME = 'verigate';

interface Added {
  readonly p50: number;
  readonly p99: number;
  readonly p99High: number;
}

export const added = (r: PathResult, d: PathResult): Added => ({
  p50: r.paced.p50Us - d.paced.p50Us,
  p99: r.paced.p99Us - d.paced.p99Us,
  p99High: r.pacedHigh.p99Us - d.pacedHigh.p99Us,
});

const p50Aim = `p50 ≤ ${BASELINE}'s added + ${ms(AIMS.addedP50OverHaproxyUs)}`;
const lowWhat = (o: DataPathOptions): string =>
  `${NAME}: added latency p50 / p99 @ ${o.rate} req/s (${o.depthConnections} conns, 1 in flight each)`;
const highWhat = (o: DataPathOptions): string =>
  `${NAME}: added latency p99 @ ${o.highRate} req/s (${o.connections} conns, 1 in flight each)`;

/** The aims judged on one sequential window per path (no rounds, or they failed). */
function sequentialRows(
  g: PathResult,
  o: DataPathOptions,
  direct: PathResult,
  ref: PathResult | null,
  refWhy: string,
): Row[] {
  const a = added(g, direct);
  const h = ref ? added(ref, direct) : null;
  const p50Limit = h ? h.p50 + AIMS.addedP50OverHaproxyUs : NaN;
  const dirty = uncleared({ direct: direct.paced, [BASELINE]: ref?.paced, verigate: g.paced });
  const dirtyHigh = uncleared({ direct: direct.pacedHigh, verigate: g.pacedHigh });
  return [
    {
      n: '4',
      what: lowWhat(o),
      value: `${signedMs(a.p50)} / ${signedMs(a.p99)} (${ms(g.paced.p50Us)} / ${ms(g.paced.p99Us)}${short(g.paced, o.rate, true)}${fails(g.paced)}${stealNote([g.paced])})`,
      baseline: h
        ? `direct ${ms(direct.paced.p50Us)} / ${ms(direct.paced.p99Us)}; ${BASELINE} added ${signedMs(h.p50)} / ${signedMs(h.p99)}`
        : `${BASELINE}: ${refWhy}`,
      ratio: h ? `p50 ${signedMs(a.p50 - h.p50)} vs ${BASELINE}` : '',
      aim: `${p50Aim}${h ? ` (${signedMs(p50Limit)})` : ''} / p99 ≤ +${ms(AIMS.addedP99Us)}${dirty}`,
      ...(h ? { met: a.p50 <= p50Limit && a.p99 <= AIMS.addedP99Us && served(g.paced, o.rate) && dirty === '' } : {}),
    },
    {
      n: '4',
      what: highWhat(o),
      value: `${signedMs(a.p99High)} (${ms(g.pacedHigh.p99Us)}${short(g.pacedHigh, o.highRate, true)}${fails(g.pacedHigh)}${stealNote([g.pacedHigh])})`,
      baseline: `direct ${ms(direct.pacedHigh.p99Us)}${h ? `; ${BASELINE} added ${signedMs(h.p99High)}` : ''}`,
      aim: `≤ +${ms(AIMS.addedP99HighRateUs)}${dirtyHigh}`,
      met: a.p99High <= AIMS.addedP99HighRateUs && served(g.pacedHigh, o.highRate) && dirtyHigh === '',
    },
  ];
}

/** The sequential windows as context beside the rounds' verdicts. */
function sequentialContext(g: PathResult, o: DataPathOptions, direct: PathResult, ref: PathResult | null): Row {
  const a = added(g, direct);
  const h = ref ? added(ref, direct) : null;
  const [low, high] = [g.paced, g.pacedHigh];
  const abs = `${ms(low.p50Us)} / ${ms(low.p99Us)}${short(low, o.rate, true)}${fails(low)}; ${ms(high.p99Us)}${short(high, o.highRate, true)}${fails(high)}`;
  return {
    n: '4',
    what: `${NAME}: added latency in the sequential run, p50 / p99 @ ${o.rate} req/s; p99 @ ${o.highRate} req/s`,
    value: `${signedMs(a.p50)} / ${signedMs(a.p99)}; ${signedMs(a.p99High)} (${abs})${stealNote([low, high])}`,
    ...(h ? { baseline: `${BASELINE} added ${signedMs(h.p50)} / ${signedMs(h.p99)}; ${signedMs(h.p99High)}` } : {}),
  };
}

const range = (s: Spread): string => `rounds ${signedMs(s.min)} to ${signedMs(s.max)}`;

/** Each path of a round and its name in the rows. */
const SIDES = [
  ['direct', 'direct'],
  ['ref', BASELINE],
  ['target', NAME],
] as const;

/** Kept windows of every path over the steal limit, by path and round ('' when none). */
function dirtyOf(rounds: PairedLatency['low']): string {
  const named: Record<string, LatencyWindow> = {};
  rounds.forEach((r, i) => SIDES.forEach(([side, name]) => (named[`${name} r${i}`] = r[side])));
  return uncleared(named);
}

const stealOf = (rounds: PairedLatency['low']): string => {
  const all = rounds.flatMap((r) => [r.direct, r.ref, r.target]);
  return pairsStealNote({
    steal: all.map((w) => w.stealPct ?? NaN),
    discardedSteal: all.flatMap((w) => w.discardedSteal ?? []),
  });
};

/**
 * "; not served in full: haproxy r0 3,900/s, …" for every window of any path that fell behind its rate or failed
 * a request ('' when none): its percentiles are not the path's, so the aim is not judged met on them.
 */
function shortfalls(rounds: PairedLatency['low'], rate: number): string {
  const bad = rounds.flatMap((r, i) =>
    SIDES.filter(([side]) => !served(r[side], rate)).map(
      ([side, name]) => `${name} r${i} ${perSec(r[side].perSecond)}${fails(r[side])}`,
    ),
  );
  return bad.length === 0 ? '' : `; not served in full: ${bad.join(', ')}`;
}

/** The aims judged on the rounds' medians. */
function roundsRows(p: PairedLatency, o: DataPathOptions): Row[] {
  const m = latencyMargins(p);
  const n = p.low.length;
  const [lowShort, highShort] = [shortfalls(p.low, o.rate), shortfalls(p.high, o.highRate)];
  const [dirty, dirtyHigh] = [dirtyOf(p.low), dirtyOf(p.high)];
  const rounds = `median of ${n} alternating rounds with direct and ${BASELINE}`;
  return [
    {
      n: '4',
      what: `${lowWhat(o)}; ${rounds}`,
      value: `p50 ${signedMs(m.p50OverRef.median)} vs ${BASELINE} (${range(m.p50OverRef)}) / p99 ${signedMs(m.addedP99.median)} (${range(m.addedP99)})${lowShort}${stealOf(p.low)}`,
      baseline: `${BASELINE} added p50 ${signedMs(m.refAddedP50.median)} (same rounds)`,
      ratio: `p50 ${signedMs(m.p50OverRef.median)} vs ${BASELINE}`,
      aim: `${p50Aim} / p99 ≤ +${ms(AIMS.addedP99Us)}${dirty}`,
      met:
        m.p50OverRef.median <= AIMS.addedP50OverHaproxyUs &&
        m.addedP99.median <= AIMS.addedP99Us &&
        lowShort === '' &&
        dirty === '',
    },
    {
      n: '4',
      what: `${highWhat(o)}; ${rounds}`,
      value: `${signedMs(m.addedP99High.median)} (${range(m.addedP99High)})${highShort}${stealOf(p.high)}`,
      baseline: `${BASELINE} added ${signedMs(m.refAddedP99High.median)} (same rounds)`,
      aim: `≤ +${ms(AIMS.addedP99HighRateUs)}${dirtyHigh}`,
      met: m.addedP99High.median <= AIMS.addedP99HighRateUs && highShort === '' && dirtyHigh === '',
    },
  ];
}

/**
 * verigate's latency rows: see the header. `refWhy`: why haproxy has no result, when it has none; `paired`: the
 * rounds, or why they failed (absent: not run).
 */
export function latencyRows(
  g: PathResult,
  o: DataPathOptions,
  direct: PathResult | null,
  ref: PathResult | null,
  refWhy: string,
  paired?: PairedLatency | string,
): Row[] {
  if (typeof paired === 'object' && paired.low.length > 0 && paired.high.length > 0)
    return [...roundsRows(paired, o), ...(direct ? [sequentialContext(g, o, direct, ref)] : [])];
  // no rounds: the sequential windows judge, and they need the direct path's
  const rows = direct ? sequentialRows(g, o, direct, ref, refWhy) : [];
  if (typeof paired === 'string')
    rows.push({ n: '4', what: `${NAME}: latency in alternating rounds with direct and ${BASELINE}`, value: paired });
  return rows;
}
