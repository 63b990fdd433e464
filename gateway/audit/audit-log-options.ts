/**
 * Options of AuditLog.open and their defaults.
 *
 * fsync policy (durability vs request-path cost; every policy writes the events of an event-loop turn with one
 * write(2) at the turn's end (group commit) before any of them is acknowledged, so a gateway *process* crash
 * loses nothing acknowledged; the policy is about power loss / kernel crash):
 * - `'always'`: fdatasync after every batch. Nothing acknowledged is lost on power failure. Cost: one disk
 *   flush per turn's batch on the request path (≈0.1–10 ms depending on the disk).
 * - `'interval'` (default, 200 ms), `number` or `{ intervalMs }`: fdatasync off the request path every interval when there
 *   are unsynced events. Power loss loses at most the last interval; the torn tail is recovered on open and
 *   the next checkpoint exposes nothing, because checkpoints always fsync first (they never name an event
 *   that is not on disk).
 * - `'never'`: leave it to the kernel (≈30 s writeback). For tests and tmpfs.
 */
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';
import type { Checkpoint } from './audit-checkpoint.js';
import type { AuditRecord } from './audit-events.js';
import type { CapacityOptions, CapacityStatus } from './audit-budget.js';
import type { CheckpointSigner } from './checkpoint-signer.js';
import type { Timers } from '../timers.js';

export type FsyncPolicy = 'always' | 'never' | 'interval' | number | { readonly intervalMs: number };

export interface AuditLogOptions {
  readonly dir: string;
  /** Rotate the segment before it would grow beyond this (default 64 MiB). */
  readonly segmentBytes?: number;
  readonly fsync?: FsyncPolicy;
  readonly checkpoint?: { readonly everyEvents?: number; readonly everyMs?: number; readonly signer: CheckpointSigner };
  /** Written Modbus values in request.decision events: as is, or their SHA-256 (default 'include'). */
  readonly values?: 'include' | 'hash';
  /**
   * IEC 62443-3-3 SR 2.10 response to audit failure: `fail-closed` (default) makes healthy() false while
   * writes fail, so the gateway denies requests; `continue` keeps serving and raises the alarm (error log,
   * metrics, status()). Either way an `audit.gap` event records how many events were lost once writes work.
   */
  readonly failurePolicy?: 'fail-closed' | 'continue';
  /** Warn (log + status().diskLow + metric) when the audit filesystem has less free space [SR 2.9]. */
  readonly minFreeBytes?: number;
  /** How often free space is checked and the capacity budget re-read from the directory (default 10 s). */
  readonly diskCheckMs?: number;
  /** Capacity budget of the segment files [SR 2.9]; see audit-budget.ts. None: bounded by the disk only. */
  readonly capacity?: CapacityOptions;
  /** While failing, retry a write this often even when no events come (default 1000 ms). */
  readonly retryMs?: number;
  readonly logger?: Logger;
  /**
   * Event times (`now`, wall-clock epoch ms) and the periodic work: background fsync, checkpoints, write retry,
   * free-space and capacity checks (gateway/timers.ts; default systemTimers). Tests pass fake timers and advance.
   */
  readonly timers?: Timers;
  /**
   * How the end of an event-loop turn is awaited before staged events are written (group commit; default
   * setImmediate: after the I/O callbacks of this turn). Tests may pass a queue they drain themselves.
   */
  readonly defer?: (flush: () => void) => void;
  readonly registry?: Registry;
  /** Recorded in audit.started. */
  readonly version?: string;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_FSYNC_INTERVAL_MS = 200;

export function fsyncIntervalMs(p: FsyncPolicy): number | null {
  if (p === 'always' || p === 'never') return null;
  if (p === 'interval') return DEFAULT_FSYNC_INTERVAL_MS;
  return typeof p === 'number' ? p : p.intervalMs;
}

export function describeFsync(p: FsyncPolicy): string {
  if (p === 'always' || p === 'never') return p;
  return `interval:${fsyncIntervalMs(p)}ms`;
}

export interface AuditSubscriber {
  event?(rec: AuditRecord): void;
  checkpoint?(cp: Checkpoint): void;
  /** Events up to `seq` are now fdatasync'ed (under fsync `never`: written); AuditLog.durableSeq(). */
  durable?(seq: number): void;
}

export interface AuditLag {
  readonly lastSeq: number;
  /** Written but not yet fdatasync'ed (lost on power failure, not on process crash). */
  readonly unsyncedEvents: number;
  /** Not yet covered by a signed checkpoint (truncation of these would go unnoticed until the next one). */
  readonly eventsSinceCheckpoint: number;
  readonly lastCheckpointSeq: number;
}

export interface AuditStatus {
  readonly writing: boolean;
  /** The write failure, else the first exporter hold's error (holdFailure), else null. */
  readonly lastError: string | null;
  /** Exporters holding the log failing (AuditLog.holdFailure), e.g. `fleet-audit` while the edge stream is full. */
  readonly held: readonly { readonly by: string; readonly since: string; readonly error: string }[];
  readonly lostEvents: number;
  readonly diskLow: boolean;
  readonly diskFreeBytes: number | null;
  /** The capacity budget, when one is configured. */
  readonly capacity: CapacityStatus | null;
}
