/**
 * The audit log's collaborators, built and wired to each other in one place: the metrics, the failure state,
 * the fdatasync watermark, the checkpointer, the disk and capacity watches, the subscribers and the group
 * commit. Each gets the others it needs through small callbacks, so none holds the log itself; audit-log.ts
 * keeps the lifecycle (open, close, timers) and the public API over them.
 */
import { nullLogger, type Logger } from '../logger.js';
import { systemTimers, type Timers } from '../timers.js';
import { AuditBudget } from './audit-budget.js';
import { AuditCheckpointer, type CheckpointHost } from './audit-checkpointer.js';
import { AuditFailures } from './audit-failures.js';
import type { AuditLogOptions } from './audit-log-options.js';
import { createAuditMetrics } from './audit-metrics.js';
import { AuditSubscribers } from './audit-subscribers.js';
import { AuditSync } from './audit-sync.js';
import { CapacityWatch } from './capacity-watch.js';
import { DiskWatch } from './disk-watch.js';
import { EventClock } from './event-clock.js';
import { GroupCommit } from './group-commit.js';
import type { SegmentWriter } from './segment-writer.js';

export interface AuditLogParts {
  readonly logger: Logger;
  readonly timers: Timers;
  readonly failures: AuditFailures;
  readonly sync: AuditSync;
  readonly checkpoints: AuditCheckpointer;
  readonly disk: DiskWatch;
  /** The capacity budget and what it reports, when `capacity` is configured. */
  readonly capacityWatch: CapacityWatch | null;
  readonly subscribers: AuditSubscribers;
  /** The chain head and the turn's staged events. */
  readonly commit: GroupCommit;
}

/** `isClosed`: the log's own state, read by the sync and the checkpointer before they act. */
export function buildAuditLogParts(
  opts: AuditLogOptions,
  writer: SegmentWriter,
  state: { lastSeq: number; lastHash: string; lastCheckpointSeq: number },
  isClosed: () => boolean,
): AuditLogParts {
  const logger = opts.logger ?? nullLogger;
  const timers = opts.timers ?? systemTimers;
  const clock = new EventClock(timers);
  const now = () => clock.now();
  const metrics = opts.registry === undefined ? null : createAuditMetrics(opts.registry);
  metrics?.healthy.set(1);
  const failures = new AuditFailures({ logger, metrics, policy: opts.failurePolicy ?? 'fail-closed', now });
  const sync: AuditSync = new AuditSync({
    writer,
    writtenSeq: () => commit.writtenSeq,
    fail: (error) => void failures.failSync(error),
    syncFailing: () => failures.syncFailing,
    logger,
    isClosed,
    writtenIsDurable: opts.fsync === 'never',
    advanced: (seq) => subscribers.durable(seq),
  });
  const subscribers = new AuditSubscribers(opts.dir, logger);
  const host: CheckpointHost = {
    writtenHead: () => {
      // A subscriber called while the first flush publishes may append: the second flush writes that too, so
      // the chain head returned is the file's head (what is staged is written or rolled back).
      commit.flush();
      commit.flush();
      return { seq: commit.lastSeq, hash: commit.lastHash };
    },
    syncNow: () => writer.sync(),
    syncAsync: (done) => writer.syncAsync(done),
    synced: (upTo) => sync.synced(upTo),
    syncTarget: () => commit.writtenSeq,
    syncFailing: () => failures.syncFailing,
    time: now,
    published: (cp) => subscribers.checkpoint(cp),
    isClosed,
  };
  const checkpoints = new AuditCheckpointer(
    opts.dir,
    opts.checkpoint,
    host,
    { failed: () => metrics?.checkpointFailures.inc(), signed: () => metrics?.checkpoints.inc(), logger },
    state,
  );
  const disk = new DiskWatch(opts.dir, opts.minFreeBytes, logger, (b) => metrics?.diskFreeBytes.set(b));
  const capacityWatch =
    opts.capacity === undefined
      ? null
      : new CapacityWatch(new AuditBudget(opts.dir, opts.capacity), {
          metrics,
          logger,
          warn: (event) => void commit.stage(event),
        });
  if (capacityWatch === null) {
    metrics?.capacityBytes.set(0);
    metrics?.usedBytes.set(0);
  }
  // Built last. The callbacks above read `commit` only once the log runs: none of the constructors above calls
  // them (a call during construction would throw a ReferenceError here, not misbehave silently).
  const commit: GroupCommit = new GroupCommit(
    {
      writer,
      failures,
      sync,
      capacity: capacityWatch,
      metrics,
      opts,
      now,
      written: (lines) => {
        subscribers.written(lines);
        if (lines.length > 0) checkpoints.noteWritten(lines.length);
        if (lines.length > 0 && opts.fsync === 'never') subscribers.durable(lines[lines.length - 1]!.seq);
      },
    },
    state,
  );
  return { logger, timers, failures, sync, checkpoints, disk, capacityWatch, subscribers, commit };
}
