/**
 * One Modbus RTU line (an RS-485 port, or raw RTU over TCP to a serial device server), as the pool's link
 * with a single slot: several servers (unit ids) share the wire, so exactly one request is on it at a time
 * [MB-SERIAL 2.1: a master addresses one slave and waits for its answer or the response timeout].
 *
 * - Before each frame the line keeps the inter-frame silence (t3.5), after a broadcast the turnaround delay
 *   [MB-SERIAL 2.4.1] (rtu-line-silence.ts: every silence and its timer). While it keeps silence `freeSlots` is
 *   0 and the pool is told (`slotFreed`) when it ends, so the pool's last-moment gates (session signal, device
 *   lock) still run right before the bytes leave.
 * - Answers are cut by length from the request (rtu-length.ts) and checked by CRC, address, function code and
 *   structure (checkResponse, in rtu-exchange.ts). A CRC error, a truncated or overlong frame, or a well-formed answer that does not
 *   fit is counted and answered `invalid-response` (→ 0x0B, "no usable answer"): never passed on.
 *   After a bad frame the framer drops bytes until the line falls silent, then the next request may go.
 * - End of frame: a frame cut by length is only an answer once the line then stays silent for t3.5
 *   [MB-SERIAL 2.5.1.1]. One flipped bit in a function code (03 → 83) or a byte count shortens the cut, and the
 *   CRC over the wrong span passes with odds 2^-16: bytes after the cut prove it was no frame end. So the answer
 *   is held for `silenceMs`; bytes left after the cut, or arriving before the silence is over → `invalid-response`
 *   (counted as `too-long`). This costs t3.5 of latency per answer (≈ 4 ms at 9600 baud).
 * - Every silence decision (receive gap, end of frame) holds only if no byte came in past pending I/O (a
 *   stalled event loop is no silence: rtu-line-silence.ts).
 * - A timed-out request keeps the line for `lateGraceMs` (its late answer is dropped when it comes), so the
 *   answer of an earlier request cannot be taken for the answer of the next one.
 * - Broadcast (unit 0) [MB-SERIAL 2.1]: writes only; sent, no answer awaited, the client gets the normal
 *   answer of that write (broadcastReply) and the line stays silent for the turnaround delay. Anything else
 *   addressed to 0 is refused unsent.
 * - Nothing is ever resent; a request sent when the line dies is `lost` (→ 'unavailable' sent: 0x0B).
 * Timers are injected (gateway/timers.ts): tests drive silence and turnaround with a fake clock.
 */
import type { Duplex } from 'node:stream';
import {
  broadcastReply,
  encodeRtuFrame,
  rtuResponseLength,
  RtuFramer,
  RTU_BROADCAST_ADDRESS,
  UNKNOWN_LENGTH,
  type RtuExpect,
  type RtuFrameResult,
} from '../../protocols/modbus/index.js';
import { errorMessage } from '../errors.js';
import { judgeAnswer, type Exchange, type HeldAnswer } from './rtu-exchange.js';
import type { LineCounters } from './rtu-line-counters.js';
import { LineSilence, type LineTiming } from './rtu-line-silence.js';
import type { LinkSettings, UpstreamLink, UpstreamResult } from './types.js';

export class RtuLine<J> implements UpstreamLink<J> {
  readonly id: number;
  readonly #stream: Duplex;
  readonly #s: LinkSettings<J>;
  readonly #silence: LineSilence;
  readonly #counters: LineCounters;
  readonly #framer = new RtuFramer(UNKNOWN_LENGTH);
  readonly #whenClosed: Promise<void>;
  #current: Exchange<J> | undefined;
  #held: HeldAnswer<J> | undefined;
  #tags = 0;
  #sent = 0;
  #everAnswered = false;
  #closed = false;

  constructor(stream: Duplex, settings: LinkSettings<J>, timing: LineTiming, counters: LineCounters) {
    this.id = settings.id;
    this.#stream = stream;
    this.#s = settings;
    this.#silence = new LineSilence(settings.timers, timing, { wake: () => this.#wake(), gap: () => this.#onGap() });
    this.#counters = counters;
    this.#whenClosed = new Promise((resolve) => stream.once('close', () => resolve()));
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (err) => {
      settings.logger.warn({ line: this.id, err: errorMessage(err) }, 'RTU line error');
      this.#finish(`line error: ${errorMessage(err)}`, true);
    });
    stream.on('close', () => this.#finish('line closed', true));
  }

  get freeSlots(): number {
    if (this.#closed || this.#current !== undefined) return 0;
    return this.#silence.elapsed() ? 1 : 0;
  }

  get live(): number {
    return this.#current?.state === 'live' ? 1 : 0;
  }

  get late(): number {
    return this.#current?.state === 'late' ? 1 : 0;
  }

  send(job: J, unitId: number, pdu: Buffer): number {
    if (this.freeSlots <= 0) throw new Error(`rtu-line ${this.id}: send while the line is busy (bug)`);
    const tag = ++this.#tags;
    this.#sent++;
    if (unitId === RTU_BROADCAST_ADDRESS) {
      this.#broadcast(job, pdu);
      return tag;
    }
    this.#current = { tag, job, unitId, reqPdu: pdu, state: 'live' };
    this.#startExchange((head) => rtuResponseLength(pdu, head));
    this.#counters.requests++;
    this.#stream.write(encodeRtuFrame(unitId, pdu));
    return tag;
  }

  /**
   * The request behind `tag` timed out: the line stays reserved for its late answer for `lateGraceMs`. Always
   * true (written): `send` writes at once, so a request the pool handed over has left the gateway.
   */
  expire(tag: number): boolean {
    const cur = this.#current;
    if (cur === undefined || cur.tag !== tag || cur.state !== 'live') return true;
    cur.state = 'late';
    this.#counters.timeouts++;
    cur.grace = this.#s.timers.setTimeout(() => this.#graceOver(cur), this.#s.lateGraceMs);
    return true;
  }

  close(reason: string): void {
    this.#finish(reason, false);
  }

  whenClosed(): Promise<void> {
    return this.#whenClosed;
  }

  #broadcast(job: J, pdu: Buffer): void {
    const reply = broadcastReply(pdu);
    const result: UpstreamResult =
      reply === null
        ? {
            kind: 'unavailable',
            reason: `function code ${pdu[0] ?? 0} cannot be broadcast: a broadcast carries writes only [MB-SERIAL 2.1]; not sent`,
          }
        : { kind: 'response', pdu: reply, latencyMs: 0 };
    if (reply !== null) {
      const frame = encodeRtuFrame(RTU_BROADCAST_ADDRESS, pdu);
      this.#startExchange(UNKNOWN_LENGTH);
      this.#counters.broadcasts++;
      this.#stream.write(frame);
      // Every server executes it and none answers: keep the line quiet while it leaves and they act on it.
      this.#silence.afterBroadcast(frame.length);
    }
    // Never synchronously from send(): the pool is still inside its dispatch loop.
    this.#silence.wakeWhenQuiet();
    queueMicrotask(() => {
      // Closed in between: the frame was handed to the port, whether it left is unknown (never resent).
      const closed: UpstreamResult = { kind: 'unavailable', reason: 'RTU line closed after the broadcast', sent: true };
      this.#s.events.reply(job, this.#closed && reply !== null ? closed : result);
    });
  }

  /** A new frame goes out: what its answer looks like; bytes still held or dropped since the last silence are garbage. */
  #startExchange(expect: RtuExpect): void {
    this.#counters.garbageBytes += this.#framer.droppedSinceSilence + this.#framer.reset(expect);
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    const now = this.#silence.received();
    const held = this.#held;
    if (held !== undefined) {
      // The answer did not end where its length said [MB-SERIAL 2.5.1.1]: drop it and the rest until silence.
      this.#counters.garbageBytes += this.#framer.resync();
      this.#refuse(held.cur, `${chunk.length} byte(s) followed the ${held.bytes}-byte answer before t3.5 of silence`);
    }
    this.#framer.push(chunk);
    for (let r = this.#framer.next(); r.kind !== 'need-more' && !this.#closed; r = this.#framer.next())
      this.#onFrame(r);
    // After a bad frame more of it may still be on its way (adapters deliver in chunks): wait for the receive gap.
    if (this.#framer.resyncing) this.#silence.resyncFrom(now);
    this.#silence.restartGap();
  }

  /** The line fell silent: a frame of unknown length ends here, a frame cut short is truncated. */
  #onGap(): void {
    this.#counters.garbageBytes += this.#framer.droppedSinceSilence;
    const r = this.#framer.silence();
    if (r.kind !== 'need-more') this.#onFrame(r, true);
    this.#wake();
  }

  /** `ended`: the frame was ended by silence (the receive gap), not cut by length. */
  #onFrame(r: Exclude<RtuFrameResult, { kind: 'need-more' }>, ended = false): void {
    const cur = this.#current;
    if (r.kind === 'corrupt') this.#counters.corrupt[r.reason]++;
    if (cur === undefined) {
      // Nobody asked: noise, another master, or a late answer after its grace. Counted, dropped.
      this.#counters.unsolicited++;
      if (r.kind === 'corrupt') this.#counters.garbageBytes += r.bytes;
      return;
    }
    if (r.kind === 'frame' && cur.state === 'live' && !ended) {
      this.#hold(cur, r.address, r.pdu, r.adu.length);
      return;
    }
    // Whatever follows is nobody's answer (a resynchronisation in progress goes on until silence).
    this.#framer.expect(UNKNOWN_LENGTH);
    const late = this.#endExchange(cur);
    if (!late && r.kind === 'corrupt') {
      this.#s.logger.debug(
        { line: this.id, unit: cur.unitId, reason: r.reason, detail: r.detail },
        'corrupt RTU answer: 0x0B',
      );
      this.#s.events.reply(cur.job, { kind: 'invalid-response', reason: `RTU ${r.reason}: ${r.detail}` });
    } else if (!late && r.kind === 'frame') {
      this.#answer(cur, r.address, r.pdu);
    }
    this.#wake();
  }

  /** A frame cut by length: released once the line stays silent for t3.5 after it, refused if bytes follow. */
  #hold(cur: Exchange<J>, address: number, pdu: Buffer, bytes: number): void {
    // Whatever follows is nobody's answer.
    this.#framer.expect(UNKNOWN_LENGTH);
    if (this.#framer.buffered > 0) {
      const left = this.#framer.resync();
      this.#counters.garbageBytes += left;
      this.#refuse(cur, `${left} byte(s) after the end of a ${bytes}-byte answer`);
      return;
    }
    const held: HeldAnswer<J> = { cur, address, pdu, bytes };
    this.#held = held;
    this.#silence.awaitFrameEnd(() => this.#release(held));
  }

  /** t3.5 of silence after the held frame: it ended there, it is the answer. */
  #release(held: HeldAnswer<J>): void {
    if (this.#held !== held || this.#current !== held.cur) return;
    const cur = held.cur;
    this.#held = undefined;
    if (!this.#endExchange(cur)) this.#answer(cur, held.address, held.pdu);
    this.#wake();
  }

  /** A frame cut by length that was no frame end (bytes after it): counted, `invalid-response`, never passed on. */
  #refuse(cur: Exchange<J>, detail: string): void {
    this.#dropHeld();
    this.#counters.corrupt['too-long']++;
    if (!this.#endExchange(cur)) {
      this.#s.logger.debug({ line: this.id, unit: cur.unitId, detail }, 'RTU answer did not end at its length: 0x0B');
      this.#s.events.reply(cur.job, { kind: 'invalid-response', reason: `RTU too-long: ${detail}` });
    }
    this.#wake();
  }

  /**
   * Frees the line of the exchange whose answer (good, corrupt or too long) just ended. true when the request
   * had timed out: its late answer is counted and dropped, nobody gets it.
   */
  #endExchange(cur: Exchange<J>): boolean {
    this.#current = undefined;
    this.#s.timers.clearTimeout(cur.grace);
    if (cur.state !== 'late') return false;
    this.#counters.lateAnswers++;
    this.#s.logger.debug({ line: this.id, unit: cur.unitId }, 'dropped the late answer of a timed-out request');
    return true;
  }

  #dropHeld(): void {
    this.#held = undefined;
    this.#silence.cancelFrameEnd();
  }

  #answer(cur: Exchange<J>, address: number, pdu: Buffer): void {
    const result = judgeAnswer(cur, address, pdu, this.#counters, this.#s.logger, this.id);
    if (result.kind === 'response') this.#everAnswered = true;
    this.#s.events.reply(cur.job, result);
  }

  #graceOver(cur: Exchange<J>): void {
    if (this.#closed || this.#current !== cur) return;
    this.#dropHeld();
    this.#current = undefined;
    this.#counters.noAnswer++;
    this.#framer.expect(UNKNOWN_LENGTH);
    this.#wake();
  }

  /** Tells the pool when the line can take the next request: now, or when its silence is over. */
  #wake(): void {
    if (this.#closed || this.#current !== undefined) return;
    if (this.#silence.rewake()) this.#s.events.slotFreed(this);
  }

  #finish(reason: string, byPeer: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#silence.stop();
    const cur = this.#current;
    this.#current = undefined;
    this.#dropHeld();
    this.#s.timers.clearTimeout(cur?.grace);
    this.#stream.destroy();
    const lost = cur?.state === 'live' ? [cur.job] : [];
    // unsent: [] — the line writes inside send, right after the pool's gate: nothing is ever staged
    const info = { reason, lost, unsent: [], everAnswered: this.#everAnswered, byPeer, sent: this.#sent };
    this.#s.events.closed(this, info);
  }
}
