/**
 * One TCP connection to a PLC, shared by many clients: a fixed number of in-flight slots, upstream
 * transaction ids from a per-connection allocator (the client's own id never goes upstream), MBAP framing
 * of replies and pairing them with their request [MB-TCP 3.1.3, 4.4.1].
 *
 * Slot lifecycle: free → live (sent, awaiting reply) → late (its request timed out; the tid and the slot
 * stay reserved until the late reply arrives — then it is dropped — or the connection is recycled).
 * Why keep the slot: the PLC may still be working on it, and a device that handles one request at a time
 * would otherwise get a second one it cannot take. If no late reply comes within `lateGraceMs` the
 * connection is marked draining: no new requests; it closes once its live requests finish.
 */
import type net from 'node:net';
import { AduBatch, MbapFramer } from '../../protocols/modbus/index.js';
import { checkResponse } from './response-check.js';
import { TidAllocator } from './tid-allocator.js';
import type { Logger } from '../logger.js';
import { unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import type { UpstreamResult } from './types.js';

interface Slot<J> {
  readonly tid: number;
  readonly job: J;
  readonly unitId: number;
  readonly reqPdu: Buffer;
  state: 'live' | 'late';
  graceTimer?: TimerHandle;
}

export interface ConnectionClosedInfo<J> {
  readonly reason: string;
  /** Live requests that were sent and never answered: the pool answers them 'unavailable' (no replay). */
  readonly lost: readonly J[];
  /** Whether this connection ever delivered a valid reply (a healthy PLC, for backoff accounting). */
  readonly everAnswered: boolean;
  /** True when the PLC (or the network) ended it; false when we recycled or closed it. */
  readonly byPeer: boolean;
  readonly sent: number;
}

export interface ConnectionEvents<J> {
  /** A live request got its outcome (response or invalid-response). Called before any resulting close. */
  reply(job: J, result: UpstreamResult): void;
  /** A slot became free (reply, late reply): the pool may send more. */
  slotFreed(conn: PlcConnection<J>): void;
  /** The socket is gone; called once. */
  closed(conn: PlcConnection<J>, info: ConnectionClosedInfo<J>): void;
}

export interface PlcConnectionOptions<J> {
  readonly id: number;
  readonly maxInFlight: number;
  readonly lateGraceMs: number;
  readonly logger: Logger;
  /** Arms the late-reply grace (gateway/timers.ts): the pool's own timers, so tests drive it with the deadlines. */
  readonly timers: Timers;
  readonly events: ConnectionEvents<J>;
  /** First transaction id tried (random per connection by default, so ids differ across reconnects). */
  readonly firstTid?: number;
}

export class PlcConnection<J> {
  readonly id: number;
  readonly #socket: net.Socket;
  readonly #opts: PlcConnectionOptions<J>;
  readonly #framer = new MbapFramer();
  readonly #tids: TidAllocator;
  readonly #slots = new Map<number, Slot<J>>();
  #live = 0;
  #draining = false;
  #closed = false;
  #everAnswered = false;
  #sent = 0;
  /** Requests sent during this turn, written together when its I/O callbacks are done (see #batchWrites). */
  readonly #out = new AduBatch();
  #flushQueued = false;
  readonly #flush = (): void => this.#flushWrites();
  readonly #whenClosed: Promise<void>;

  constructor(socket: net.Socket, opts: PlcConnectionOptions<J>) {
    this.id = opts.id;
    this.#socket = socket;
    this.#opts = opts;
    this.#tids = new TidAllocator(opts.firstTid ?? Math.floor(Math.random() * 0x10000));
    this.#whenClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#opts.logger.debug({ conn: this.id, err: err.message }, 'upstream socket error'));
    socket.on('close', () => this.#finish('connection closed by peer', true));
  }

  /** Slots a new request may use now (0 while draining or closed). */
  get freeSlots(): number {
    if (this.#draining || this.#closed) return 0;
    return this.#opts.maxInFlight - this.#slots.size;
  }

  get live(): number {
    return this.#live;
  }

  get late(): number {
    return this.#slots.size - this.#live;
  }

  /** Requests sent this turn are waiting for the turn's one write (see #batchWrites). */
  get batching(): boolean {
    return this.#flushQueued;
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Sends one request; returns its upstream tid. Caller checks `freeSlots > 0` first. */
  send(job: J, unitId: number, pdu: Buffer): number {
    const tid = this.#tids.allocate();
    if (tid === null || this.freeSlots <= 0)
      throw new Error(`plc-connection ${this.id}: send without a free slot (bug)`);
    this.#slots.set(tid, { tid, job, unitId, reqPdu: pdu, state: 'live' });
    this.#live++;
    this.#sent++;
    this.#out.add(tid, unitId, pdu);
    this.#batchWrites();
    return tid;
  }

  /**
   * Requests sent during one event-loop turn leave in one write(2): gathered from the first, encoded into one
   * buffer and written when the turn's I/O callbacks are done. Only how they are packed into TCP segments
   * changes; each is still its own MBAP ADU with its own tid [MB-TCP 4.2].
   */
  #batchWrites(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    setImmediate(this.#flush);
  }

  #flushWrites(): void {
    this.#flushQueued = false;
    const out = this.#out.take();
    if (out !== null && !this.#closed) this.#socket.write(out);
  }

  /** The request behind `tid` timed out: keep its tid and slot reserved for the late reply (see header). */
  expire(tid: number): void {
    const slot = this.#slots.get(tid);
    if (slot === undefined || slot.state !== 'live') return;
    slot.state = 'late';
    this.#live--;
    if (this.#draining && this.#live === 0) {
      this.#finish('recycled: a late reply never came');
      return;
    }
    slot.graceTimer = unrefTimer(this.#opts.timers.setTimeout(() => this.#graceOver(slot), this.#opts.lateGraceMs));
  }

  /** Closes the socket now; live requests are reported as lost (never replayed). */
  close(reason: string): void {
    this.#finish(reason);
  }

  /** Resolves once the socket has fully closed. */
  whenClosed(): Promise<void> {
    return this.#whenClosed;
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    this.#framer.push(chunk);
    for (;;) {
      const r = this.#framer.next();
      if (r.kind === 'need-more') return;
      if (r.kind === 'malformed') {
        this.#opts.logger.warn({ conn: this.id, reason: r.reason, detail: r.detail }, 'malformed MBAP from PLC');
        this.#finish(`malformed reply from PLC: ${r.reason}`);
        return;
      }
      const { header, pdu } = r.frame;
      this.#onFrame(header.transactionId, header.unitId, pdu);
      if (this.#closed) return;
    }
  }

  #onFrame(tid: number, unitId: number, pdu: Buffer): void {
    const slot = this.#slots.get(tid);
    if (slot === undefined) {
      // [MB-TCP 4.4.1]: a response with an unknown transaction id is discarded.
      this.#opts.logger.debug({ conn: this.id, tid }, 'dropped reply with unknown transaction id');
      return;
    }
    this.#release(slot);
    if (slot.state === 'late') {
      this.#opts.logger.debug({ conn: this.id, tid }, 'dropped late reply of a timed-out request');
      this.#afterFree();
      return;
    }
    const check = checkResponse(slot.unitId, slot.reqPdu, unitId, pdu);
    if (!check.ok) {
      this.#opts.events.reply(slot.job, { kind: 'invalid-response', reason: check.reason });
      // A PLC answering nonsense is not trusted with the requests still in flight: recycle.
      this.#finish(`invalid reply: ${check.reason}`);
      return;
    }
    this.#everAnswered = true;
    // the PDU is the framer's read-only view of bytes received (framer.ts): passed on without a copy
    this.#opts.events.reply(slot.job, { kind: 'response', pdu, latencyMs: 0 });
    this.#afterFree();
  }

  #release(slot: Slot<J>): void {
    this.#slots.delete(slot.tid);
    this.#tids.release(slot.tid);
    this.#opts.timers.clearTimeout(slot.graceTimer);
    if (slot.state === 'live') this.#live--;
  }

  #afterFree(): void {
    if (this.#draining && this.#live === 0) {
      this.#finish('recycled: a late reply never came');
      return;
    }
    this.#opts.events.slotFreed(this);
  }

  #graceOver(slot: Slot<J>): void {
    if (this.#closed || this.#slots.get(slot.tid) !== slot) return;
    this.#opts.logger.info({ conn: this.id, tid: slot.tid }, 'late reply never came; recycling the connection');
    this.#draining = true;
    if (this.#live === 0) this.#finish('recycled: a late reply never came');
  }

  #finish(reason: string, byPeer = false): void {
    if (this.#closed) return;
    this.#closed = true;
    const lost: J[] = [];
    for (const slot of this.#slots.values()) {
      this.#opts.timers.clearTimeout(slot.graceTimer);
      if (slot.state === 'live') lost.push(slot.job);
    }
    this.#slots.clear();
    this.#live = 0;
    this.#out.take(); // requests not yet written: never written now (reported lost below, like the rest)
    this.#socket.destroy();
    this.#opts.events.closed(this, { reason, lost, everAnswered: this.#everAnswered, byPeer, sent: this.#sent });
  }
}
