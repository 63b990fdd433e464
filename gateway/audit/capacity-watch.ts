/**
 * What the audit log tells operators about its capacity budget (audit-budget.ts) [IEC 62443-3-3 SR 2.9]: the
 * used-bytes gauge, a log line when usage reaches capacity − reserve, and, once per crossing of the warning
 * threshold, a log line and an `audit.capacity-warning` event (staged by the log through `warn`).
 */
import type { Logger } from '../logger.js';
import type { AuditBudget } from './audit-budget.js';
import type { AuditMetrics } from './audit-metrics.js';
import type { AuditEventInput } from './audit-events.js';

export interface CapacityWatchDeps {
  readonly metrics: AuditMetrics | null;
  readonly logger: Logger;
  /** Stages the warning event in the log (it counts against the budget like any other). */
  readonly warn: (event: AuditEventInput) => void;
}

export class CapacityWatch {
  constructor(
    readonly budget: AuditBudget,
    private readonly deps: CapacityWatchDeps,
  ) {
    deps.metrics?.capacityBytes.set(budget.opts.capacityBytes);
    this.publishUsed();
  }

  /** The refusal's text when `bytes` more would pass the capacity, else null. */
  exhausted(bytes: number): string | null {
    if (this.budget.fits(bytes)) return null;
    return `audit: capacity exhausted (${this.budget.usedBytes} of audit.capacityBytes ${this.budget.opts.capacityBytes} used)`;
  }

  /** A line was staged: counted at once, so capacity and the reserve see this turn's events too. */
  staged(bytes: number, type: string): void {
    this.budget.add(bytes);
    if (type !== 'audit.capacity-warning') this.note();
  }

  publishUsed(): void {
    this.deps.metrics?.usedBytes.set(this.budget.usedBytes);
  }

  /** The periodic re-read: segments an operator archived give their space back. */
  rescan(stagedBytes: number | undefined): void {
    this.budget.rescan(stagedBytes);
    this.publishUsed();
    this.note();
  }

  /** Once per crossing: the reserve line (log) and the warning (log + audit event). */
  note(): void {
    const b = this.budget;
    if (b.crossedReserve()) {
      this.deps.logger.warn(
        { ...b.status() },
        'audit: store past capacity − reserve: events of peers without rights are summarized only [IEC 62443-3-3 SR 2.9]',
      );
    }
    if (!b.crossedWarning()) return;
    const s = b.status();
    this.deps.logger.warn({ ...s }, 'audit: store above its warning threshold [IEC 62443-3-3 SR 2.9]');
    this.deps.warn({
      type: 'audit.capacity-warning',
      usedBytes: s.usedBytes,
      warnBytes: s.warnBytes,
      capacityBytes: s.capacityBytes,
      reserveBytes: s.reserveBytes,
    });
  }
}
