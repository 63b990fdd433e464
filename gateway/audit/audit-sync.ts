/**
 * The audit log's fdatasync watermark: the highest seq known to be durable, raised by the `always` policy's
 * sync after each batch, by the `interval` policy's background sync and by checkpoints. A watermark (max, never
 * a count) so syncs that overlap never count an event twice; `unsynced()` is the `audit lag` gauge.
 *
 * `durableSeq()` is what may leave the box (the fleet publisher copies events only up to it): an event another
 * system holds but the disk lost in a power cut would make the local chain, rebuilt from the disk, fork from
 * the copy. Under `never` nothing is fdatasync'ed on purpose (tests, tmpfs): written counts as durable there,
 * and a copy ahead of the disk after a power cut is caught when publishing resumes (fleet/audit-resume.ts).
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SegmentWriter } from './segment-writer.js';

export interface AuditSyncDeps {
  readonly writer: Pick<SegmentWriter, 'sync' | 'syncAsync'>;
  /** The highest seq in the file: what a sync started now covers. */
  readonly writtenSeq: () => number;
  /** Reports a failed fdatasync (its lines are in the file, not lost, but may not survive power loss). */
  readonly fail: (error: string) => void;
  /** A failed fdatasync stands (AuditFailures.syncFailing): a later "successful" one proves nothing. */
  readonly syncFailing: () => boolean;
  readonly logger: Logger;
  readonly isClosed: () => boolean;
  /** fsync `never`: written counts as durable (nothing would ever raise the watermark otherwise). */
  readonly writtenIsDurable: boolean;
  /** The watermark rose to `seq` (the log's subscribers learn it). */
  readonly advanced: (seq: number) => void;
}

export class AuditSync {
  private syncedSeq = 0;
  /** A rise now() made during a group-commit flush, told to the subscribers once the batch settled (notifyDurable). */
  private pendingAdvance: number | null = null;

  constructor(private readonly deps: AuditSyncDeps) {}

  /** Events written but not yet fdatasync'ed. */
  unsynced(): number {
    return Math.max(0, this.deps.writtenSeq() - this.syncedSeq);
  }

  /** The highest seq that survives a power cut (see the file comment for `never`). */
  durableSeq(): number {
    return this.deps.writtenIsDurable ? this.deps.writtenSeq() : this.syncedSeq;
  }

  /**
   * Everything up to `upTo` is durable (a sync that succeeded). Not while a failed fdatasync stands: Linux marked
   * the failed pages clean, so this sync may have "succeeded" without them; the `audit lag` gauge keeps counting
   * them until the audit.gap that ends the failure is written and a sync after it covers them. That sync then
   * raises the watermark past them too: the fleet publishes them although a power cut may have taken them
   * (nothing can tell which pages were lost); the trail's audit.gap records that their fdatasync failed.
   *
   * `deferred`: record the rise for notifyDurable() instead of telling the subscribers now.
   */
  synced(upTo: number, deferred = false): void {
    if (this.deps.syncFailing()) return;
    if (upTo <= this.syncedSeq) return;
    this.syncedSeq = upTo;
    if (this.deps.writtenIsDurable) return;
    // A rise told now subsumes one still deferred: delivering that later would move the subscribers back.
    this.pendingAdvance = deferred ? upTo : null;
    if (!deferred) this.deps.advanced(upTo);
  }

  /**
   * Tells the subscribers of the rise now() deferred. Group commit calls it at the end of flush(): a `durable`
   * subscriber that appends must find the batch settled and its events delivered (see group-commit.ts).
   */
  notifyDurable(): void {
    const seq = this.pendingAdvance;
    if (seq === null) return;
    this.pendingAdvance = null;
    this.deps.advanced(seq);
  }

  /**
   * fdatasync now (the `always` policy, after a batch); false, and the failure recorded, if it failed. The rise
   * of the watermark reaches the subscribers only through notifyDurable().
   */
  now(): boolean {
    const target = this.deps.writtenSeq();
    try {
      this.deps.writer.sync();
      this.synced(target, true);
      return true;
    } catch (err) {
      this.deps.fail(`audit: fsync failed: ${errorMessage(err)}`);
      return false;
    }
  }

  /**
   * After a write failure the segment writer has fdatasync'ed and closed the segment (or recorded that it could
   * not): were the lines written before the failure made durable?
   */
  afterFailure(): boolean {
    try {
      this.deps.writer.sync();
      return true;
    } catch {
      return false;
    }
  }

  /** The `interval` policy's tick: off the request path. */
  inBackground(): void {
    const target = this.deps.writtenSeq();
    if (target <= this.syncedSeq || this.deps.isClosed()) return;
    this.deps.writer.syncAsync((err) => {
      if (err === null) {
        this.synced(target);
        return;
      }
      // Linux marks pages that failed to sync as clean: a later fsync "succeeds" and the events are gone. So a
      // failed background fsync is a write failure: fail-closed denies until an audit.gap is written.
      this.deps.logger.error({ err: err.message }, 'audit: background fsync failed');
      this.deps.fail(`audit: fsync failed: ${err.message}`);
    });
  }
}
