/**
 * The SIEM exporter's writes not yet acknowledged, and the spool cursor only their acknowledgement moves.
 * RFC 5425 has no application-level acknowledgement, so a write counts as acknowledged once it reached our
 * kernel AND the connection stayed up for `ackDelayMs` afterwards; only then does the spool's cursor move past
 * it. A connection lost before that rewinds to the cursor, so those records are sent again (at least once).
 * Kept apart from the connection loop (syslog-exporter.ts): this is where the delivery guarantee lives.
 */
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SpoolDrop } from './syslog-spool-loss.js';
import type { DiskSpool, SpoolPos } from './syslog-spool.js';

export interface InFlight {
  readonly pos: SpoolPos | null;
  readonly count: number;
  /** A loss notice sent with this write: leaves the spool's tally when the write is acknowledged, owed again if not. */
  readonly loss: SpoolDrop | null;
  writtenAt: number | null;
}

export class SyslogAckWindow {
  private inflight: InFlight[] = [];
  private sent: SpoolPos | null = null;

  constructor(
    private readonly spool: DiskSpool,
    private readonly log: Logger,
  ) {}

  /** Where the next read of the spool starts on this connection (null: after the acknowledged cursor). */
  get sentPos(): SpoolPos | null {
    return this.sent;
  }

  /** One write of `count` records ending at `pos` (and `loss`, if one went first); the caller sets writtenAt. */
  wrote(pos: SpoolPos | null, count: number, loss: SpoolDrop | null): InFlight {
    const entry: InFlight = { pos, count, loss, writtenAt: null };
    this.inflight.push(entry);
    if (pos !== null) this.sent = pos;
    return entry;
  }

  /**
   * Acknowledges, oldest first, the writes that stayed up `ackDelayMs` (adding their records to
   * `counters.acked`), moves the spool's cursor past them and clears the loss notices they carried.
   * True when any was acknowledged.
   */
  settle(now: number, ackDelayMs: number, counters: { acked: number }): boolean {
    let upTo: SpoolPos | null = null;
    let any = false;
    while (this.inflight.length > 0) {
      const e = this.inflight[0]!;
      if (e.writtenAt === null || now - e.writtenAt < ackDelayMs) break;
      this.inflight.shift();
      counters.acked += e.count;
      any = true;
      if (e.pos !== null) upTo = e.pos;
      // a failed rewrite of the tally leaves the notice on disk: reported again after a restart, never lost
      const loss = e.loss;
      if (loss !== null) this.tryDisk(() => this.spool.lossDelivered(loss), 'loss tally');
    }
    if (upTo !== null) this.tryDisk(() => this.spool.ack(upTo), 'cursor');
    return any;
  }

  private tryDisk(write: () => void, what: string): void {
    try {
      write();
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, `audit: syslog spool ${what} write failed`);
    }
  }

  /** The next connection reads from the acknowledged cursor: every record not acknowledged goes again. */
  rewind(): void {
    this.sent = null;
    this.returnLosses();
  }

  /** Loss notices written but not acknowledged are owed again (the spool's tally kept them on disk). */
  returnLosses(): void {
    for (const e of this.inflight) if (e.loss !== null) this.spool.restoreLoss(e.loss);
    this.inflight = [];
  }
}
