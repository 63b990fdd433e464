/**
 * One TCP connection to a PLC, shared by many clients: a fixed number of in-flight slots, upstream
 * transaction ids from a per-connection allocator (the client's own id never goes upstream), MBAP framing
 * of replies and pairing them with their request [MB-TCP 3.1.3, 4.4.1].
 *
 * Slot lifecycle: free → staged (taken by `send`, waiting for the turn's one write) → live (written, awaiting
 * reply) → late (its request timed out; the tid and the slot stay reserved until the late reply arrives — then
 * it is dropped — or the connection is recycled). A staged request is asked the last-moment gate
 * (`mayStillSend`) again at the write, because a kill or a lock can land between `send` and the write (another
 * I/O callback of the same poll phase): one that fails is dropped unwritten and its slot freed (`unsent`).
 * Why keep the slot: the PLC may still be working on it, and a device that handles one request at a time
 * would otherwise get a second one it cannot take. If no late reply comes within `lateGraceMs` the
 * connection is marked draining: no new requests; it closes once its live requests finish.
 */
import type net from 'node:net';
import { AduBatch, MbapFramer } from '../../protocols/modbus/index.js';
import { checkResponse } from './response-check.js';
import { TidAllocator } from './tid-allocator.js';
import { unrefTimer, type TimerHandle } from '../timers.js';
import type { LinkSettings, UpstreamLink } from './types.js';

interface Slot<J> {
  readonly tid: number;
  readonly job: J;
  readonly unitId: number;
  readonly reqPdu: Buffer;
  state: 'staged' | 'live' | 'late';
  graceTimer?: TimerHandle;
}

/** The pool's link settings (types.ts: events, timers, the last-moment gate `mayStillSend`) and, for tests, a tid. */
export interface PlcConnectionOptions<J> extends LinkSettings<J> {
  /** First transaction id tried (random per connection by default, so ids differ across reconnects). */
  readonly firstTid?: number;
}

export class PlcConnection<J> implements UpstreamLink<J> {
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
  /**
   * Requests sent during this turn (state 'staged'), gated and written together when its I/O callbacks are done
   * (see #batchWrites). Reused from turn to turn, `#nStaged` counting the entries in use, as in AduBatch.
   */
  readonly #staged: (Slot<J> | null)[] = [];
  #nStaged = 0;
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

  /** Stages one request for this turn's write; returns its upstream tid. Caller checks `freeSlots > 0` first. */
  send(job: J, unitId: number, pdu: Buffer): number {
    const tid = this.#tids.allocate();
    if (tid === null || this.freeSlots <= 0)
      throw new Error(`plc-connection ${this.id}: send without a free slot (bug)`);
    const slot: Slot<J> = { tid, job, unitId, reqPdu: pdu, state: 'staged' };
    this.#slots.set(tid, slot);
    this.#staged[this.#nStaged++] = slot;
    this.#live++;
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

  /**
   * The turn's write. Each staged request is asked the gate once more, here, right before the bytes leave (the
   * docs' promise, docs/architecture.md "Request path"); one that fails is released unwritten, kept at the front
   * of `#staged` and reported `unsent` after the write. No event is raised inside the loop, so nothing can send
   * on this connection while it runs.
   */
  #flushWrites(): void {
    this.#flushQueued = false;
    const n = this.#nStaged;
    this.#nStaged = 0;
    if (this.#closed) return; // #finish already reported and cleared the staged ones
    const staged = this.#staged;
    let dropped = 0;
    let freed = false;
    for (let i = 0; i < n; i++) {
      const slot = staged[i] as Slot<J>;
      staged[i] = null;
      if (this.#slots.get(slot.tid) !== slot) {
        freed = true; // timed out while staged: released by expire
      } else if (this.#opts.mayStillSend?.(slot.job) ?? true) {
        slot.state = 'live';
        this.#sent++;
        this.#out.add(slot.tid, slot.unitId, slot.reqPdu);
      } else {
        this.#release(slot);
        staged[dropped++] = slot;
      }
    }
    const out = this.#out.take();
    if (out !== null) this.#socket.write(out);
    for (let i = 0; i < dropped; i++) {
      const slot = staged[i] as Slot<J>;
      staged[i] = null;
      this.#opts.events.unsent(slot.job);
    }
    if ((dropped > 0 || freed) && !this.#closed) this.#afterFree();
  }

  /**
   * The request behind `tid` timed out: keep its tid and slot reserved for the late reply (see header). Returns
   * whether it was written; one still staged was not, and is taken out of the turn's write here.
   */
  expire(tid: number): boolean {
    const slot = this.#slots.get(tid);
    if (slot?.state === 'staged') {
      // Never written, so no late reply can come: free it now. #flushWrites finds its slot gone and leaves it
      // out of the write (a request whose client was answered `timeout` never reaches the PLC afterwards).
      this.#release(slot);
      if (this.#draining && this.#live === 0) this.#finish('recycled: a late reply never came');
      return false;
    }
    // Not staged: written (live), or already settled some other way; either way it may have reached the PLC.
    if (slot === undefined || slot.state !== 'live') return true;
    slot.state = 'late';
    this.#live--;
    if (this.#draining && this.#live === 0) {
      this.#finish('recycled: a late reply never came');
      return true;
    }
    slot.graceTimer = unrefTimer(this.#opts.timers.setTimeout(() => this.#graceOver(slot), this.#opts.lateGraceMs));
    return true;
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
    if (slot === undefined || slot.state === 'staged') {
      // [MB-TCP 4.4.1]: a response with an unknown transaction id is discarded. A staged request's tid is not
      // known to the PLC yet (not written): an "answer" to it is a guess, never paired with the request.
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
    if (slot.state !== 'late') this.#live--;
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
    const unsent: J[] = [];
    for (const slot of this.#slots.values()) {
      this.#opts.timers.clearTimeout(slot.graceTimer);
      if (slot.state === 'live') lost.push(slot.job);
      else if (slot.state === 'staged') unsent.push(slot.job); // never written: not "may have executed"
    }
    this.#slots.clear();
    this.#staged.fill(null, 0, this.#nStaged);
    this.#nStaged = 0;
    this.#live = 0;
    this.#socket.destroy();
    const info = { reason, lost, unsent, everAnswered: this.#everAnswered, byPeer, sent: this.#sent };
    this.#opts.events.closed(this, info);
  }
}
