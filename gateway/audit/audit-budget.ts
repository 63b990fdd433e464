/**
 * The audit store's capacity budget [IEC 62443-3-3 SR 2.9 audit storage capacity; SR 7.1 DoS protection]:
 * the total bytes of the segment files in the audit directory, against `audit.capacityBytes`.
 * - warning threshold (`warnPercent` of capacity): reported once per crossing (log, metric, audit event);
 * - reserve: traffic of peers without rights (audit-throttle.ts) may use the store only up to
 *   capacity − reserve; past that it is summarized only, so the reserve stays for authorised decisions;
 * - capacity: a write that would pass it fails like a full disk (the failure policy applies).
 * The count is kept in memory (+ each line written) and re-read from the directory periodically, so
 * segments an operator archives away give their space back.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SEGMENT_RE } from './audit-segments.js';

export interface CapacityOptions {
  /** Total bytes the segment files may use. */
  readonly capacityBytes: number;
  /** Warn when usage reaches this percentage of capacity (default 80). */
  readonly warnPercent?: number;
  /** Bytes kept for authorised identities' events: unprivileged traffic stops at capacity − reserve. */
  readonly reserveBytes: number;
}

export interface CapacityStatus {
  readonly usedBytes: number;
  readonly capacityBytes: number;
  readonly warnBytes: number;
  readonly reserveBytes: number;
  /** Usage has reached capacity − reserve: unprivileged events are summarized only. */
  readonly reserveReached: boolean;
}

export const DEFAULT_WARN_PERCENT = 80;

/** Sum of the sizes of the segment files (`audit-<seq>.jsonl`) in `dir`. */
export function segmentBytesIn(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    if (!SEGMENT_RE.test(name)) continue;
    try {
      total += statSync(join(dir, name)).size;
    } catch {
      /* removed between readdir and stat (archived): it no longer counts */
    }
  }
  return total;
}

export class AuditBudget {
  private used: number;
  // Start un-warned: a gateway (re)started above the threshold announces it once more, as a reminder.
  private warned = false;
  private reserveNoted = false;

  constructor(
    private readonly dir: string,
    readonly opts: CapacityOptions,
  ) {
    this.used = segmentBytesIn(dir);
  }

  get usedBytes(): number {
    return this.used;
  }

  get warnBytes(): number {
    return Math.floor((this.opts.capacityBytes * (this.opts.warnPercent ?? DEFAULT_WARN_PERCENT)) / 100);
  }

  /** Would `bytes` more still fit within the capacity? */
  fits(bytes: number): boolean {
    return this.used + bytes <= this.opts.capacityBytes;
  }

  add(bytes: number): void {
    this.used += bytes;
  }

  /** Re-read the directory (archived segments free their space); `staged`: bytes counted but not yet written. */
  rescan(staged = 0): void {
    try {
      this.used = segmentBytesIn(this.dir) + staged;
    } catch {
      /* unreadable dir: keep the running count; the writes themselves will fail and say why */
    }
  }

  reserveReached(): boolean {
    return this.used >= this.opts.capacityBytes - this.opts.reserveBytes;
  }

  /** True once when usage crosses the warning threshold; re-armed when usage falls below it again. */
  crossedWarning(): boolean {
    const over = this.used >= this.warnBytes;
    const crossed = over && !this.warned;
    this.warned = over;
    return crossed;
  }

  /** Like crossedWarning() for the reserve line (for a log line, not an event: the summaries say it). */
  crossedReserve(): boolean {
    const over = this.reserveReached();
    const crossed = over && !this.reserveNoted;
    this.reserveNoted = over;
    return crossed;
  }

  status(): CapacityStatus {
    return {
      usedBytes: this.used,
      capacityBytes: this.opts.capacityBytes,
      warnBytes: this.warnBytes,
      reserveBytes: this.opts.reserveBytes,
      reserveReached: this.reserveReached(),
    };
  }
}
