/**
 * The performance aims of issue 11, in one place: every aim is a ratio to (or a margin over) a baseline
 * measured in the same run — haproxy for the data path and handshakes, a bare grpc-js server for gRPC.
 */
const MB = 1048576;

export const AIMS = {
  /** verigate throughput ÷ haproxy's, 16 connections × 1 in flight and 8 × 8. */
  throughputVsHaproxy: 1.0,
  /** verigate's added p50 (vs direct) at 1,000 req/s may exceed haproxy's added p50 by this much. */
  addedP50OverHaproxyUs: 50,
  /** verigate's added p99 (vs direct) at 1,000 req/s. */
  addedP99Us: 500,
  /** verigate's added p99 (vs direct) at 5,000 req/s. */
  addedP99HighRateUs: 1000,
  /** verigate mTLS sessions/s ÷ haproxy's. */
  handshakesVsHaproxy: 1.0,
  /** Gateway RSS (after a GC) holding 1,000 idle mTLS sessions, run from dist/. */
  idleRssBytes: 120 * MB,
  /** gRPC unary reads/s through verigate ÷ a bare grpc-js server answering the same message. */
  grpcVsBare: 0.7,
  /** Requests failed across SVID rotation under load. */
  rotationFailures: 0,
} as const;
