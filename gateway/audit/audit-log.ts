/**
 * The tamper-evident audit log: append-only JSONL segments in one directory, each event
 * `{ seq, time, type, ...fields, prev, hash }` chained by SHA-256 over canonical JSON, with signed
 * checkpoints in `checkpoints.jsonl` [IEC 62443-3-3 SR 2.8–2.10, 2.12; docs/architecture.md].
 *
 * Group commit: append() renders and chains the event at once (seq and hash keep one total order) and stages
 * it; when the event-loop turn ends, the staged events are written with one write(2) (see segment-writer.ts)
 * and only then released: `committed(seq)` resolves, subscribers see them. The pipelines answer a request
 * only after its event is committed, and forward a write only after its write-ahead decision is, so the
 * fail-closed promise holds [IEC 62443-3-3 SR 2.10] at one syscall per turn instead of one per event.
 */
import { mkdirSync } from 'node:fs';
import { GatewayError, errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import type { Checkpoint } from './audit-checkpoint.js';
import type { AuditEventInput, AuditSink, WriteResult } from './audit-events.js';
import { AuditBudget, type CapacityStatus } from './audit-budget.js';
import { CapacityWatch } from './capacity-watch.js';
import {
  DEFAULT_FSYNC_INTERVAL_MS,
  DEFAULT_SEGMENT_BYTES,
  describeFsync,
  fsyncIntervalMs,
  type AuditLag,
  type AuditLogOptions,
  type AuditStatus,
  type AuditSubscriber,
} from './audit-log-options.js';
import { createAuditMetrics, type AuditMetrics } from './audit-metrics.js';
import { recoverDir } from './audit-recovery.js';
import { replayEvents } from './audit-replay.js';
import { PendingBatch, COMMITTED, NOT_COMMITTED } from './audit-batch.js';
import { buildLine, recordOf } from './build-record.js';
import { AuditCheckpointer, type CheckpointHost } from './audit-checkpointer.js';
import { DiskWatch } from './disk-watch.js';
import { LineBuffer } from './line-buffer.js';
import { SegmentWriter } from './segment-writer.js';
import { AuditFailures } from './audit-failures.js';
import { AuditSync } from './audit-sync.js';
import { systemTimers, unrefTimer, type TimerHandle, type Timers } from '../timers.js';
export type { AuditLag, AuditLogOptions, AuditStatus, AuditSubscriber } from './audit-log-options.js';

export class AuditLog implements AuditSink {
  private lastSeq: number;
  private lastHash: string;
  /** The highest seq in the file (lastSeq minus what is staged). */
  private writtenSeq: number;
  private batch: PendingBatch | null = null;
  /** The staged batch's lines, rendered back to back (empty while no batch is staged); reused batch after batch. */
  private readonly out = new LineBuffer();
  /** The seq of the audit.gap being written, while writeGap() runs. */
  private gapSeq: number | null = null;
  private isoAt = Number.NaN;
  private iso = '';
  private readonly failures: AuditFailures;
  private readonly sync: AuditSync;
  private closed = false;
  private readonly checkpoints: AuditCheckpointer;
  private readonly disk: DiskWatch;
  /** The capacity budget and what it reports, when `capacity` is configured. */
  private readonly capacityWatch: CapacityWatch | null;
  /** The periodic work armed by startTimers() (cleared on close). */
  private readonly armed: TimerHandle[] = [];
  private readonly subscribers = new Set<AuditSubscriber>();
  private readonly metrics: AuditMetrics | null;

  private constructor(
    private readonly opts: AuditLogOptions,
    private readonly writer: SegmentWriter,
    state: { lastSeq: number; lastHash: string; lastCheckpointSeq: number },
  ) {
    this.lastSeq = this.writtenSeq = state.lastSeq;
    this.lastHash = state.lastHash;
    this.metrics = opts.registry === undefined ? null : createAuditMetrics(opts.registry);
    this.metrics?.healthy.set(1);
    this.failures = new AuditFailures({
      logger: this.logger,
      metrics: this.metrics,
      policy: opts.failurePolicy ?? 'fail-closed',
      now: () => this.now(),
    });
    this.sync = new AuditSync({
      writer,
      writtenSeq: () => this.writtenSeq,
      fail: (error) => void this.failures.fail(error, 0),
      logger: this.logger,
      isClosed: () => this.closed,
    });
    this.checkpoints = new AuditCheckpointer(
      opts.dir,
      opts.checkpoint,
      this.checkpointHost(),
      {
        failed: () => this.metrics?.checkpointFailures.inc(),
        signed: () => this.metrics?.checkpoints.inc(),
        logger: this.logger,
      },
      state,
    );
    this.disk = new DiskWatch(opts.dir, opts.minFreeBytes, this.logger, (b) => this.metrics?.diskFreeBytes.set(b));
    this.capacityWatch =
      opts.capacity === undefined
        ? null
        : new CapacityWatch(new AuditBudget(opts.dir, opts.capacity), {
            metrics: this.metrics,
            logger: this.logger,
            warn: (event) => void this.stage(event),
          });
    if (this.capacityWatch === null) {
      this.metrics?.capacityBytes.set(0);
      this.metrics?.usedBytes.set(0);
    }
  }

  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    let log: AuditLog;
    try {
      mkdirSync(opts.dir, { recursive: true, mode: 0o750 });
      const state = recoverDir(opts.dir);
      log = new AuditLog(
        opts,
        new SegmentWriter(opts.dir, opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES, state.current),
        state,
      );
      for (const r of state.repairs) {
        log.logger.warn(
          { file: r.file, truncatedBytes: r.truncatedBytes, reason: r.reason },
          'audit: torn tail cut on open',
        );
        log.mustAppend({
          type: 'audit.recovered',
          file: r.file,
          truncatedBytes: r.truncatedBytes,
          discardedSha256: r.discardedSha256,
          lastGoodSeq: r.lastGoodSeq,
          reason: r.reason,
        });
      }
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError(
        'GW_ERR_AUDIT_WRITE',
        `audit: cannot open audit log in ${opts.dir}: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const fsync = opts.fsync ?? DEFAULT_FSYNC_INTERVAL_MS;
    log.mustAppendOrClose({
      type: 'audit.started',
      pid: process.pid,
      fsync: describeFsync(fsync),
      values: opts.values ?? 'include',
      segmentBytes: opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES,
      ...(opts.version === undefined ? {} : { version: opts.version }),
    });
    await log.disk.check();
    log.capacityWatch?.note();
    log.capacityWatch?.publishUsed();
    log.startTimers();
    return log;
  }

  /**
   * Synchronous; never throws. `{ ok: true, seq }`: the event is chained and staged; it is in the file once
   * `committed(seq)` resolves true (at the end of this turn). `{ ok: false }`: the event is NOT in the log.
   */
  append(input: AuditEventInput): WriteResult {
    if (this.closed) return { ok: false, error: 'audit: log is closed' };
    const failing = this.failures.current;
    if (failing !== null && !this.writeGap()) return this.failures.fail(failing.error, 1);
    return this.stage(input);
  }

  /**
   * Resolves true once the event `seq` (from append) is in the file, false if its batch failed. null (an
   * event summarized instead of written) and events already written resolve true at once.
   */
  committed(seq: number | null): Promise<boolean> {
    if (seq === null || seq <= this.writtenSeq) return COMMITTED;
    const b = this.batch;
    if (b === null || seq <= b.prevSeq) return NOT_COMMITTED; // staged in a batch that failed: lost
    return b.written().then((w) => seq <= w);
  }

  /** Writes the staged events now (normally at the end of the turn). true when everything staged is in the file. */
  flush(): boolean {
    const batch = this.batch;
    if (batch === null) return true;
    this.batch = null;
    const r = this.writer.writeBytes(this.out.buf, batch.lines);
    this.out.reset(); // written or rolled back: the next batch renders from the start
    const written = batch.lines.slice(0, r.written);
    let ok = r.error === null;
    if (written.length > 0) this.noteWritten(written);
    if (!ok) {
      const last = written.at(-1);
      this.capacityWatch?.budget.add(-(batch.bytes - written.reduce((n, l) => n + l.bytes, 0)));
      this.lastSeq = this.writtenSeq = last?.seq ?? batch.prevSeq; // the chain continues from what is in the file
      this.lastHash = last?.hash ?? batch.prevHash;
      // An audit.gap that failed again is not itself a lost event: it is retried with the count it carries.
      const gapLost = this.gapSeq !== null && this.gapSeq > (written.at(-1)?.seq ?? batch.prevSeq) ? 1 : 0;
      this.failures.fail(`audit: write failed: ${r.error!.message}`, batch.lines.length - written.length - gapLost);
    } else if (this.opts.fsync === 'always') ok = this.sync.now();
    for (const line of written) this.publish(line);
    if (written.length > 0) this.checkpoints.noteWritten(written.length);
    this.capacityWatch?.publishUsed();
    // Waiters learn the highest seq that is in the file and, under fsync always, durable: after a failed
    // fdatasync nothing of this batch counts as committed (its lines are in the file, not safe from power loss).
    // Under fsync always, lines count as committed only once fdatasync'ed: a write failure after a rotation whose
    // fdatasync of the old segment failed, or a failed fdatasync of this batch, commits none of it.
    let durable = this.writtenSeq;
    if (this.opts.fsync === 'always' && !ok)
      durable = r.error !== null && this.sync.afterFailure() ? this.writtenSeq : batch.prevSeq;
    batch.settle(durable);
    return ok;
  }

  /** The capacity budget now, or null when none is configured. */
  capacity(): CapacityStatus | null {
    this.flush();
    return this.capacityWatch?.budget.status() ?? null;
  }

  /**
   * Has the store reached capacity − reserve? Then events of peers without rights are summarized only
   * (audit-throttle.ts), so the reserve stays for authorised decisions [IEC 62443-3-3 SR 2.9].
   */
  reserveReached(): boolean {
    return this.capacityWatch?.budget.reserveReached() ?? false;
  }

  /**
   * May the data path go on? false while writes fail, or an exporter holds the log failing, under
   * `fail-closed` (the gateway then denies).
   */
  healthy(): boolean {
    if (this.closed) return false;
    return this.failures.clear || this.opts.failurePolicy === 'continue';
  }

  /**
   * An exporter whose copy of the trail must not silently fall behind (the fleet's edge audit stream, full)
   * holds the log failing under its name: the failure policy applies as for a write failure [IEC 62443-3-3
   * SR 2.10] — under `fail-closed` healthy() is false (the gateway denies), under `continue` it serves and
   * alarms — and status() names it, until `releaseFailure(by)`. Events are still written to the file. A
   * repeated hold only updates the error.
   */
  holdFailure(by: string, error: string): void {
    this.failures.hold(by, error);
  }

  /** Ends a hold of holdFailure(); unknown names are ignored. */
  releaseFailure(by: string): void {
    this.failures.release(by);
  }

  status(): AuditStatus {
    this.flush();
    return {
      writing: this.failures.current === null && !this.closed,
      lastError: this.failures.lastError,
      held: this.failures.held(),
      lostEvents: this.failures.totalLost,
      diskLow: this.disk.low,
      diskFreeBytes: this.disk.freeBytes,
      capacity: this.capacity(),
    };
  }

  /** Events written but not yet fdatasync'ed (0 under fsync 'always'): the gateway's `audit lag` gauge. */
  lag(): number {
    return this.sync.unsynced();
  }

  lagDetail(): AuditLag {
    this.flush();
    return {
      lastSeq: this.lastSeq,
      unsyncedEvents: this.sync.unsynced(),
      eventsSinceCheckpoint: this.checkpoints.eventsSinceCheckpoint,
      lastCheckpointSeq: this.checkpoints.lastCheckpointSeq,
    };
  }

  /** The chain head in the file (staged events are written first). */
  head(): { seq: number; hash: string } {
    this.flush();
    return { seq: this.lastSeq, hash: this.lastHash };
  }

  /**
   * Events (after they are in the file) and checkpoints, e.g. for SIEM exporters. With `fromSeq`, stored
   * events from that seq up to the head are replayed first (synchronously), then live ones follow, with no
   * gap and no overlap. Returns unsubscribe.
   */
  subscribe(s: AuditSubscriber, opts: { fromSeq?: number } = {}): () => void {
    this.flush();
    if (opts.fromSeq !== undefined && opts.fromSeq <= this.lastSeq && s.event !== undefined) {
      const deliver = s.event.bind(s);
      replayEvents(this.opts.dir, opts.fromSeq, this.lastSeq, (r) => safe(() => deliver(r), this.logger));
    }
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  /** Sign a checkpoint over the current head now (no-op without a signer or new events). */
  checkpointNow(): Checkpoint | null {
    return this.checkpoints.now();
  }

  private checkpointHost(): CheckpointHost {
    return {
      writtenHead: () => {
        // A subscriber called while the first flush publishes may append: the second flush writes that too, so
        // the chain head returned is the file's head (what is staged is written or rolled back).
        this.flush();
        this.flush();
        return { seq: this.lastSeq, hash: this.lastHash };
      },
      syncNow: () => this.writer.sync(),
      syncAsync: (done) => this.writer.syncAsync(done),
      synced: (upTo) => this.sync.synced(upTo),
      syncTarget: () => this.writtenSeq,
      time: () => this.now(),
      published: (cp) => {
        for (const s of this.subscribers) safe(() => s.checkpoint?.(cp), this.logger);
      },
      isClosed: () => this.closed,
    };
  }

  /** Promise-shaped like the other sinks' close(); the final flush and fsync run synchronously. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.flush();
    this.checkpointNow();
    this.closed = true;
    for (const t of this.armed) this.timers.clearTimeout(t);
    try {
      this.writer.close();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'audit: final fsync failed');
    }
    this.checkpoints.close();
    return Promise.resolve();
  }

  private get logger() {
    return this.opts.logger ?? nullLogger;
  }

  private get timers(): Timers {
    return this.opts.timers ?? systemTimers;
  }

  /** The event time as ISO 8601; the events of one millisecond share one string (many per ms under load). */
  private now(): string {
    const ms = this.timers.now();
    if (ms !== this.isoAt) {
      this.isoAt = ms;
      this.iso = new Date(ms).toISOString();
    }
    return this.iso;
  }

  /** Renders, chains and stages one event; the first of a turn schedules the flush. */
  private stage(input: AuditEventInput): WriteResult {
    const chain = {
      seq: this.lastSeq + 1,
      time: this.now(),
      prev: this.lastHash,
      values: this.opts.values ?? 'include',
    };
    const line = buildLine(input, chain, this.out);
    const exhausted = this.capacityWatch?.exhausted(line.bytes) ?? null;
    if (exhausted !== null) {
      // A full budget is a full disk: the failure policy applies [IEC 62443-3-3 SR 2.9, SR 2.10].
      this.out.rollback();
      return this.failures.fail(exhausted, this.gapSeq === null ? 1 : 0);
    }
    if (this.batch === null) {
      this.batch = new PendingBatch(this.lastSeq, this.lastHash);
      (this.opts.defer ?? setImmediate)(() => void this.flush());
    }
    this.out.commit();
    this.batch.add(line);
    this.lastSeq = line.seq;
    this.lastHash = line.hash;
    this.capacityWatch?.staged(line.bytes, input.type);
    return { ok: true, seq: line.seq };
  }

  /** Stage and write at once (open-time events, audit.gap): the caller needs the answer now. */
  private writeNow(input: AuditEventInput): WriteResult {
    const r = this.stage(input);
    if (!r.ok) return r;
    // A gap or start-up event counts only when its batch fully succeeded (under fsync always: also its fdatasync).
    return this.flush() ? r : { ok: false, error: this.failures.current?.error ?? 'audit: write failed' };
  }

  private noteWritten(written: readonly { seq: number; bytes: number }[]): void {
    this.writtenSeq = written.at(-1)!.seq;
    this.metrics?.events.inc(written.length);
  }

  private publish(line: Parameters<typeof recordOf>[0]): void {
    if (this.subscribers.size === 0) return;
    const rec = recordOf(line);
    for (const s of this.subscribers) safe(() => s.event?.(rec), this.logger);
  }

  /** After a failure, the first successful write is an audit.gap naming what was lost. */
  private writeGap(): boolean {
    const f = this.failures.current!;
    this.capacityWatch?.budget.rescan(this.batch?.bytes); // an operator may have archived segments since: their space is free again
    this.gapSeq = this.lastSeq + 1;
    const r = this.writeNow({ type: 'audit.gap', lost: f.lost, since: f.since, error: f.error });
    this.gapSeq = null;
    if (!r.ok) {
      f.error = r.error;
      return false;
    }
    this.failures.recovered();
    return true;
  }

  private mustAppendOrClose(input: AuditEventInput): void {
    try {
      this.mustAppend(input);
    } catch (err) {
      this.closed = true;
      try {
        this.writer.close();
      } catch {
        /* already failing */
      }
      throw err;
    }
  }

  /** For open-time events: failure here is a startup error. */
  private mustAppend(input: AuditEventInput): void {
    const r = this.writeNow(input);
    if (!r.ok) throw new GatewayError('GW_ERR_AUDIT_WRITE', r.error);
  }

  private startTimers(): void {
    // unref'ed: housekeeping never keeps a stopping process alive (close() clears them anyway)
    const every = (ms: number, fn: () => void) => this.armed.push(unrefTimer(this.timers.setInterval(fn, ms)));
    const ms = fsyncIntervalMs(this.opts.fsync ?? DEFAULT_FSYNC_INTERVAL_MS);
    if (ms !== null) every(ms, () => this.sync.inBackground());
    const cpMs = this.opts.checkpoint?.everyMs;
    if (cpMs !== undefined) every(cpMs, () => this.checkpoints.inBackground());
    every(this.opts.retryMs ?? 1000, () => {
      if (this.failures.current !== null && !this.closed) this.writeGap();
    });
    if (this.opts.minFreeBytes !== undefined) every(this.opts.diskCheckMs ?? 10_000, () => void this.disk.check());
    const watch = this.capacityWatch;
    if (watch !== null) every(this.opts.diskCheckMs ?? 10_000, () => watch.rescan(this.batch?.bytes));
  }
}

function safe(fn: () => void, logger: Logger): void {
  try {
    fn();
  } catch (err) {
    logger.error({ err: errorMessage(err) }, 'audit: subscriber threw');
  }
}
