/**
 * Row 4's latency aims, measured in alternating rounds. The sequential rows measure the direct path, haproxy and
 * verigate minutes apart, and this host's speed drifts over minutes (paired-throughput.ts), so one comparison of
 * two windows carries that drift: at 1,000 req/s, six rounds of the three paths in a row gave verigate's p50 minus
 * haproxy's +0.04 to +0.17 ms, a spread more than twice the aim's 0.05 ms margin. Here the three paths take turns,
 * `rounds` times per rate: direct, haproxy, verigate in even rounds and verigate, haproxy, direct in odd ones, so a
 * steady drift cancels over two rounds. Each round gives each aim's quantity (verigate's p50 minus haproxy's;
 * verigate's p99 minus direct's) and the aim is judged on their median, the range printed beside it. Each window
 * is measured again while the hypervisor stole CPU, as in the sequential rows (steal-meter.ts).
 */
import type { DataPathOptions, LatencyWindow } from './data-path.js';
import { openConnections, runPaced, type Endpoint, type ModbusClientConn } from './load-generator.js';
import { median, type RedoOptions } from './paired-throughput.js';
import { leastSteal } from './steal-meter.js';

export type LatencySide = 'direct' | 'ref' | 'target';

/** One round at one rate: a latency window of each path. */
export type LatencyRound = Readonly<Record<LatencySide, LatencyWindow>>;

export interface PairedLatency {
  /** `rate` req/s on `depthConnections` connections. */
  readonly low: readonly LatencyRound[];
  /** `highRate` req/s on every connection. */
  readonly high: readonly LatencyRound[];
}

/** haproxy in the middle; direct first in even rounds, verigate first in odd ones. */
export const latencyOrder = (round: number): readonly LatencySide[] =>
  round % 2 === 0 ? ['direct', 'ref', 'target'] : ['target', 'ref', 'direct'];

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** NaN throughout when a round has no figure (a window that served nothing): no aim is met on it. */
const spread = (xs: readonly number[]): Spread =>
  xs.length > 0 && xs.every(Number.isFinite)
    ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) }
    : { median: NaN, min: NaN, max: NaN };

/** Each aim's quantity over the rounds (µs): what the latency aims are judged on. */
export interface LatencyMargins {
  /** verigate's p50 minus haproxy's at `rate` (= verigate's added p50 minus haproxy's: direct cancels). */
  readonly p50OverRef: Spread;
  /** haproxy's added p50 at `rate`, for context. */
  readonly refAddedP50: Spread;
  /** verigate's p99 minus direct's at `rate`. */
  readonly addedP99: Spread;
  /** verigate's p99 minus direct's at `highRate`. */
  readonly addedP99High: Spread;
  /** haproxy's p99 minus direct's at `highRate`, for context. */
  readonly refAddedP99High: Spread;
}

export function latencyMargins(p: PairedLatency): LatencyMargins {
  return {
    p50OverRef: spread(p.low.map((r) => r.target.p50Us - r.ref.p50Us)),
    refAddedP50: spread(p.low.map((r) => r.ref.p50Us - r.direct.p50Us)),
    addedP99: spread(p.low.map((r) => r.target.p99Us - r.direct.p99Us)),
    addedP99High: spread(p.high.map((r) => r.target.p99Us - r.direct.p99Us)),
    refAddedP99High: spread(p.high.map((r) => r.ref.p99Us - r.direct.p99Us)),
  };
}

/**
 * `rounds` rounds of the three paths at both rates (each round: the `rate` windows, then the `highRate` ones),
 * on connections opened here; every path is warm from its sequential run.
 */
export async function measurePairedLatency(
  eps: Readonly<Record<LatencySide, Endpoint>>,
  o: DataPathOptions,
  rounds: number,
  redo?: RedoOptions,
): Promise<PairedLatency> {
  const conns: Record<LatencySide, ModbusClientConn[]> = { direct: [], ref: [], target: [] };
  try {
    for (const side of ['direct', 'ref', 'target'] as const)
      conns[side] = await openConnections(eps[side], o.connections);
    const low: LatencyRound[] = [];
    const high: LatencyRound[] = [];
    const window = (side: LatencySide, rate: number, take: number): Promise<LatencyWindow> =>
      leastSteal(() => runPaced(conns[side].slice(0, take), { rate, durationMs: o.pacedMs, warmupMs: o.warmupMs }), {
        ...redo,
      });
    for (let round = 0; round < rounds; round++) {
      const at = async (rate: number, take: number): Promise<LatencyRound> => {
        const r: Partial<Record<LatencySide, LatencyWindow>> = {};
        for (const side of latencyOrder(round)) r[side] = await window(side, rate, take);
        return r as LatencyRound;
      };
      low.push(await at(o.rate, o.depthConnections));
      high.push(await at(o.highRate, o.connections));
    }
    return { low, high };
  } finally {
    for (const c of [...conns.direct, ...conns.ref, ...conns.target]) c.close();
  }
}
