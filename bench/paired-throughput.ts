/**
 * Row 4's throughput aims, measured in alternating pairs. The machine's speed drifts over minutes (a shared
 * host: the same gateway measured 17 µs per request in one minute and 24 µs a few minutes later, with no
 * change in between), and the sequential rows measure haproxy and verigate tens of seconds apart, so a
 * single ratio carries that drift. Here both paths keep their connections open and take turns, `rounds`
 * times per load, in ABBA order (haproxy first in even rounds, verigate first in odd ones) so a steady drift
 * cancels; each pair gives one ratio and the aim is judged on their median, with the range printed beside it.
 */
import type { DataPathOptions } from './data-path.js';
import { openConnections, runClosed, type Endpoint, type ModbusClientConn } from './load-generator.js';

/** One load's pairs: req/s of each path per round, and the ratio verigate / haproxy. */
export interface PairedLoad {
  readonly ref: readonly number[];
  readonly target: readonly number[];
  /** verigate's failed requests over the rounds (the aim needs none). */
  readonly failed: number;
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

export async function measurePaired(
  ref: Endpoint,
  target: Endpoint,
  o: DataPathOptions,
  rounds: number,
): Promise<PairedResult> {
  const conns = { ref: await openConnections(ref, o.connections), target: [] as ModbusClientConn[] };
  try {
    conns.target = await openConnections(target, o.connections);
    const loads = [
      { key: 'single', depth: 1, take: o.connections },
      { key: 'pipelined', depth: o.depth, take: o.depthConnections },
    ] as const;
    const out = {
      single: { ref: [] as number[], target: [] as number[], failed: 0 },
      pipelined: { ref: [] as number[], target: [] as number[], failed: 0 },
    };
    for (let round = 0; round < rounds; round++) {
      for (const load of loads) {
        for (const side of pairOrder(round)) {
          const r = await runClosed(conns[side].slice(0, load.take), {
            depth: load.depth,
            durationMs: o.closedMs,
            warmupMs: o.warmupMs,
          });
          out[load.key][side].push(r.perSecond);
          if (side === 'target') out[load.key].failed += r.failed;
        }
      }
    }
    return { rounds, ...out };
  } finally {
    for (const c of [...conns.ref, ...conns.target]) c.close();
  }
}
