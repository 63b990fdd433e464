/**
 * Signed checkpoints over the audit chain's head [IEC 62443-3-3 SR 2.12 non-repudiation; evidence against
 * tail truncation]: every `everyEvents` events and every `everyMs`, appended to `checkpoints.jsonl`. A
 * checkpoint never names an event that is not on disk: the segment is fdatasync'ed first — in the thread pool
 * for the periodic ones (a synchronous flush every N events would stall every request of that turn), inline
 * for checkpointNow() (shutdown, tests). Nor does it vouch for lines whose fdatasync failed: while such a failure
 * stands (until the audit.gap that ends it), no checkpoint is signed, since the checkpoint's own fdatasync of
 * the same descriptor "succeeds" once Linux has marked the failed pages clean.
 */
import { signCheckpoint, type Checkpoint } from './audit-checkpoint.js';
import type { CheckpointSigner } from './checkpoint-signer.js';
import { CheckpointFile } from './checkpoint-file.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

/** What the checkpointer needs from the log it signs. */
export interface CheckpointHost {
  /** The chain head in the file, after writing whatever is staged. */
  writtenHead(): { seq: number; hash: string };
  syncNow(): void;
  syncAsync(done: (err: Error | null) => void): void;
  /** Every event up to seq `upTo` is now durable (a watermark: overlapping syncs never double-count). */
  synced(upTo: number): void;
  /** The seq a sync started now covers (the file's head). */
  syncTarget(): number;
  /** A failed fdatasync stands (AuditFailures.syncFailing): its lines may be gone, whatever a later sync says. */
  syncFailing(): boolean;
  time(): string;
  published(cp: Checkpoint): void;
  isClosed(): boolean;
}

export interface CheckpointOptions {
  readonly everyEvents?: number;
  readonly signer: CheckpointSigner;
}

export class AuditCheckpointer {
  private since: number;
  private last: number;
  private queued = false;
  private running = false;
  private readonly file: CheckpointFile;

  constructor(
    dir: string,
    private readonly opts: CheckpointOptions | undefined,
    private readonly host: CheckpointHost,
    private readonly report: { failed(): void; signed(): void; logger: Logger },
    state: { lastSeq: number; lastCheckpointSeq: number },
  ) {
    this.last = state.lastCheckpointSeq;
    this.since = state.lastSeq - state.lastCheckpointSeq;
    this.file = new CheckpointFile(dir, (err) => this.failed(err, 'audit: checkpoint fdatasync failed'));
  }

  get lastCheckpointSeq(): number {
    return this.last;
  }

  get eventsSinceCheckpoint(): number {
    return this.since;
  }

  /** `n` more events are in the file; past `everyEvents`, a background checkpoint follows this turn. */
  noteWritten(n: number): void {
    this.since += n;
    const every = this.opts?.everyEvents;
    if (every === undefined || this.since < every || this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      // `every` again, not "anything new": events written while the previous checkpoint's fdatasync ran
      // queue this turn too, and would otherwise get a checkpoint of their own right after it.
      if (!this.host.isClosed()) this.inBackground(every);
    });
  }

  /** Sign a checkpoint over the current head now (no-op without a signer or new events). */
  now(): Checkpoint | null {
    const head = this.host.writtenHead();
    if (!this.due(head.seq)) return null;
    if (this.host.syncFailing()) return this.refused();
    try {
      this.host.syncNow();
      this.host.synced(head.seq);
    } catch (err) {
      return this.failed(err, 'audit: checkpoint failed');
    }
    return this.sign(head);
  }

  /**
   * fdatasync in the thread pool, then sign over the head as it was when the sync started; only once at
   * least `minEvents` are unsigned (the periodic checkpoint: any).
   */
  inBackground(minEvents = 1): void {
    const head = this.host.writtenHead();
    if (this.running || this.since < minEvents || !this.due(head.seq)) return;
    if (this.host.syncFailing()) return void this.refused();
    const covered = this.host.syncTarget();
    this.running = true;
    this.host.syncAsync((err) => {
      this.running = false;
      if (this.host.isClosed()) return;
      if (err !== null) return void this.failed(err, 'audit: checkpoint failed');
      // Another fdatasync (the interval policy's) may have failed while this one ran: then this success proves nothing.
      if (this.host.syncFailing()) return void this.refused();
      this.host.synced(covered);
      const signed = head.seq > this.last ? this.sign(head) : null;
      // everyEvents more were written while this one synced: their checkpoint starts now (no write may follow).
      // Not after a failed signature: the next write or the timer retries, not a loop of fdatasyncs.
      const every = this.opts?.everyEvents;
      if (signed !== null && every !== undefined && this.since >= every) this.inBackground(every);
    });
  }

  close(): void {
    this.file.close();
  }

  private due(headSeq: number): boolean {
    return this.opts?.signer !== undefined && this.since > 0 && headSeq > 0;
  }

  private sign(head: { seq: number; hash: string }): Checkpoint | null {
    try {
      const cp = signCheckpoint({ seq: head.seq, headHash: head.hash, time: this.host.time() }, this.opts!.signer);
      this.file.append(cp);
      this.since = Math.max(0, this.since - (cp.seq - this.last));
      this.last = cp.seq;
      this.report.signed();
      this.host.published(cp);
      return cp;
    } catch (err) {
      return this.failed(err, 'audit: checkpoint failed');
    }
  }

  /** Counted and logged as a failed checkpoint: the trail has no signed head past the failure until it ends. */
  private refused(): null {
    return this.failed(
      new Error('an fdatasync failed and no audit.gap has ended that failure yet'),
      'audit: checkpoint refused',
    );
  }

  private failed(err: unknown, msg: string): null {
    this.report.failed();
    this.report.logger.error({ err: errorMessage(err) }, msg);
    return null;
  }
}
