/**
 * Row 4's throughput aims, row 6's handshake aim and row 9's gRPC aim (through `alternate`), measured in
 * alternating pairs. This machine's speed drifts over minutes (two gateways of one build, loaded minutes apart: 16.6–19.1 and
 * 18.8–25.5 µs of CPU per request), and the sequential rows measure haproxy and verigate tens of seconds apart,
 * so a single ratio carries that drift. Here both paths take turns, `rounds` times per load, in ABBA order
 * (haproxy first in even rounds, verigate first in odd ones) so a steady drift cancels; each pair gives one
 * ratio and the aim is judged on their median, with the range printed beside it. A pair in which the hypervisor
 * stole more than `PAIR_STEAL_LIMIT_PCT` of the CPU during either run is measured again, a bounded number of
 * times, keeping the pair with the least steal (steal-meter.ts): its ratio would be the host's.
 */
import type { DataPathOptions } from './data-path.js';
import { openConnections, runClosed, type Endpoint, type ModbusClientConn } from './load-generator.js';
import { leastSteal, PAIR_STEAL_LIMIT_PCT, type StealAware } from './steal-meter.js';

/** One load's pairs: the rate (requests or sessions per second) of each side per round. */
export interface PairedLoad {
  readonly ref: readonly number[];
  readonly target: readonly number[];
  /** verigate's failed requests over the rounds (the aim needs none). */
  readonly failed: number;
  /** Per kept pair, the larger steal of its two runs (%; NaN without a reading); absent: not measured. */
  readonly steal?: readonly number[];
  /** The steal of every discarded try of a pair (measured again because of it). */
  readonly discardedSteal?: readonly number[];
}

export interface PairedResult {
  readonly rounds: number;
  /** Every connection × 1 in flight. */
  readonly single: PairedLoad;
  /** `depthConnections` × `depth` in flight. */
  readonly pipelined: PairedLoad;
}

export interface PairSummary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly refMedian: number;
  readonly targetMedian: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The ratios of one load's pairs, summarized; NaN everywhere when there are none. */
export function summarizePairs(p: PairedLoad): PairSummary {
  const ratios = p.target.map((t, i) => t / p.ref[i]!);
  return {
    median: median(ratios),
    min: ratios.length ? Math.min(...ratios) : NaN,
    max: ratios.length ? Math.max(...ratios) : NaN,
    refMedian: median(p.ref),
    targetMedian: median(p.target),
  };
}

/** haproxy first in even rounds, verigate first in odd ones (ABBA): a drift during a round cancels over two. */
export const pairOrder = (round: number): readonly ['ref', 'target'] | readonly ['target', 'ref'] =>
  round % 2 === 0 ? (['ref', 'target'] as const) : (['target', 'ref'] as const);

type Measure = (side: 'ref' | 'target') => Promise<{ perSecond: number; failed: number } & StealAware>;

/** The larger of two windows' steal; undefined when neither has a reading. */
const worse = (a: number | undefined, b: number | undefined): number | undefined =>
  a === undefined ? b : b === undefined ? a : Math.max(a, b);

/** When a pair is measured again (steal-meter.ts); a test can turn it off with `limitPct: Infinity`. */
export interface RedoOptions {
  readonly limitPct?: number;
  readonly pauseMs?: number;
}

/**
 * Round `round`'s pair: one run of each side in that round's order, measured again while steal was high.
 * Failures count for the target only, those of discarded tries included.
 */
async function pairOf(round: number, measure: Measure, redo: RedoOptions = {}): Promise<PairedLoad> {
  const once = async (): Promise<{ ref: number; target: number; failed: number } & StealAware> => {
    const out = { ref: 0, target: 0, failed: 0, stealPct: undefined as number | undefined };
    for (const side of pairOrder(round)) {
      const r = await measure(side);
      out[side] = r.perSecond;
      out.stealPct = worse(out.stealPct, r.stealPct);
      if (side === 'target') out.failed += r.failed;
    }
    return out;
  };
  const p = await leastSteal(once, { limitPct: PAIR_STEAL_LIMIT_PCT, ...redo });
  return {
    ref: [p.ref],
    target: [p.target],
    failed: p.failed,
    steal: [p.stealPct ?? NaN],
    discardedSteal: p.discardedSteal,
  };
}

const merge = (ls: readonly PairedLoad[]): PairedLoad => ({
  ref: ls.flatMap((l) => l.ref),
  target: ls.flatMap((l) => l.target),
  failed: ls.reduce((n, l) => n + l.failed, 0),
  steal: ls.flatMap((l) => l.steal ?? []),
  discardedSteal: ls.flatMap((l) => l.discardedSteal ?? []),
});

/** `rounds` pairs of one measurement (`measure` runs one side once), in ABBA order. */
export async function alternate(rounds: number, measure: Measure, redo?: RedoOptions): Promise<PairedLoad> {
  const pairs: PairedLoad[] = [];
  for (let round = 0; round < rounds; round++) pairs.push(await pairOf(round, measure, redo));
  return merge(pairs);
}

/** Both throughput loads in pairs; each round runs the ×1 pair, then the pipelined pair. */
export async function measurePaired(
  ref: Endpoint,
  target: Endpoint,
  o: DataPathOptions,
  rounds: number,
  redo?: RedoOptions,
): Promise<PairedResult> {
  const conns = { ref: await openConnections(ref, o.connections), target: [] as ModbusClientConn[] };
  try {
    conns.target = await openConnections(target, o.connections);
    const run =
      (depth: number, take: number): Measure =>
      (side) =>
        runClosed(conns[side].slice(0, take), { depth, durationMs: o.closedMs, warmupMs: o.warmupMs });
    const single: PairedLoad[] = [];
    const pipelined: PairedLoad[] = [];
    for (let round = 0; round < rounds; round++) {
      single.push(await pairOf(round, run(1, o.connections), redo));
      pipelined.push(await pairOf(round, run(o.depth, o.depthConnections), redo));
    }
    return { rounds, single: merge(single), pipelined: merge(pipelined) };
  } finally {
    for (const c of [...conns.ref, ...conns.target]) c.close();
  }
}
