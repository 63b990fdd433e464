/**
 * The tamper-evident audit log: append-only JSONL segments in one directory, each event
 * `{ seq, time, type, ...fields, prev, hash }` chained by SHA-256 over canonical JSON, with signed
 * checkpoints in `checkpoints.jsonl` [IEC 62443-3-3 SR 2.8–2.10, 2.12; docs/architecture.md].
 *
 * Group commit (group-commit.ts): append() renders and chains the event at once (seq and hash keep one total
 * order) and stages it; when the event-loop turn ends, the staged events are written with one write(2) (see
 * segment-writer.ts) and only then released: `committed(seq)` resolves, subscribers see them. The pipelines
 * answer a request only after its event is committed, and forward a write only after its write-ahead decision
 * is, so the fail-closed promise holds [IEC 62443-3-3 SR 2.10] at one syscall per turn instead of one per event.
 * This file is the log's lifecycle and public API around that core: open and recovery, close, housekeeping
 * timers, status, failure holds, subscriptions; audit-log-parts.ts builds and wires the collaborators.
 */
import { mkdirSync } from 'node:fs';
import { GatewayError, errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Checkpoint } from './audit-checkpoint.js';
import type { AuditEventInput, AuditSink, WriteResult } from './audit-events.js';
import type { CapacityStatus } from './audit-budget.js';
import type { CapacityWatch } from './capacity-watch.js';
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
import { buildAuditLogParts } from './audit-log-parts.js';
import { recoverDir } from './audit-recovery.js';
import type { AuditCheckpointer } from './audit-checkpointer.js';
import type { DiskWatch } from './disk-watch.js';
import { SegmentWriter } from './segment-writer.js';
import type { AuditFailures } from './audit-failures.js';
import type { AuditSubscribers } from './audit-subscribers.js';
import type { AuditSync } from './audit-sync.js';
import type { GroupCommit } from './group-commit.js';
import { unrefTimer, type TimerHandle, type Timers } from '../timers.js';
export type { AuditLag, AuditLogOptions, AuditStatus, AuditSubscriber } from './audit-log-options.js';

export class AuditLog implements AuditSink {
  private closed = false;
  /** The periodic work armed by startTimers() (cleared on close). */
  private readonly armed: TimerHandle[] = [];
  private readonly logger: Logger;
  private readonly timers: Timers;
  private readonly failures: AuditFailures;
  private readonly sync: AuditSync;
  private readonly checkpoints: AuditCheckpointer;
  private readonly disk: DiskWatch;
  private readonly capacityWatch: CapacityWatch | null;
  private readonly subscribers: AuditSubscribers;
  private readonly commit: GroupCommit;

  private constructor(
    private readonly opts: AuditLogOptions,
    private readonly writer: SegmentWriter,
    state: { lastSeq: number; lastHash: string; lastCheckpointSeq: number },
  ) {
    const parts = buildAuditLogParts(opts, writer, state, () => this.closed);
    ({
      logger: this.logger,
      timers: this.timers,
      failures: this.failures,
      sync: this.sync,
      checkpoints: this.checkpoints,
      disk: this.disk,
      capacityWatch: this.capacityWatch,
      subscribers: this.subscribers,
      commit: this.commit,
    } = parts);
  }

  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    let log: AuditLog;
    try {
      mkdirSync(opts.dir, { recursive: true, mode: 0o750 });
      const state = recoverDir(opts.dir, { refuseLostHead: true });
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
    return this.commit.append(input);
  }

  /**
   * Resolves true once the event `seq` (from append) is in the file, false if its batch failed. null (an
   * event summarized instead of written) and events already written resolve true at once.
   */
  committed(seq: number | null): Promise<boolean> {
    return this.commit.committed(seq);
  }

  /** Writes the staged events now (normally at the end of the turn). true when everything staged is in the file. */
  flush(): boolean {
    return this.commit.flush();
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
      lastSeq: this.commit.lastSeq,
      unsyncedEvents: this.sync.unsynced(),
      eventsSinceCheckpoint: this.checkpoints.eventsSinceCheckpoint,
      lastCheckpointSeq: this.checkpoints.lastCheckpointSeq,
    };
  }

  /**
   * The highest seq that survives a power cut: fdatasync'ed (audit-sync.ts; under fsync `never`, written). What
   * leaves the box (the fleet's edge copy) goes only this far. Subscribers with `durable` learn when it rises.
   */
  durableSeq(): number {
    return this.sync.durableSeq();
  }

  /** The chain head in the file (staged events are written first). */
  head(): { seq: number; hash: string } {
    this.flush();
    return { seq: this.commit.lastSeq, hash: this.commit.lastHash };
  }

  /**
   * Events (after they are in the file) and checkpoints, e.g. for SIEM exporters. With `fromSeq`, stored
   * events from that seq up to the head are replayed first (synchronously), then live ones follow, with no
   * gap and no overlap. Returns unsubscribe.
   */
  subscribe(s: AuditSubscriber, opts: { fromSeq?: number } = {}): () => void {
    this.flush();
    return this.subscribers.add(s, opts.fromSeq, this.commit.lastSeq);
  }

  /** Sign a checkpoint over the current head now (no-op without a signer or new events). */
  checkpointNow(): Checkpoint | null {
    return this.checkpoints.now();
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
    const r = this.commit.writeNow(input);
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
      if (this.failures.current !== null && !this.closed) this.commit.writeGap();
    });
    if (this.opts.minFreeBytes !== undefined) every(this.opts.diskCheckMs ?? 10_000, () => void this.disk.check());
    const watch = this.capacityWatch;
    if (watch !== null) every(this.opts.diskCheckMs ?? 10_000, () => watch.rescan(this.commit.stagedBytes));
  }
}
