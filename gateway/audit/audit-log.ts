/**
 * The tamper-evident audit log: append-only JSONL segments in one directory, each event
 * `{ seq, time, type, ...fields, prev, hash }` chained by SHA-256 over canonical JSON, with signed
 * checkpoints in `checkpoints.jsonl` [REFERENCES §6 tamper evidence; IEC 62443-3-3 SR 2.8–2.10, 2.12].
 * append() is synchronous (see segment-writer.ts for why and what it costs; audit-log-options.ts for fsync).
 */
import { mkdirSync } from 'node:fs';
import { GatewayError } from '../errors.js';
import { signCheckpoint, type Checkpoint } from './audit-checkpoint.js';
import type { AuditEventInput, AuditRecord, AuditSink, WriteResult } from './audit-events.js';
import { AuditBudget, type CapacityStatus } from './audit-budget.js';
import {
  DEFAULT_FSYNC_INTERVAL_MS,
  DEFAULT_SEGMENT_BYTES,
  describeFsync,
  fsyncIntervalMs,
  silentLogger,
  systemClock,
  type AuditLag,
  type AuditLogOptions,
  type AuditStatus,
  type AuditSubscriber,
} from './audit-log-options.js';
import { createAuditMetrics, type AuditMetrics } from './audit-metrics.js';
import { recoverDir } from './audit-recovery.js';
import { replayEvents } from './audit-replay.js';
import { buildRecord } from './build-record.js';
import { CheckpointFile } from './checkpoint-file.js';
import { DiskWatch } from './disk-watch.js';
import { SegmentWriter } from './segment-writer.js';
export type { AuditLag, AuditLogOptions, AuditStatus, AuditSubscriber, FsyncPolicy } from './audit-log-options.js';

interface Failure {
  readonly since: string;
  error: string;
  lost: number;
}

export class AuditLog implements AuditSink {
  private lastSeq: number;
  private lastHash: string;
  private unsynced = 0;
  private sinceCheckpoint = 0;
  private lastCheckpointSeq: number;
  private failure: Failure | null = null;
  private totalLost = 0;
  private closed = false;
  private checkpointQueued = false;
  private readonly cpFile: CheckpointFile;
  private readonly disk: DiskWatch;
  private readonly budget: AuditBudget | null;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly subscribers = new Set<AuditSubscriber>();
  private readonly metrics: AuditMetrics | null;

  private constructor(
    private readonly opts: AuditLogOptions,
    private readonly writer: SegmentWriter,
    state: { lastSeq: number; lastHash: string; lastCheckpointSeq: number },
  ) {
    this.lastSeq = state.lastSeq;
    this.lastHash = state.lastHash;
    this.lastCheckpointSeq = state.lastCheckpointSeq;
    this.sinceCheckpoint = state.lastSeq - state.lastCheckpointSeq;
    this.metrics = opts.registry === undefined ? null : createAuditMetrics(opts.registry);
    this.metrics?.healthy.set(1);
    this.cpFile = new CheckpointFile(opts.dir);
    this.disk = new DiskWatch(opts.dir, opts.minFreeBytes, this.logger, (b) => this.metrics?.diskFreeBytes.set(b));
    this.budget = opts.capacity === undefined ? null : new AuditBudget(opts.dir, opts.capacity);
    this.metrics?.capacityBytes.set(opts.capacity?.capacityBytes ?? 0);
    this.metrics?.usedBytes.set(this.budget?.usedBytes ?? 0);
  }

  static async open(opts: AuditLogOptions): Promise<AuditLog> {
    let log: AuditLog;
    try {
      mkdirSync(opts.dir, { recursive: true, mode: 0o750 });
      const state = recoverDir(opts.dir);
      log = new AuditLog(opts, new SegmentWriter(opts.dir, opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES, state.current), state);
      for (const r of state.repairs) {
        log.logger.warn({ file: r.file, truncatedBytes: r.truncatedBytes, reason: r.reason }, 'audit: torn tail cut on open');
        log.mustAppend({ type: 'audit.recovered', file: r.file, truncatedBytes: r.truncatedBytes, discardedSha256: r.discardedSha256, lastGoodSeq: r.lastGoodSeq, reason: r.reason });
      }
    } catch (err) {
      if (err instanceof GatewayError) throw err;
      throw new GatewayError('GW_ERR_AUDIT_WRITE', `audit: cannot open audit log in ${opts.dir}: ${(err as Error).message}`, { cause: err });
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
    log.noteCapacity();
    log.startTimers();
    return log;
  }

  /** Synchronous; never throws. `{ ok: false }` means the event is NOT in the log. */
  append(input: AuditEventInput): WriteResult {
    if (this.closed) return { ok: false, error: 'audit: log is closed' };
    if (this.failure !== null && !this.writeGap()) return this.fail(this.failure!.error, true);
    const r = this.writeEvent(input);
    if (r.ok) this.noteCapacity();
    return r;
  }

  /** The capacity budget now, or null when none is configured. */
  capacity(): CapacityStatus | null {
    return this.budget?.status() ?? null;
  }

  /**
   * Has the store reached capacity − reserve? Then events of peers without rights are summarized only
   * (audit-throttle.ts), so the reserve stays for authorised decisions [IEC 62443-3-3 SR 2.9].
   */
  reserveReached(): boolean {
    return this.budget?.reserveReached() ?? false;
  }

  /** May the data path go on? false while writes fail under `fail-closed` (the gateway then denies). */
  healthy(): boolean {
    if (this.closed) return false;
    return this.failure === null || this.opts.failurePolicy === 'continue';
  }

  status(): AuditStatus {
    return {
      writing: this.failure === null && !this.closed, lastError: this.failure?.error ?? null, lostEvents: this.totalLost,
      diskLow: this.disk.low, diskFreeBytes: this.disk.freeBytes, capacity: this.capacity(),
    };
  }

  /** Events written but not yet fdatasync'ed (0 under fsync 'always'): the gateway's `audit lag` gauge. */
  lag(): number {
    return this.unsynced;
  }

  lagDetail(): AuditLag {
    return { lastSeq: this.lastSeq, unsyncedEvents: this.unsynced, eventsSinceCheckpoint: this.sinceCheckpoint, lastCheckpointSeq: this.lastCheckpointSeq };
  }

  head(): { seq: number; hash: string } {
    return { seq: this.lastSeq, hash: this.lastHash };
  }

  /**
   * Events (after they are in the file) and checkpoints, e.g. for SIEM exporters. With `fromSeq`, stored
   * events from that seq up to the head are replayed first (synchronously), then live ones follow, with no
   * gap and no overlap. Returns unsubscribe.
   */
  subscribe(s: AuditSubscriber, opts: { fromSeq?: number } = {}): () => void {
    if (opts.fromSeq !== undefined && opts.fromSeq <= this.lastSeq && s.event !== undefined) {
      const deliver = s.event.bind(s);
      replayEvents(this.opts.dir, opts.fromSeq, this.lastSeq, (r) => safe(() => deliver(r), this.logger));
    }
    this.subscribers.add(s);
    return () => this.subscribers.delete(s);
  }

  /** Sign a checkpoint over the current head now (no-op without a signer or new events). */
  checkpointNow(): Checkpoint | null {
    const signer = this.opts.checkpoint?.signer;
    if (signer === undefined || this.sinceCheckpoint === 0 || this.lastSeq === 0) return null;
    try {
      this.writer.sync(); // a checkpoint must never name an event that is not on disk
      this.unsynced = 0;
      const cp = signCheckpoint({ seq: this.lastSeq, headHash: this.lastHash, time: this.now() }, signer);
      this.cpFile.append(cp);
      this.lastCheckpointSeq = cp.seq;
      this.sinceCheckpoint = 0;
      this.metrics?.checkpoints.inc();
      for (const s of this.subscribers) safe(() => s.checkpoint?.(cp), this.logger);
      return cp;
    } catch (err) {
      this.metrics?.checkpointFailures.inc();
      this.logger.error({ err: (err as Error).message }, 'audit: checkpoint failed');
      return null;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.checkpointNow();
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    try {
      this.writer.close();
    } catch (err) {
      this.logger.error({ err: (err as Error).message }, 'audit: final fsync failed');
    }
    this.cpFile.close();
  }

  private get logger() {
    return this.opts.logger ?? silentLogger;
  }

  private now(): string {
    return new Date((this.opts.clock ?? systemClock).now()).toISOString();
  }

  /** Write and commit one event; a failure is counted by the caller (fail()). */
  private tryWrite(input: AuditEventInput): { ok: true; seq: number } | { ok: false; error: string; lost: boolean } {
    const rec = buildRecord(input, { seq: this.lastSeq + 1, time: this.now(), prev: this.lastHash, values: this.opts.values ?? 'include' });
    const bytes = Buffer.byteLength(rec.line, 'utf8') + 1;
    if (this.budget !== null && !this.budget.fits(bytes)) {
      // A full budget is a full disk: the failure policy applies [IEC 62443-3-3 SR 2.9, SR 2.10].
      return { ok: false, error: `audit: capacity exhausted (${this.budget.usedBytes} of audit.capacityBytes ${this.budget.opts.capacityBytes} used)`, lost: true };
    }
    try {
      this.writer.write(rec.line, rec.record.seq);
    } catch (err) {
      return { ok: false, error: `audit: write failed: ${(err as Error).message}`, lost: true };
    }
    this.budget?.add(bytes);
    this.lastSeq = rec.record.seq;
    this.lastHash = rec.record.hash;
    this.unsynced++;
    this.sinceCheckpoint++;
    this.metrics?.events.inc();
    let synced: string | null = null;
    if (this.opts.fsync === 'always') {
      try {
        this.writer.sync();
        this.unsynced = 0;
      } catch (err) {
        synced = `audit: fsync failed: ${(err as Error).message}`;
      }
    }
    for (const s of this.subscribers) safe(() => s.event?.(rec.record), this.logger);
    this.maybeCheckpoint();
    // fsync failure: the line is in the file (not lost) but may not survive power loss; report failure.
    return synced === null ? { ok: true, seq: rec.record.seq } : { ok: false, error: synced, lost: false };
  }

  private writeEvent(input: AuditEventInput): WriteResult {
    const r = this.tryWrite(input);
    return r.ok ? r : this.fail(r.error, r.lost);
  }

  /** Record the failure; `lost` false when the event did reach the file (fsync failure). */
  private fail(error: string, lost: boolean): WriteResult {
    if (this.failure === null) {
      this.failure = { since: this.now(), error, lost: 0 };
      this.logger.error({ error, policy: this.opts.failurePolicy ?? 'fail-closed' }, 'audit: writes failing');
      this.metrics?.healthy.set(0);
    }
    this.failure.error = error;
    if (lost) {
      this.failure.lost++;
      this.totalLost++;
      this.metrics?.lostEvents.inc();
    }
    this.metrics?.writeFailures.inc();
    return { ok: false, error };
  }

  /** After a failure, the first successful write is an audit.gap naming what was lost. */
  private writeGap(): boolean {
    const f = this.failure!;
    this.budget?.rescan(); // an operator may have archived segments since: their space is free again
    const r = this.tryWrite({ type: 'audit.gap', lost: f.lost, since: f.since, error: f.error });
    if (!r.ok) {
      f.error = r.error;
      return false;
    }
    this.failure = null;
    this.logger.info({ lost: f.lost, since: f.since }, 'audit: writes recovered');
    this.metrics?.healthy.set(1);
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
    const r = this.writeEvent(input);
    if (!r.ok) throw new GatewayError('GW_ERR_AUDIT_WRITE', r.error);
  }

  private maybeCheckpoint(): void {
    const every = this.opts.checkpoint?.everyEvents;
    if (every === undefined || this.sinceCheckpoint < every || this.checkpointQueued) return;
    // Sign off the request path: the checkpoint then covers whatever the head is a moment later.
    this.checkpointQueued = true;
    setImmediate(() => {
      this.checkpointQueued = false;
      if (!this.closed) this.checkpointNow();
    });
  }

  private startTimers(): void {
    const every = (ms: number, fn: () => void) => this.timers.push(setInterval(fn, ms).unref());
    const ms = fsyncIntervalMs(this.opts.fsync ?? DEFAULT_FSYNC_INTERVAL_MS);
    if (ms !== null) every(ms, () => this.syncInBackground());
    const cpMs = this.opts.checkpoint?.everyMs;
    if (cpMs !== undefined) every(cpMs, () => this.checkpointNow());
    every(this.opts.retryMs ?? 1000, () => {
      if (this.failure !== null && !this.closed) this.writeGap();
    });
    if (this.opts.minFreeBytes !== undefined) every(this.opts.diskCheckMs ?? 10_000, () => void this.disk.check());
    if (this.budget !== null) {
      every(this.opts.diskCheckMs ?? 10_000, () => {
        this.budget?.rescan();
        this.noteCapacity();
      });
    }
  }

  /** Metric, and once per crossing: the warning (log + audit event) and the reserve line (log). */
  private noteCapacity(): void {
    const b = this.budget;
    if (b === null || this.closed) return;
    this.metrics?.usedBytes.set(b.usedBytes);
    if (b.crossedReserve()) {
      this.logger.warn({ ...b.status() }, 'audit: store past capacity − reserve: events of peers without rights are summarized only [IEC 62443-3-3 SR 2.9]');
    }
    if (!b.crossedWarning()) return;
    const s = b.status();
    this.logger.warn({ ...s }, 'audit: store above its warning threshold [IEC 62443-3-3 SR 2.9]');
    this.writeEvent({ type: 'audit.capacity-warning', usedBytes: s.usedBytes, warnBytes: s.warnBytes, capacityBytes: s.capacityBytes, reserveBytes: s.reserveBytes });
  }

  private syncInBackground(): void {
    if (this.unsynced === 0 || this.closed) return;
    const covered = this.unsynced;
    this.writer.syncAsync((err) => {
      if (err === null) {
        this.unsynced = Math.max(0, this.unsynced - covered);
        return;
      }
      // Linux marks pages that failed to sync as clean: a later fsync "succeeds" and the events are gone. So a
      // failed background fsync is a write failure: fail-closed denies until an audit.gap is written.
      this.logger.error({ err: err.message }, 'audit: background fsync failed');
      this.fail(`audit: fsync failed: ${err.message}`, false);
    });
  }
}

function safe(fn: () => void, logger: { error(o: object, m?: string): void }): void {
  try {
    fn();
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'audit: subscriber threw');
  }
}
