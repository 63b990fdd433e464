/**
 * Options of AuditBlockPublisher (audit-block-publisher.ts) and their defaults: what it needs of the audit log
 * and the edge stream, and the bounds of a block and of the events held while publishing lags.
 */
import type { Registry } from 'prom-client';
import type { AuditSubscriber } from '../audit/audit-log-options.js';
import type { BackoffOptions } from '../backoff.js';
import type { Logger } from '../logger.js';
import type { Timers } from '../timers.js';
import type { AuditStreamPort } from './audit-stream-port.js';

/** What the publisher needs of the audit log (gateway/audit/audit-log.ts). */
export interface PublishedLog {
  subscribe(s: AuditSubscriber, opts?: { fromSeq?: number }): () => void;
  head(): { seq: number; hash: string };
  /** Events up to here survive a power cut: only they are published (AuditLog.durableSeq). */
  durableSeq(): number;
  holdFailure(by: string, error: string): void;
  releaseFailure(by: string): void;
}

export interface AuditBlockPublisherOptions {
  readonly site: string;
  readonly gateway: string;
  /** The audit directory (the log's segments), re-read while publishing lags. */
  readonly dir: string;
  readonly log: PublishedLog;
  readonly port: AuditStreamPort;
  readonly timers: Timers;
  readonly maxBlockEvents?: number;
  readonly maxBlockDelayMs?: number;
  /** Below the connection's max_payload (1 MiB by default); a single larger event still goes alone. */
  readonly maxBlockBytes?: number;
  readonly maxBufferedEvents?: number;
  readonly retry?: BackoffOptions;
  readonly logger?: Logger;
  readonly registry?: Registry;
}

/** The block and buffer bounds with their defaults applied. */
export interface PublisherLimits {
  readonly maxBlockEvents: number;
  readonly maxBlockDelayMs: number;
  readonly maxBlockBytes: number;
  /** At least a block's worth of events. */
  readonly maxBufferedEvents: number;
}

export function publisherLimits(opts: AuditBlockPublisherOptions): PublisherLimits {
  const maxBlockEvents = opts.maxBlockEvents ?? 256;
  return {
    maxBlockEvents,
    maxBlockDelayMs: opts.maxBlockDelayMs ?? 200,
    maxBlockBytes: opts.maxBlockBytes ?? 512 * 1024,
    maxBufferedEvents: Math.max(opts.maxBufferedEvents ?? 16 * maxBlockEvents, maxBlockEvents),
  };
}
