/**
 * The audit chain's head and its group commit: what audit-log.ts does for every event, apart from the log's
 * lifecycle (open, close, timers, status, subscribers).
 *
 * stage() renders and chains an event at once (seq and hash keep one total order) and stages it; when the
 * event-loop turn ends, flush() writes the staged events with one write(2) (segment-writer.ts) and only then
 * releases them: `committed(seq)` resolves, the log's subscribers see them. A failed write rolls the chain
 * back to what is in the file, and the next event written after it is an `audit.gap` naming what was lost
 * [IEC 62443-3-3 SR 2.10].
 */
import type { AuditEventInput, WriteResult } from './audit-events.js';
import type { AuditLogOptions } from './audit-log-options.js';
import type { AuditMetrics } from './audit-metrics.js';
import { PendingBatch, COMMITTED, NOT_COMMITTED } from './audit-batch.js';
import { buildLine, type BuiltLine } from './build-record.js';
import type { AuditFailures } from './audit-failures.js';
import type { AuditSync } from './audit-sync.js';
import type { CapacityWatch } from './capacity-watch.js';
import { LineBuffer } from './line-buffer.js';
import type { SegmentWriter } from './segment-writer.js';

export interface GroupCommitDeps {
  readonly writer: SegmentWriter;
  readonly failures: AuditFailures;
  readonly sync: Pick<AuditSync, 'now' | 'afterFailure' | 'notifyDurable'>;
  readonly capacity: CapacityWatch | null;
  readonly metrics: AuditMetrics | null;
  readonly opts: Pick<AuditLogOptions, 'values' | 'fsync' | 'defer'>;
  /** The event time, ISO 8601. */
  now(): string;
  /** The lines of one batch that are in the file, in order (publish them, count them toward a checkpoint). */
  written(lines: readonly BuiltLine[]): void;
}

export class GroupCommit {
  /** The chain head, staged events included (two fields: staging allocates no head object per event). */
  private headSeq: number;
  private headHash: string;
  /** The highest seq in the file (lastSeq minus what is staged). */
  private inFile: number;
  private batch: PendingBatch | null = null;
  /** The staged batch's lines, rendered back to back (empty while no batch is staged); reused batch after batch. */
  private readonly out = new LineBuffer();
  /** The seq of the audit.gap being written, while writeGap() runs. */
  private gapSeq: number | null = null;

  constructor(
    private readonly deps: GroupCommitDeps,
    state: { lastSeq: number; lastHash: string },
  ) {
    this.headSeq = this.inFile = state.lastSeq;
    this.headHash = state.lastHash;
  }

  /** The chain head, staged events included. */
  get lastSeq(): number {
    return this.headSeq;
  }

  get lastHash(): string {
    return this.headHash;
  }

  get writtenSeq(): number {
    return this.inFile;
  }

  /** Bytes staged and not yet written (a capacity rescan counts them as used). */
  get stagedBytes(): number | undefined {
    return this.batch?.bytes;
  }

  /** As AuditLog.append on an open log: after a failure, the audit.gap must be written first. */
  append(input: AuditEventInput): WriteResult {
    const failing = this.deps.failures.current;
    if (failing === null) return this.stage(input);
    if (this.gapSeq !== null) return this.duringGap(input, failing.error);
    if (!this.writeGap()) return this.deps.failures.fail(failing.error, 1);
    return this.stage(input);
  }

  /**
   * An append made while writeGap() is on the stack: an `event` subscriber shown the lines of the gap's batch
   * (flush() delivers them before writeGap() marks the failure ended). Writing a gap of its own would nest:
   * one more audit.gap per delivery, each delivered again. The gap in the file: the event follows it (the
   * failure is over but for writeGap's bookkeeping). Not in the file: the event is refused and counted, so
   * the next gap names it, and nothing is written behind a gap that is missing.
   */
  private duringGap(input: AuditEventInput, error: string): WriteResult {
    if (this.inFile >= this.gapSeq!) return this.stage(input);
    return this.deps.failures.fail(error, 1);
  }

  /** See AuditLog.committed. */
  committed(seq: number | null): Promise<boolean> {
    if (seq === null || seq <= this.inFile) return COMMITTED;
    const b = this.batch;
    if (b === null || seq <= b.prevSeq) return NOT_COMMITTED; // staged in a batch that failed: lost
    return b.written().then((w) => seq <= w);
  }

  /** Writes the staged events now (normally at the end of the turn). true when everything staged is in the file. */
  flush(): boolean {
    const batch = this.batch;
    if (batch === null) return true;
    this.batch = null;
    const { writer, failures, capacity, sync } = this.deps;
    const r = writer.writeBytes(this.out.buf, batch.lines);
    this.out.reset(); // written or rolled back: the next batch renders from the start
    const written = batch.lines.slice(0, r.written);
    let ok = r.error === null;
    if (written.length > 0) this.noteWritten(written);
    if (!ok) {
      const last = written.at(-1);
      capacity?.budget.add(-(batch.bytes - written.reduce((n, l) => n + l.bytes, 0)));
      this.headSeq = this.inFile = last?.seq ?? batch.prevSeq; // the chain continues from what is in the file
      this.headHash = last?.hash ?? batch.prevHash;
      // An audit.gap that failed again is not itself a lost event: it is retried with the count it carries.
      const gapLost = this.gapSeq !== null && this.gapSeq > (written.at(-1)?.seq ?? batch.prevSeq) ? 1 : 0;
      failures.fail(`audit: write failed: ${r.error!.message}`, batch.lines.length - written.length - gapLost);
    } else if (this.deps.opts.fsync === 'always') ok = sync.now();
    // Waiters learn the highest seq that is in the file and, under fsync always, durable: after a failed
    // fdatasync nothing of this batch counts as committed (its lines are in the file, not safe from power loss).
    // Under fsync always, lines count as committed only once fdatasync'ed: a write failure after a rotation whose
    // fdatasync of the old segment failed, or a failed fdatasync of this batch, commits none of it.
    let durable = this.inFile;
    if (this.deps.opts.fsync === 'always' && !ok)
      durable = r.error !== null && sync.afterFailure() ? this.inFile : batch.prevSeq;
    // Settled before the subscribers run: one that appends during a failed batch writes an audit.gap at the
    // seqs this batch lost, and read after it `inFile` would report those lost events committed. The `durable`
    // subscribers too (sync.now() only recorded the rise): they learn it last, after the events it covers, and
    // for an audit.gap only once writeGap() ended the failure (one appending then writes no second gap).
    batch.settle(durable);
    this.deps.written(written);
    capacity?.publishUsed();
    if (this.gapSeq === null) sync.notifyDurable();
    return ok;
  }

  /** Renders, chains and stages one event; the first of a turn schedules the flush. */
  stage(input: AuditEventInput): WriteResult {
    const chain = {
      seq: this.headSeq + 1,
      time: this.deps.now(),
      prev: this.headHash,
      values: this.deps.opts.values ?? 'include',
    };
    const line = buildLine(input, chain, this.out);
    const capacity = this.deps.capacity;
    const exhausted = capacity?.exhausted(line.bytes) ?? null;
    if (exhausted !== null) {
      // A full budget is a full disk: the failure policy applies [IEC 62443-3-3 SR 2.9, SR 2.10].
      this.out.rollback();
      // the audit.gap itself is no lost event (it is retried with its count); an event appended during it is
      return this.deps.failures.fail(exhausted, chain.seq === this.gapSeq ? 0 : 1);
    }
    if (this.batch === null) {
      this.batch = new PendingBatch(this.headSeq, this.headHash);
      (this.deps.opts.defer ?? setImmediate)(() => void this.flush());
    }
    this.out.commit();
    this.batch.add(line);
    this.headSeq = line.seq;
    this.headHash = line.hash;
    capacity?.staged(line.bytes, input.type);
    return { ok: true, seq: line.seq };
  }

  /** Stage and write at once (open-time events, audit.gap): the caller needs the answer now. */
  writeNow(input: AuditEventInput): WriteResult {
    const r = this.stage(input);
    if (!r.ok) return r;
    // A gap or start-up event counts only when its batch fully succeeded (under fsync always: also its fdatasync).
    return this.flush() ? r : { ok: false, error: this.deps.failures.current?.error ?? 'audit: write failed' };
  }

  /** After a failure, the first successful write is an audit.gap naming what was lost. */
  writeGap(): boolean {
    const f = this.deps.failures.current!;
    this.deps.capacity?.budget.rescan(this.batch?.bytes); // an operator may have archived segments since: their space is free again
    this.gapSeq = this.headSeq + 1;
    const r = this.writeNow({ type: 'audit.gap', lost: f.lost, since: f.since, error: f.error });
    this.gapSeq = null;
    if (!r.ok) f.error = r.error;
    else this.deps.failures.recovered();
    this.deps.sync.notifyDurable();
    return r.ok;
  }

  private noteWritten(written: readonly BuiltLine[]): void {
    this.inFile = written.at(-1)!.seq;
    this.deps.metrics?.events.inc(written.length);
  }
}
