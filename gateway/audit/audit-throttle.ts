/**
 * The rate bound on audit events that a peer WITHOUT rights can cause at will [IEC 62443-3-3 SR 2.9 audit
 * storage capacity, SR 7.1 DoS protection]. An AuditSink in front of the AuditLog for the front doors and
 * the request pipeline:
 * - `pre-auth`: handshake.rejected, keyed by source address (the `addr` of "addr:port"; every `?:0` shares `?`);
 * - `denial`: request.decision or record.decision (PROFINET) with decision deny, keyed by identity;
 * - `zero-right`: session.open/close of an identity the policy grants nothing, keyed by identity.
 * Per interval the first `perKey` events of a key, and at most `perClass` of a class, are written one by one;
 * the rest are counted and one `audit.suppressed` event per interval reports them by class, key and reason.
 * Nothing is dropped silently: individual + summarized = what happened. Past capacity − reserve
 * (audit-budget.ts) these classes are summarized only; a class event larger than `maxEventBytes` is
 * summarized too, so the bytes per interval have a bound (docs/gateway-yaml.md states it).
 * Every other event (allowed decisions, locks, grants, …) passes straight through, never throttled.
 */
import type { Registry } from 'prom-client';
import { reasonCode, type GateReasonCode } from '../reasons.js';
import type { AppendResult, AuditEventInput, AuditSink, WriteResult } from './audit-events.js';
import { createThrottleMetrics, type ThrottleMetrics } from './audit-metrics.js';
import { SuppressionTally, type Classified, type TallyLimits } from './suppression-tally.js';
import { systemTimers, unrefTimer, type TimerHandle, type Timers } from '../timers.js';

export interface ThrottleOptions extends TallyLimits {
  /** Length of one counting interval; one summary at most per interval. */
  readonly intervalMs: number;
  /** A class event whose JSON is longer than this is summarized instead of written (bounds the bytes). */
  readonly maxEventBytes: number;
}

export interface AuditThrottleDeps {
  readonly log: {
    append(e: AuditEventInput): WriteResult;
    healthy(): boolean;
    reserveReached(): boolean;
    committed(seq: number | null): Promise<boolean>;
  };
  readonly now: () => number;
  readonly options: ThrottleOptions;
  /** The periodic summary check (gateway/timers.ts; default systemTimers): tests drive time instead of waiting. */
  readonly timers?: Timers;
  /** Does the current policy grant this identity nothing at all (no allow rule, no admin operation)? */
  readonly zeroRight?: (identity: string, role: string | null) => boolean;
  /** Told of every denial of an identity (before throttling), for the denial-flood guard. */
  readonly onDenial?: (identity: string, now: number) => void;
  readonly registry?: Registry;
}

/** Summaries are kept for sessions opened as zero-right until they close; a bound on that memory. */
const MAX_TRACKED_SESSIONS = 65_536;

export const SUMMARIZED = Object.freeze({ ok: true, seq: null, summarized: true } as const);

export class AuditThrottle implements AuditSink {
  private readonly tally: SuppressionTally;
  private readonly metrics: ThrottleMetrics | null;
  private readonly zeroRightSessions = new Set<string>();
  private intervalStart: number;
  private reportFrom: number;
  private timer: TimerHandle | null = null;

  constructor(private readonly deps: AuditThrottleDeps) {
    this.tally = new SuppressionTally(deps.options);
    this.metrics = deps.registry === undefined ? null : createThrottleMetrics(deps.registry);
    this.intervalStart = this.reportFrom = deps.now();
  }

  /** Starts the periodic check that writes a summary once an interval has passed even if no event comes. */
  start(): this {
    const period = Math.max(1, Math.min(this.deps.options.intervalMs, 1000));
    this.timer = unrefTimer(this.timersOf().setInterval(() => this.tick(), period));
    return this;
  }

  append(e: AuditEventInput): AppendResult {
    const now = this.deps.now();
    this.roll(now);
    const c = this.classify(e);
    if (c === null) return this.deps.log.append(e);
    const r = this.bounded(e, c);
    // After the event, so the trail reads: the denial that tipped it, then the lock it caused.
    if ((e.type === 'request.decision' || e.type === 'record.decision') && !imposedByOperatorOrGateway(e))
      this.deps.onDenial?.(e.identity, now);
    return r;
  }

  private bounded(e: AuditEventInput, c: Classified): AppendResult {
    const forced = this.deps.log.reserveReached()
      ? 'reserve'
      : tooLarge(e, this.deps.options.maxEventBytes)
        ? 'oversize'
        : null;
    if (this.tally.admit(c, forced) !== null) {
      this.metrics?.suppressed.inc({ class: c.cls });
      return SUMMARIZED;
    }
    const r = this.deps.log.append(e);
    if (!r.ok) this.tally.unrecord(c.cls); // not in the log: the gap counts it as lost, not us as recorded
    return r;
  }

  /** The pipeline's fail-closed check goes to the log itself. */
  healthy(): boolean {
    return this.deps.log.healthy();
  }

  /** Group commit: summarized events (seq null) are counted, not written, so there is nothing to wait for. */
  committed(seq: number | null): Promise<boolean> {
    return this.deps.log.committed(seq);
  }

  /** Writes the summary of a finished interval (if anything was counted). Idempotent for a given clock. */
  tick(): void {
    this.roll(this.deps.now());
  }

  /** Writes what is counted so far (shutdown: the partial interval is reported too), then stops the timer. */
  close(): void {
    this.timersOf().clearTimeout(this.timer);
    this.timer = null;
    this.summarize(this.deps.now());
  }

  private timersOf(): Timers {
    return this.deps.timers ?? systemTimers;
  }

  private roll(now: number): void {
    if (now - this.intervalStart < this.deps.options.intervalMs) return;
    this.summarize(now);
    this.tally.nextInterval();
    this.intervalStart = now;
  }

  /** One audit.suppressed event; if it cannot be written its counts are kept for the next try. */
  private summarize(now: number): void {
    if (!this.tally.pending) {
      this.tally.reset();
      this.reportFrom = now;
      return;
    }
    const { classes, counts } = this.tally.summary();
    const r = this.deps.log.append({
      type: 'audit.suppressed',
      from: iso(this.reportFrom),
      to: iso(now),
      classes,
      counts,
    });
    if (!r.ok) return;
    this.metrics?.summaries.inc();
    this.tally.reset();
    this.reportFrom = now;
  }

  private classify(e: AuditEventInput): Classified | null {
    switch (e.type) {
      case 'handshake.rejected':
        return { cls: 'pre-auth', key: sourceAddress(e.peer), reason: e.code };
      case 'request.decision':
      case 'record.decision':
        return e.decision === 'deny' ? { cls: 'denial', key: e.identity, reason: reasonCode(e.reason) } : null;
      case 'session.open':
        if (this.deps.zeroRight?.(e.identity, e.role ?? null) !== true) return null;
        if (this.zeroRightSessions.size < MAX_TRACKED_SESSIONS) this.zeroRightSessions.add(e.session);
        return { cls: 'zero-right', key: e.identity, reason: e.type };
      case 'session.close':
        return this.zeroRightSessions.delete(e.session) ? { cls: 'zero-right', key: e.identity, reason: e.type } : null;
      default:
        return null;
    }
  }
}

/** "addr:port" → addr (IPv6 addresses contain ':' themselves, so cut at the last one). */
export function sourceAddress(peer: string): string {
  const at = peer.lastIndexOf(':');
  return at <= 0 ? peer || '?' : peer.slice(0, at);
}

function tooLarge(e: AuditEventInput, max: number): boolean {
  return Buffer.byteLength(JSON.stringify(e), 'utf8') > max;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Denials that are not the identity's doing and so are no flood evidence: audit down, the lock or grant store
 * unreadable, or the box cut off from its fleet hub too long for a strict rule (the gateway's state: strict mode
 * promises that reads go on, so an HMI that keeps polling a strict write must not be locked out of them), and a
 * lock an operator put on a device or a grant (an HMI that keeps polling a locked device must not lose every
 * other device too, IEC 62443-3-3 SR 1.1 guidance).
 */
function imposedByOperatorOrGateway(e: { outcome: string; reason: string }): boolean {
  return e.outcome === 'audit-unavailable' || IMPOSED.has(reasonCode(e.reason));
}

/** Runtime-gate codes (gateway/reasons.ts) of refusals imposed by an operator's lock or the gateway's own state. */
const IMPOSED: ReadonlySet<string> = new Set<GateReasonCode>([
  'locked',
  'lock-store-unavailable',
  'grant-locked',
  'grant-store-unavailable',
  'fleet-stale',
]);
