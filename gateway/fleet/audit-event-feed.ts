/**
 * The block publisher's bounded supply of audit events, in seq order with no gap: live from the log's
 * subscription (events once they are in the file) while it keeps up, and re-read from the segment files
 * (audit-file-reader.ts) while it lags. At most `maxBuffered` events are held: an event that would exceed it
 * drops the subscription; once the rest up to the head fits, it subscribes again from the next seq (the log
 * replays the few stored ones synchronously, then follows live, with no gap and no overlap).
 * Only events up to the log's durable watermark are handed out (`sendable`, take()): a copy at the edge of an
 * event the disk then loses in a power cut would fork the local chain, rebuilt from the disk, from the copy.
 */
import type { AuditRecord } from '../audit/audit-events.js';
import type { AuditSubscriber } from '../audit/audit-log-options.js';
import { blockEventOf, type BlockEvent } from './audit-block.js';
import { AuditFileReader } from './audit-file-reader.js';

export interface FeedLog {
  subscribe(s: AuditSubscriber, opts?: { fromSeq?: number }): () => void;
  head(): { seq: number; hash: string };
  durableSeq(): number;
}

export interface AuditEventFeedOptions {
  readonly dir: string;
  readonly log: FeedLog;
  readonly maxBuffered: number;
  /** Reading the files is worth it only below this many buffered events (a block's worth). */
  readonly lowWater: number;
  readonly now: () => number;
  /** Called when live events were buffered, or the feed fell back to the files (something may be sendable). */
  readonly changed: () => void;
}

export class AuditEventFeed {
  readonly reader: AuditFileReader;
  private buffer: BlockEvent[] = [];
  /** The last seq buffered or handed out: the next event is queuedUpTo + 1. */
  private queuedUpTo = 0;
  private since = 0;
  private mode: 'live' | 'file' = 'file';
  private gen = 0;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly o: AuditEventFeedOptions) {
    this.reader = new AuditFileReader(o.dir);
  }

  /** Begins after `seq` (what the stream already holds), from the files first. */
  startAfter(seq: number): void {
    this.queuedUpTo = seq;
  }

  /** Events held in memory (bounded by maxBuffered), durable or not. */
  get length(): number {
    return this.buffer.length;
  }

  /** Buffered events that may be sent: those up to the durable watermark (the buffer holds consecutive seqs). */
  get sendable(): number {
    const first = this.buffer[0];
    if (first === undefined) return 0;
    return Math.max(0, Math.min(this.buffer.length, this.o.log.durableSeq() - first.seq + 1));
  }

  /** True while following the log live (a short block may wait for more); false while catching up. */
  get live(): boolean {
    return this.mode === 'live';
  }

  /** When the oldest buffered event arrived (-Infinity: it has waited already). */
  get waitingSince(): number {
    return this.since;
  }

  /**
   * Tops the buffer up from the files while lagging, or subscribes again once the rest fits. Returns why the
   * files could not be read, or null.
   */
  refill(): string | null {
    if (this.mode === 'live' || this.buffer.length >= this.o.lowWater) return null;
    const from = this.queuedUpTo + 1;
    const head = this.o.log.head().seq;
    const room = this.o.maxBuffered - this.buffer.length;
    if (head - from + 1 <= room) {
      this.subscribeFrom(from);
      return null;
    }
    const r = this.reader.read(from, head, room);
    if ('error' in r) return r.error;
    if (r.events.length === 0) return `audit files: event ${from} not found (archived before it was published?)`;
    if (this.buffer.length === 0) this.since = -Infinity; // a backlog: no reason to wait
    this.buffer.push(...r.events);
    this.queuedUpTo = r.events[r.events.length - 1]!.seq;
    return null;
  }

  /** The next block's events: at most maxEvents and maxBytes of JSON (at least one event while sendable > 0). */
  take(maxEvents: number, maxBytes: number): BlockEvent[] {
    let count = 0;
    let bytes = 0;
    while (count < Math.min(this.sendable, maxEvents)) {
      bytes += Buffer.byteLength(this.buffer[count]!.json) + 1; // bytes on the wire, not UTF-16 units
      if (count > 0 && bytes > maxBytes) break;
      count++;
    }
    this.since = -Infinity; // what is left has waited already
    return this.buffer.splice(0, count);
  }

  /** Puts events taken for a block that was never stored back in front (the next block re-groups them). */
  giveBack(events: readonly BlockEvent[]): void {
    this.buffer.unshift(...events);
  }

  close(): void {
    this.toFiles();
  }

  private onEvent(gen: number, rec: AuditRecord): void {
    if (gen !== this.gen) return;
    const expected = this.queuedUpTo + 1;
    if (rec.seq < expected) return;
    if (rec.seq > expected || this.buffer.length >= this.o.maxBuffered) {
      this.toFiles(); // lagging (or out of step): the files have it, re-read from there
    } else {
      if (this.buffer.length === 0) this.since = this.o.now();
      this.buffer.push(blockEventOf(rec));
      this.queuedUpTo = rec.seq;
    }
    this.o.changed();
  }

  private subscribeFrom(from: number): void {
    const gen = ++this.gen;
    this.mode = 'live';
    const unsub = this.o.log.subscribe({ event: (r) => this.onEvent(gen, r) }, { fromSeq: from });
    if (this.gen === gen) this.unsubscribe = unsub;
    else unsub(); // overflowed while replaying
  }

  private toFiles(): void {
    this.gen++;
    this.mode = 'file';
    this.unsubscribe?.();
    this.unsubscribe = null;
  }
}
