/**
 * How long and how hard `npm run bench` (run.ts) measures: the full run's settings and `--quick`'s shorter ones.
 */
import type { DataPathOptions } from './data-path.js';

export interface BenchSettings {
  readonly pacedMs: number;
  readonly latencyWarmupMs: number;
  readonly closedMs: number;
  readonly warmupMs: number;
  readonly policySamples: number;
  readonly handshakeMs: number;
  readonly handshakeWarmupMs: number;
  readonly sessions: number;
  readonly svidTtlS: number;
  readonly rotationMs: number;
  readonly grpcMs: number;
  readonly pairRounds: number;
}

export function benchSettings(quick: boolean): {
  S: BenchSettings;
  DP: DataPathOptions;
  GRPC: { channels: number; inFlight: number; durationMs: number; warmupMs: number; rounds: number };
} {
  const S: BenchSettings = quick
    ? {
        pacedMs: 2000,
        latencyWarmupMs: 2000,
        closedMs: 1500,
        warmupMs: 300,
        policySamples: 100_000,
        handshakeMs: 1500,
        handshakeWarmupMs: 2000,
        sessions: 1000,
        svidTtlS: 4,
        rotationMs: 5000,
        grpcMs: 1500,
        pairRounds: 2,
      }
    : {
        pacedMs: 4000,
        latencyWarmupMs: 6000,
        closedMs: 3000,
        warmupMs: 500,
        policySamples: 300_000,
        handshakeMs: 3000,
        handshakeWarmupMs: 5000,
        sessions: 1000,
        svidTtlS: 6,
        rotationMs: 10_000,
        grpcMs: 3000,
        pairRounds: 4,
      };
  const DP: DataPathOptions = {
    connections: 16,
    depthConnections: 8,
    rate: 1000,
    highRate: 5000,
    depth: 8,
    pacedMs: S.pacedMs,
    latencyWarmupMs: S.latencyWarmupMs,
    closedMs: S.closedMs,
    warmupMs: S.warmupMs,
  };
  const GRPC = { channels: 4, inFlight: 16, durationMs: S.grpcMs, warmupMs: S.warmupMs, rounds: S.pairRounds };
  return { S, DP, GRPC };
}
