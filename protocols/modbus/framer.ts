/**
 * Streaming MBAP framer [MB-TCP 3.1.3]. Bytes arrive split or coalesced in any way; the caller pushes each
 * chunk, then loops `next()` until `need-more` or `malformed`. A malformed header poisons the stream for good
 * (there is no way to resynchronise a TCP byte stream), so the session must close.
 *
 * Chunks are queued, not concatenated: a frame inside one chunk (the usual case) is a view of it, no copy; one
 * that spans chunks is copied once into a buffer of its own. No quadratic cost either way. A frame's bytes are
 * never written by anyone (chunks come fresh from the socket), so a view is as safe as a copy.
 */
import { MAX_MBAP_LENGTH, MBAP_HEADER_LENGTH, MIN_MBAP_LENGTH } from './limits.js';
import type { Frame, FrameResult, MalformedReason, MbapHeader } from './types.js';

const NEED_MORE: FrameResult = Object.freeze({ kind: 'need-more' });

export class MbapFramer {
  /** Slots 0..#tail-1 in use; emptied slots are reused (no new array per frame when every chunk is consumed). */
  #chunks: (Buffer | undefined)[] = [];
  #tail = 0;
  /** Index of the first unread chunk (avoids O(n) `shift()` when a peer sends one byte per packet). */
  #head = 0;
  /** Read offset into #chunks[#head]. */
  #offset = 0;
  #buffered = 0;
  #malformed: FrameResult | null = null;

  /** Queue bytes. Ignored once the stream is malformed. */
  push(chunk: Buffer): void {
    if (this.#malformed || chunk.length === 0) return;
    this.#chunks[this.#tail++] = chunk;
    this.#buffered += chunk.length;
  }

  /** Bytes received and not yet returned as frames. */
  get buffered(): number {
    return this.#buffered;
  }

  next(): FrameResult {
    if (this.#malformed) return this.#malformed;
    // Check fields as soon as they are in, so junk is refused without waiting for more bytes.
    if (this.#buffered >= 4) {
      const protocolId = this.#peekU16(2);
      if (protocolId !== 0) return this.#fail('protocol-id', `protocol id ${protocolId}, expected 0`);
    }
    if (this.#buffered < 6) return NEED_MORE;
    const length = this.#peekU16(4);
    if (length < MIN_MBAP_LENGTH || length > MAX_MBAP_LENGTH) {
      return this.#fail('length-out-of-range', `MBAP length ${length} outside ${MIN_MBAP_LENGTH}..${MAX_MBAP_LENGTH}`);
    }
    const total = 6 + length;
    if (this.#buffered < total) return NEED_MORE;
    const header = { transactionId: this.#peekU16(0), protocolId: 0, length, unitId: this.#peekByte(6) };
    return { kind: 'frame', frame: new MbapFrame(header, this.#takePdu(total)) };
  }

  #fail(reason: MalformedReason, detail: string): FrameResult {
    this.#malformed = Object.freeze({ kind: 'malformed', reason, detail });
    this.#chunks = [];
    this.#head = 0;
    this.#tail = 0;
    this.#offset = 0;
    this.#buffered = 0;
    return this.#malformed;
  }

  /** Byte at logical position `i` (i < buffered). Headers sit within the first one or few chunks. */
  #peekByte(i: number): number {
    let pos = i + this.#offset;
    for (let k = this.#head; k < this.#tail; k++) {
      const c = this.#chunks[k] as Buffer;
      if (pos < c.length) return c[pos] ?? 0;
      pos -= c.length;
    }
    return 0;
  }

  #peekU16(i: number): number {
    return (this.#peekByte(i) << 8) | this.#peekByte(i + 1);
  }

  /** Drop consumed chunk slots once they dominate the array, keeping the work per byte constant. */
  #compact(): void {
    if (this.#head === this.#tail) {
      for (let k = 0; k < this.#tail; k++) this.#chunks[k] = undefined; // consumed: the framer keeps no chunk alive
      this.#head = 0;
      this.#tail = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#tail) {
      this.#chunks = this.#chunks.slice(this.#head, this.#tail);
      this.#tail -= this.#head;
      this.#head = 0;
    }
  }

  /**
   * Remove one `n`-byte ADU from the buffered bytes; returns its PDU (after the 7-byte header): a view of the
   * chunk holding the whole ADU (the usual case), else a view of a fresh buffer the ADU is copied into.
   */
  #takePdu(n: number): Buffer {
    const first = this.#chunks[this.#head] as Buffer;
    if (first.length - this.#offset >= n) {
      const pdu = first.subarray(this.#offset + MBAP_HEADER_LENGTH, this.#offset + n);
      this.#offset += n;
      if (this.#offset === first.length) {
        this.#head++;
        this.#offset = 0;
      }
      this.#buffered -= n;
      this.#compact();
      return pdu;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[this.#head] as Buffer;
      const copied = c.copy(out, filled, this.#offset, Math.min(c.length, this.#offset + n - filled));
      filled += copied;
      this.#offset += copied;
      if (this.#offset === c.length) {
        this.#head++;
        this.#offset = 0;
      }
    }
    this.#buffered -= n;
    this.#compact();
    return out.subarray(MBAP_HEADER_LENGTH);
  }
}

/**
 * A frame whose whole ADU — which the gateway never reads — is a view made only when asked for (the header
 * bytes sit right before the PDU, in the chunk or in the frame's own buffer): one buffer view fewer per frame,
 * on both sides of every request.
 */
class MbapFrame implements Frame {
  constructor(
    readonly header: MbapHeader,
    readonly pdu: Buffer,
  ) {}

  get adu(): Buffer {
    const p = this.pdu;
    return Buffer.from(p.buffer, p.byteOffset - MBAP_HEADER_LENGTH, p.length + MBAP_HEADER_LENGTH);
  }
}
