/**
 * Who reads the audit log as it is written (SIEM exporters, the fleet publisher): each subscriber sees every
 * event once it is in the file, in seq order, and every signed checkpoint. A subscriber that throws is logged
 * and skipped; it never fails the write or another subscriber.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Checkpoint } from './audit-checkpoint.js';
import type { AuditSubscriber } from './audit-log-options.js';
import { replayEvents } from './audit-replay.js';
import { recordOf, type BuiltLine } from './build-record.js';

export class AuditSubscribers {
  private readonly subscribers = new Set<AuditSubscriber>();

  constructor(
    private readonly dir: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Adds `s`; with `fromSeq`, the stored events from that seq up to `headSeq` (the file's head) are replayed to
   * it first, synchronously, so live ones follow with no gap and no overlap. Returns unsubscribe.
   */
  add(s: AuditSubscriber, fromSeq: number | undefined, headSeq: number): () => void {
    if (fromSeq !== undefined && fromSeq <= headSeq && s.event !== undefined) {
      const deliver = s.event.bind(s);
      replayEvents(this.dir, fromSeq, headSeq, (r) => this.safe(() => deliver(r)));
    }
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  /** The lines of one batch that reached the file, in order. */
  written(lines: readonly BuiltLine[]): void {
    if (this.subscribers.size === 0) return;
    for (const line of lines) {
      const rec = recordOf(line);
      for (const s of this.subscribers) this.safe(() => s.event?.(rec));
    }
  }

  /** The log's durable watermark rose to `seq` (audit-sync.ts). */
  durable(seq: number): void {
    for (const s of this.subscribers) this.safe(() => s.durable?.(seq));
  }

  checkpoint(cp: Checkpoint): void {
    for (const s of this.subscribers) this.safe(() => s.checkpoint?.(cp));
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'audit: subscriber threw');
    }
  }
}
