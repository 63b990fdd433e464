/**
 * The audit log's failure state [IEC 62443-3-3 SR 2.10]: the current write failure (since when, the last error,
 * how many events it lost) and the holds of exporters whose copy must not silently fall behind. While either is
 * present the failure policy applies; the `verigate_audit_healthy` gauge and the log lines follow it here, so
 * the log itself only says when something failed or recovered.
 */
import type { Logger } from '../logger.js';
import type { WriteResult } from './audit-events.js';
import type { AuditMetrics } from './audit-metrics.js';
import type { AuditStatus } from './audit-log-options.js';

export interface AuditFailure {
  readonly since: string;
  error: string;
  /** Events that did not reach the file since `since` (carried by the audit.gap that ends the failure). */
  lost: number;
  /** An fdatasync failed during this failure: lines in the file may not survive power loss (see failSync). */
  syncFailed?: boolean;
}

export interface AuditFailuresDeps {
  readonly logger: Logger;
  readonly metrics: AuditMetrics | null;
  readonly policy: 'fail-closed' | 'continue';
  /** The event time (ISO 8601) a failure or hold starts at. */
  readonly now: () => string;
}

export class AuditFailures {
  private failing: AuditFailure | null = null;
  private readonly holds = new Map<string, { readonly since: string; error: string }>();
  /** Events lost over the log's life (status().lostEvents). */
  private lostTotal = 0;

  constructor(private readonly deps: AuditFailuresDeps) {}

  /** The write failure in force, or null while writes succeed. */
  get current(): AuditFailure | null {
    return this.failing;
  }

  get totalLost(): number {
    return this.lostTotal;
  }

  /** No write failure and no hold: the data path may go on under either failure policy. */
  get clear(): boolean {
    return this.failing === null && this.holds.size === 0;
  }

  /** The error to show: the write failure's, else the first hold's. */
  get lastError(): string | null {
    return this.failing?.error ?? this.holds.values().next().value?.error ?? null;
  }

  held(): AuditStatus['held'] {
    return [...this.holds].map(([by, h]) => ({ by, since: h.since, error: h.error }));
  }

  /** Records a failure; `lost`: how many events did not reach the file (0 for an fsync failure). */
  fail(error: string, lost: number): WriteResult {
    if (this.failing === null) {
      this.failing = { since: this.deps.now(), error, lost: 0 };
      this.deps.logger.error({ error, policy: this.deps.policy }, 'audit: writes failing');
      this.noteHealth();
    }
    this.failing.error = error;
    if (lost > 0) {
      this.failing.lost += lost;
      this.lostTotal += lost;
      this.deps.metrics?.lostEvents.inc(lost);
    }
    this.deps.metrics?.writeFailures.inc();
    return { ok: false, error };
  }

  /**
   * A failed fdatasync: its lines are in the file, not lost, but may not survive power loss — and Linux marks
   * the pages that failed to sync clean, so the next fdatasync of the same descriptor "succeeds" without them.
   * Until the audit.gap that ends the failure is written, nothing may vouch for those lines: no checkpoint is
   * signed and the durability watermark stays where it was [IEC 62443-3-3 SR 2.10, SR 2.12].
   */
  failSync(error: string): WriteResult {
    const r = this.fail(error, 0);
    this.failing!.syncFailed = true;
    return r;
  }

  /** An fdatasync failed and no audit.gap has ended that failure yet. */
  get syncFailing(): boolean {
    return this.failing?.syncFailed === true;
  }

  /** The audit.gap naming the failure is in the file: writes work again. */
  recovered(): void {
    const f = this.failing;
    if (f === null) return;
    this.failing = null;
    this.deps.logger.info({ lost: f.lost, since: f.since }, 'audit: writes recovered');
    this.noteHealth();
  }

  /** See AuditLog.holdFailure: a repeated hold only updates the error. */
  hold(by: string, error: string): void {
    const held = this.holds.get(by);
    if (held !== undefined) {
      held.error = error;
      return;
    }
    this.holds.set(by, { since: this.deps.now(), error });
    this.deps.logger.error({ by, error, policy: this.deps.policy }, 'audit: held failing');
    this.deps.metrics?.held.set({ by }, 1);
    this.noteHealth();
  }

  /** Ends a hold; unknown names are ignored. */
  release(by: string): void {
    const held = this.holds.get(by);
    if (held === undefined) return;
    this.holds.delete(by);
    this.deps.logger.info({ by, since: held.since }, 'audit: hold released');
    this.deps.metrics?.held.set({ by }, 0);
    this.noteHealth();
  }

  /** verigate_audit_healthy: 0 while writes fail or an exporter holds the log failing. */
  private noteHealth(): void {
    this.deps.metrics?.healthy.set(this.clear ? 1 : 0);
  }
}
