/**
 * Measurements 1–4: the same load generator against each path to the same simulator. Per path, on
 * `connections` connections opened before and closed after:
 * - latency, open loop, 1 request in flight per connection, after `latencyWarmupMs` of it unrecorded: `rate`
 *   req/s on `depthConnections` of them (like a few SCADA pollers), with the CPU and run-queue wait per request
 *   (sched-meter.ts), then `highRate` req/s on all of them; a window in which the hypervisor stole more than
 *   `STEAL_LIMIT_PCT` of the CPU is measured again (steal-meter.ts);
 * - maximum throughput, closed loop: every connection × 1 in flight, then `depthConnections` × `depth`,
 *   each with the CPU per request of the server, the simulator and the load generator (cpu-meter.ts).
 */
import { openConnections, runClosed, runPaced, type Endpoint, type RunResult } from './load-generator.js';
import { leastSteal } from './steal-meter.js';

export interface DataPathOptions {
  /** Connections opened per path (the ×1 throughput and the high-rate latency use all of them). */
  readonly connections: number;
  /** Connections for the pipelined throughput and the low-rate latency. */
  readonly depthConnections: number;
  readonly rate: number;
  readonly highRate: number;
  readonly depth: number;
  readonly pacedMs: number;
  /**
   * Unrecorded paced load before a path's first latency window. A Node process runs its per-request code
   * interpreted, then compiled, during its first seconds of load: the gateway's first 3.5 s window at 1,000 req/s
   * read p50 0.69 / p99 4.7 ms, the next four 0.39–0.46 / 0.74–1.18 ms (the load generator already warm), and the
   * direct path's first three — the load generator's own first seconds — p99 1.5, 0.79, 0.34 ms; haproxy's first
   * window was like its second. A gateway in a plant has been running for days.
   */
  readonly latencyWarmupMs: number;
  readonly closedMs: number;
  readonly warmupMs: number;
}

/** A latency window as kept, with the steal of the tries discarded for it (leastSteal; none when absent). */
export type LatencyWindow = RunResult & { readonly discardedSteal?: readonly number[] };

export interface PathResult {
  /** The latency windows, each measured again while the hypervisor stole CPU (steal-meter.ts). */
  readonly paced: LatencyWindow;
  readonly pacedHigh: LatencyWindow;
  readonly closed1: RunResult;
  readonly closedN: RunResult;
}

/** `simPid`: the simulator's process, whose CPU per request is reported beside the server's (cpu-meter.ts). */
export async function measurePath(ep: Endpoint, o: DataPathOptions, simPid?: number): Promise<PathResult> {
  const cpu = { server: ep.pid, sim: simPid }; // an absent pid is not measured (cpu-meter.ts)
  const conns = await openConnections(ep, o.connections);
  const few = conns.slice(0, o.depthConnections);
  try {
    await runPaced(few, { rate: o.rate, durationMs: o.latencyWarmupMs, warmupMs: 0 });
    const paced = await leastSteal(() =>
      runPaced(few, { rate: o.rate, durationMs: o.pacedMs, warmupMs: o.warmupMs, cpu }),
    );
    const pacedHigh = await leastSteal(() =>
      runPaced(conns, { rate: o.highRate, durationMs: o.pacedMs, warmupMs: o.warmupMs }),
    );
    const closed1 = await runClosed(conns, { depth: 1, durationMs: o.closedMs, warmupMs: o.warmupMs, cpu });
    const closedN = await runClosed(few, { depth: o.depth, durationMs: o.closedMs, warmupMs: o.warmupMs, cpu });
    return { paced, pacedHigh, closed1, closedN };
  } finally {
    for (const c of conns) c.close();
  }
}
