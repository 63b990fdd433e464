/**
 * Publishes the gateway's audit trail to its site leaf's `AUDIT` stream (docs/fleet.md "Audit"): events, once
 * durable in the local file, grouped into blocks (≤ maxBlockEvents, ≤ maxBlockBytes, waiting ≤ maxBlockDelay
 * for more), each a JetStream publish with ack and `Nats-Msg-Id: blockMsgId(gateway, first, last)`; signed
 * checkpoints follow the block that holds the event they name. The local hash chain stays authoritative: this
 * is a copy that must not silently fall behind, nor run ahead: an edge copy of an event a power cut then takes
 * from the disk would fork the chain rebuilt from the disk (`AuditLog.durableSeq`: fdatasync'ed).
 *
 * - One message in flight, in order. A failed or unanswered publish is retried as the SAME message (backoff),
 *   so nothing is skipped, and the stream's duplicate window makes a re-send that was in fact stored harmless.
 * - Start: the last block stored for this gateway (last message on its subject) says where to resume; the log
 *   replays from there (`subscribe({ fromSeq })`).
 * - Memory is bounded (maxBufferedEvents): while publishing lags, the live subscription is dropped and the
 *   events are re-read from the segment files (audit-file-reader.ts); once close to the head, it subscribes
 *   again from the next seq.
 * - A full edge stream (`discard: new` answers "maximum bytes exceeded") holds the audit log failing
 *   (`holdFailure('fleet-audit')`): the configured failure policy applies [IEC 62443-3-3 SR 2.10] — fail-closed
 *   denies, continue serves and alarms — never a silent drop. The hold is released by the first stored message
 *   once `verigate control` has drained the edge stream. Other states that retrying alone cannot end hold it
 *   the same way, each with its reason: events to publish that the local files no longer hold (or cannot be
 *   read), and an event larger than the leaf's max_payload on its own.
 * - An edge trail that diverged from the local one (the stream's last block ends past the local head, or its
 *   event there has another hash: a power cut under fsync `never`, a reinstalled gateway under the same name)
 *   is never published over: skipping to the local head would leave the hub's trail broken for good. Nothing
 *   is published, the hold names it, and resuming is tried again (backoff) until an operator has resolved it.
 * - Blocks stay below the connected leaf's max_payload (from its INFO) as well as maxBlockBytes; a block
 *   refused for its size (the limit changed under it) is re-grouped, never stored.
 */
import type { Checkpoint } from '../audit/audit-checkpoint.js';
import { ExponentialBackoff, type Backoff } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import type { TimerHandle } from '../timers.js';
import {
  publisherLimits,
  type AuditBlockPublisherOptions,
  type PublisherLimits,
} from './audit-block-publisher-options.js';
import { AuditEventFeed } from './audit-event-feed.js';
import { classifyPublishFailure, holdText } from './audit-publish-failure.js';
import { createPublisherMetrics, type PublisherMetrics } from './audit-publisher-metrics.js';
import { divergence, lastLocalCheckpoint, resumePoint } from './audit-resume.js';
import { blockByteLimit, blockMessage, checkpointMessage, type Outgoing } from './audit-stream-port.js';
import { PendingCheckpoints } from './pending-checkpoints.js';

/** The name under which a full edge stream holds the audit log failing. */
export const FLEET_AUDIT_HOLD = 'fleet-audit';
/** How the hold for an edge trail that diverged from the local one starts (stable: operators match on it). */
export const FLEET_AUDIT_DIVERGED = 'fleet audit: edge trail diverged';

export class AuditBlockPublisher {
  private readonly o: PublisherLimits;
  private readonly feed: AuditEventFeed;
  private readonly backoff: Backoff;
  private readonly metrics: PublisherMetrics | null;
  private running = false;
  private closed = false;
  private published = 0;
  private readonly unsubscribeCheckpoints: () => void;
  private readonly checkpoints = new PendingCheckpoints();
  private outgoing: Outgoing | null = null;
  private sending: Promise<void> | null = null;
  private pumping = false;
  /** Armed while waiting to retry (nothing is sent meanwhile). */
  private retryTimer: TimerHandle | null = null;
  /** Armed while a short block waits for more events (a fuller block goes at once). */
  private delayTimer: TimerHandle | null = null;
  private full = false;
  /** Holding the audit log failing (a full stream or another state retrying cannot end). */
  private held = false;
  private failing = false;
  private readonly resumed: Promise<void>;
  private markResumed!: () => void;

  constructor(private readonly opts: AuditBlockPublisherOptions) {
    this.o = publisherLimits(opts);
    this.feed = new AuditEventFeed({
      dir: opts.dir,
      log: opts.log,
      maxBuffered: this.o.maxBufferedEvents,
      lowWater: this.o.maxBlockEvents,
      now: () => opts.timers.now(),
      changed: () => this.pump(),
    });
    this.backoff = new ExponentialBackoff(opts.retry ?? { initialMs: 200, maxMs: 5000 });
    this.metrics = opts.registry === undefined ? null : createPublisherMetrics(opts.registry, () => this.backlog());
    this.resumed = new Promise((r) => (this.markResumed = r));
    // Checkpoints are followed from the start (they are not replayed by fromSeq); queued until their block is out.
    // A rising durable watermark may make buffered events sendable.
    this.unsubscribeCheckpoints = opts.log.subscribe({
      checkpoint: (cp) => this.queueCheckpoint(cp),
      durable: () => this.pump(),
    });
    this.resume();
  }

  /** Resolves once the resume point was read from the stream (for tests and status). */
  ready(): Promise<void> {
    return this.resumed;
  }

  /** Highest seq stored in the edge stream by this run's knowledge (0 before resume). */
  get publishedSeq(): number {
    return this.published;
  }

  get streamFull(): boolean {
    return this.full;
  }

  backlog(): number {
    return this.running ? Math.max(0, this.opts.log.head().seq - this.published) : 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.opts.timers.clearTimeout(this.retryTimer);
    this.opts.timers.clearTimeout(this.delayTimer);
    this.unsubscribeCheckpoints();
    this.feed.close();
    await this.sending;
  }

  private get log(): Logger {
    return this.opts.logger ?? nullLogger;
  }

  /** Reads where the edge stream ends for this gateway; retried with backoff while the leaf is unreachable. */
  private resume(): void {
    const { site, gateway, port } = this.opts;
    resumePoint(port, site, gateway).then(
      (r) => {
        if (this.closed) return;
        const diverged = divergence(this.feed.reader, r, this.opts.log.head().seq, this.log);
        if (diverged !== null) {
          this.diverged(diverged);
          return;
        }
        this.backoff.reset();
        if (this.held) this.release(); // a divergence the operator has resolved
        this.published = r.lastSeq;
        this.feed.startAfter(r.lastSeq);
        this.checkpoints.resumeAfter(r.lastCheckpointSeq);
        if (r.problem !== null)
          this.log.error({ problem: r.problem }, 'fleet audit: unusable message in the edge stream');
        const local = lastLocalCheckpoint(this.opts.dir);
        if (local !== null) this.queueCheckpoint(local);
        this.checkpoints.dropStored();
        this.running = true;
        this.log.info({ site, gateway, resumeAfter: r.lastSeq }, 'fleet audit: publishing to the edge stream');
        this.markResumed();
        this.pump();
      },
      (err: unknown) => {
        if (this.closed) return;
        this.log.warn({ err: errorMessage(err) }, 'fleet audit: cannot read the edge stream yet, retrying');
        this.retryAfter(this.backoff.next(), () => this.resume());
      },
    );
  }

  /** Holds the audit log failing and reads the stream again later; publishes nothing meanwhile. */
  private diverged(why: string): void {
    const text = `${FLEET_AUDIT_DIVERGED}: ${why}; nothing is published until an operator resolves it (docs/fleet.md)`;
    if (!this.held) this.log.error({ reason: 'diverged' }, `${text}: audit failure policy applies`);
    this.held = true;
    this.opts.log.holdFailure(FLEET_AUDIT_HOLD, text);
    this.metrics?.failures.inc({ reason: 'diverged' });
    this.markResumed(); // the resume point was read: it is the answer
    this.retryAfter(this.backoff.next(), () => this.resume());
  }

  private release(): void {
    this.held = false;
    this.opts.log.releaseFailure(FLEET_AUDIT_HOLD);
  }

  private queueCheckpoint(cp: Checkpoint): void {
    if (this.checkpoints.add(cp)) this.pump();
  }

  private pump(): void {
    if (this.pumping || !this.running || this.closed || this.sending !== null || this.retryTimer !== null) return;
    this.pumping = true; // a replay inside nextMessage() delivers events that call pump() again
    try {
      this.outgoing ??= this.nextMessage();
    } finally {
      this.pumping = false;
    }
    const m = this.outgoing;
    if (m === null) return;
    this.sending = this.opts.port.publish(m.subject, m.body, m.msgId).then(
      () => this.stored(m),
      (err: unknown) => this.failed(err, 'publish'),
    );
    void this.sending.finally(() => {
      this.sending = null;
      this.pump();
    });
  }

  private nextMessage(): Outgoing | null {
    const { site, gateway } = this.opts;
    const cp = this.checkpoints.next(this.published);
    if (cp !== undefined) return checkpointMessage(site, gateway, cp);
    const error = this.feed.refill();
    if (error !== null) {
      this.failed(new Error(error), 'files');
      return null;
    }
    if (this.feed.sendable === 0) return null; // none, or none durable yet: the watermark's rise pumps again
    const wait = this.feed.waitingSince + this.o.maxBlockDelayMs - this.opts.timers.now();
    if (this.feed.sendable < this.o.maxBlockEvents && this.feed.live && wait > 0) {
      this.delayTimer ??= this.opts.timers.setTimeout(() => {
        this.delayTimer = null;
        this.pump();
      }, wait);
      return null;
    }
    this.opts.timers.clearTimeout(this.delayTimer);
    this.delayTimer = null;
    return blockMessage(site, gateway, this.feed.take(this.o.maxBlockEvents, this.blockBytes()));
  }

  /** Event bytes per block: maxBlockBytes, and below the connected leaf's max_payload. */
  private blockBytes(): number {
    return blockByteLimit(this.o.maxBlockBytes, this.opts.port.maxPayload?.() ?? null);
  }

  private stored(m: Outgoing): void {
    this.outgoing = null;
    this.backoff.reset();
    if (m.kind === 'block') {
      this.published = m.seq;
      this.metrics?.blocks.inc();
      this.metrics?.publishedSeq.set(m.seq);
    } else {
      this.checkpoints.stored(m.seq);
    }
    if (this.failing) this.log.info({ publishedSeq: this.published }, 'fleet audit: publishing again');
    this.failing = false;
    if (this.full) {
      this.full = false;
      this.metrics?.streamFull.set(0);
    }
    if (this.held) this.release();
  }

  /**
   * Same message again after a backoff. A state that retrying cannot end by itself (a full stream, events gone
   * from the files, an event over max_payload) holds the audit log failing until a message is stored.
   */
  private failed(err: unknown, what: 'publish' | 'files'): void {
    if (this.closed) return;
    const error = errorMessage(err);
    const reason = classifyPublishFailure(this.opts.port, err, what);
    if (reason === 'too-large' && this.regroup()) {
      this.retryAfter(0, () => undefined); // the limit changed under a built block: re-group it, no hold
      return;
    }
    if (reason === 'full') {
      this.full = true;
      this.metrics?.streamFull.set(1);
    }
    const maxPayload = this.opts.port.maxPayload?.() ?? null;
    const why = holdText(reason, error, { nextSeq: this.published + 1, backlog: this.backlog(), maxPayload });
    if (why !== null) {
      if (!this.held) this.log.error({ error, reason }, `${why}: audit failure policy applies`);
      this.held = true;
      this.opts.log.holdFailure(FLEET_AUDIT_HOLD, why);
    } else if (!this.failing) {
      this.log.warn({ err: error, what, publishedSeq: this.published }, 'fleet audit: publishing failed, retrying');
    }
    this.failing = true;
    this.metrics?.failures.inc({ reason });
    this.retryAfter(this.backoff.next(), () => undefined);
  }

  /**
   * A block of several events refused for its size goes back to the feed when the current limit makes a smaller
   * one (the leaf's max_payload changed under it); false otherwise (a single event, or no smaller limit known).
   */
  private regroup(): boolean {
    const m = this.outgoing;
    if (m?.events === undefined || m.events.length < 2 || m.body.length <= this.blockBytes()) return false;
    this.outgoing = null;
    this.feed.giveBack(m.events);
    return true;
  }

  /** Nothing is sent until the retry timer fires; then `then` and pump() run. */
  private retryAfter(ms: number, then: () => void): void {
    this.opts.timers.clearTimeout(this.retryTimer);
    this.retryTimer = this.opts.timers.setTimeout(() => {
      this.retryTimer = null;
      then();
      this.pump();
    }, ms);
  }
}
