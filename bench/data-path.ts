/**
 * Measurements 1–4: the same load generator against each path to the same simulator. Per path: latency at a
 * fixed open-loop rate (1 in flight per connection), then maximum throughput closed-loop with 1 and with
 * `depth` requests in flight per connection. Connections are opened before and closed after each path.
 */
import { openConnections, runClosed, runPaced, type Endpoint, type RunResult } from './load-generator.js';

export interface DataPathOptions {
  readonly connections: number;
  readonly rate: number;
  readonly depth: number;
  readonly pacedMs: number;
  readonly closedMs: number;
  readonly warmupMs: number;
}

export interface PathResult {
  readonly paced: RunResult;
  readonly closed1: RunResult;
  readonly closedN: RunResult;
}

export async function measurePath(ep: Endpoint, o: DataPathOptions): Promise<PathResult> {
  const conns = await openConnections(ep, o.connections);
  try {
    const paced = await runPaced(conns, { rate: o.rate, durationMs: o.pacedMs, warmupMs: o.warmupMs });
    const closed1 = await runClosed(conns, { depth: 1, durationMs: o.closedMs, warmupMs: o.warmupMs });
    const closedN = await runClosed(conns, { depth: o.depth, durationMs: o.closedMs, warmupMs: o.warmupMs });
    return { paced, closed1, closedN };
  } finally {
    for (const c of conns) c.close();
  }
}
