/**
 * Prometheus metrics (prom-client), one registry per gateway so tests can run several side by side.
 * Names follow Prometheus conventions; docs/reference.md lists them. The audit log registers its own
 * `verigate_audit_*` metrics (audit-metrics.ts) on the same registry.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { LatencyHistogram } from './latency-histogram.js';

export interface MetricsSources {
  queueDepth?: () => Record<string, number>;
  svidSecondsLeft?: () => number | null;
  auditLag?: () => number;
  trustScores?: () => Record<string, number>;
  /** Fleet members: seconds since the newest hub heartbeat (+Inf: never heard). Absent: not a member, 0. */
  fleetStaleness?: () => number;
}

export const LATENCY_BUCKETS: readonly number[] = [
  0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

interface PendingCount {
  readonly labels: { outcome: string; device: string; fc: string };
  n: number;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'outcome' | 'device' | 'fc'>;
  /** Observed per request: our own histogram, exposed exactly as prom-client's (latency-histogram.ts). */
  readonly latency: LatencyHistogram;
  readonly sessions: Gauge<'transport'>;
  readonly handshakeRejections: Counter<'reason'>;
  readonly pendingHandshakes: Gauge<'transport'>;
  readonly policyReloads: Counter<'result'>;
  readonly recordRequests: Counter<'outcome' | 'device' | 'access'>;
  readonly denials: Counter<'code'>;
  private sources: MetricsSources = {};
  /**
   * Requests counted since the last read of `verigate_requests_total`, per device → outcome → fc: a number
   * bumped in place per request (no label object, no label hash string); added to the counter when it is read
   * (scrape or `requests.get()`), so what is exposed is the same.
   */
  private readonly pendingRequests = new Map<string, Map<string, Map<number, PendingCount>>>();

  /**
   * One Modbus request done: counted by outcome, device and fc; its latency observed per device. Label
   * values are bounded: configured devices, fc 0–255, the outcome table.
   */
  countRequest(device: string, fc: number, outcome: string, latencySeconds: number | null): void {
    this.pendingCount(device, outcome, fc).n++;
    if (latencySeconds !== null) this.latency.labels(device).observe(latencySeconds);
  }

  private pendingCount(device: string, outcome: string, fc: number): PendingCount {
    let byOutcome = this.pendingRequests.get(device);
    if (byOutcome === undefined)
      this.pendingRequests.set(device, (byOutcome = new Map<string, Map<number, PendingCount>>()));
    let byFc = byOutcome.get(outcome);
    if (byFc === undefined) byOutcome.set(outcome, (byFc = new Map<number, PendingCount>()));
    let c = byFc.get(fc);
    if (c === undefined) byFc.set(fc, (c = { labels: { outcome, device, fc: String(fc) }, n: 0 }));
    return c;
  }

  /** Adds the pending counts to `verigate_requests_total` (prom-client calls it on every read, with the counter as `this`). */
  private flushRequests(counter: Counter<'outcome' | 'device' | 'fc'>): void {
    for (const byOutcome of this.pendingRequests.values())
      for (const byFc of byOutcome.values())
        for (const c of byFc.values())
          if (c.n > 0) {
            counter.inc(c.labels, c.n);
            c.n = 0;
          }
  }

  /** One request denied (Modbus or PROFINET), by the reason code of the policy or runtime gate that refused it. */
  countDenial(code: string): void {
    this.denials.inc({ code });
  }

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'verigate_process_' });
    const flush = (c: Counter<'outcome' | 'device' | 'fc'>): void => this.flushRequests(c);
    this.requests = new Counter({
      name: 'verigate_requests_total',
      help: 'Modbus requests by outcome (ok, denied, timeout, ...), device and function code',
      labelNames: ['outcome', 'device', 'fc'],
      registers,
      collect() {
        flush(this);
      },
    });
    this.latency = new LatencyHistogram(
      'verigate_request_duration_seconds',
      'Time from request decoded to response ready, by device',
      LATENCY_BUCKETS,
      registers,
    );
    this.sessions = new Gauge({
      name: 'verigate_sessions',
      help: 'Live client sessions',
      labelNames: ['transport'],
      registers,
    });
    this.handshakeRejections = new Counter({
      name: 'verigate_handshake_rejections_total',
      help: 'Client connections refused before a session opened, by reason code (TLS, SPIFFE, capacity, admission)',
      labelNames: ['reason'],
      registers,
    });
    this.pendingHandshakes = new Gauge({
      name: 'verigate_handshakes_pending',
      help: 'TLS connections accepted whose handshake has not completed yet, by listener',
      labelNames: ['transport'],
      registers,
    });
    this.policyReloads = new Counter({
      name: 'verigate_policy_reloads_total',
      help: 'Policy reload attempts by result (ok, failed)',
      labelNames: ['result'],
      registers,
    });
    this.recordRequests = new Counter({
      name: 'verigate_profinet_requests_total',
      help: 'PROFINET record services by outcome (ok, denied, pnio-error, timeout, write-lost, ...), device and access (read, write)',
      labelNames: ['outcome', 'device', 'access'],
      registers,
    });
    this.denials = new Counter({
      name: 'verigate_denials_total',
      help: 'Requests denied (Modbus and PROFINET), by reason code: the policy reasons and the runtime gates (gateway/reasons.ts)',
      labelNames: ['code'],
      registers,
    });
    this.sampledGauges(registers);
  }

  /** Values the gateway pulls at scrape time instead of pushing on the hot path. */
  attach(sources: MetricsSources): void {
    this.sources = { ...this.sources, ...sources };
  }

  private sampledGauges(registers: Registry[]): void {
    // prom-client calls collect() with the gauge as `this`; attach() replaces the sources after construction, so
    // collect() reads them at scrape time through an arrow function (no `this` alias).
    const sources = (): MetricsSources => this.sources;
    new Gauge({
      name: 'verigate_upstream_queue_depth',
      help: 'Requests queued or in flight toward each device',
      labelNames: ['device'],
      registers,
      collect() {
        for (const [device, n] of Object.entries(sources().queueDepth?.() ?? {})) this.set({ device }, n);
      },
    });
    new Gauge({
      name: 'verigate_svid_expiry_seconds',
      help: "Seconds until the gateway's own X.509-SVID expires",
      registers,
      collect() {
        const left = sources().svidSecondsLeft?.();
        if (left !== undefined && left !== null) this.set(left);
      },
    });
    new Gauge({
      name: 'verigate_audit_lag_events',
      help: 'Audit events accepted but not yet durable on disk',
      registers,
      collect() {
        this.set(sources().auditLag?.() ?? 0);
      },
    });
    new Gauge({
      name: 'verigate_fleet_staleness_seconds',
      help: 'Seconds since the newest fleet hub heartbeat this gateway saw (0: not a fleet member; +Inf: never heard)',
      registers,
      collect() {
        this.set(sources().fleetStaleness?.() ?? 0);
      },
    });
    new Gauge({
      name: 'verigate_trust_score',
      help: 'Current trust score per identity (0..1)',
      labelNames: ['identity'],
      registers,
      collect() {
        this.reset();
        for (const [identity, score] of Object.entries(sources().trustScores?.() ?? {})) this.set({ identity }, score);
      },
    });
  }
}
