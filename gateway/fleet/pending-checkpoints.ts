/**
 * The signed checkpoints the block publisher (audit-block-publisher.ts) holds back until the block with the
 * event each names is stored in the edge stream. Kept apart from the publish loop because only their order and
 * bound matter here: each checkpoint covers all before it, so only the newest are kept, oldest first.
 */
import type { Checkpoint } from '../audit/audit-checkpoint.js';

/** Checkpoints waiting for their block: only the newest matter (each covers all before it). */
const MAX_PENDING_CHECKPOINTS = 64;

export class PendingCheckpoints {
  /** The seq the last checkpoint stored in the edge stream names (0: none). */
  private lastSeq = 0;
  private cps: Checkpoint[] = [];

  /** Queues a checkpoint newer than every stored or queued one; false when it is not. */
  add(cp: Checkpoint): boolean {
    if (cp.seq <= this.lastSeq || this.cps.some((c) => c.seq >= cp.seq)) return false;
    this.cps.push(cp);
    if (this.cps.length > MAX_PENDING_CHECKPOINTS) this.cps.shift(); // a newer one covers it
    return true;
  }

  /** The resume point: the seq the last checkpoint in the edge stream names. */
  resumeAfter(lastSeq: number): void {
    this.lastSeq = lastSeq;
  }

  /** Drops the checkpoints queued before the resume point was known that the edge stream already holds. */
  dropStored(): void {
    this.cps = this.cps.filter((c) => c.seq > this.lastSeq).sort((a, b) => a.seq - b.seq);
  }

  /** The oldest queued checkpoint once its event is published (`publishedSeq`), else undefined. */
  next(publishedSeq: number): Checkpoint | undefined {
    const cp = this.cps[0];
    return cp !== undefined && cp.seq <= publishedSeq ? cp : undefined;
  }

  /** The oldest (the one next() gave) is stored: it leaves the queue. */
  stored(seq: number): void {
    this.lastSeq = seq;
    this.cps.shift();
  }
}
