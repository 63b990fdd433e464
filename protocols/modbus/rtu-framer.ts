/**
 * Streaming Modbus RTU framer [MB-SERIAL 2.5.1.1], pure: the caller pushes received chunks, loops `next()`, and
 * calls `silence()` when the line has been quiet for t3.5 (time stays outside, so this stays a pure function of
 * its inputs). Frames are cut by length (`RtuExpect`, see rtu-length.ts) and checked by CRC.
 *
 * After a bad frame (CRC error, impossible length) the receiver cannot know where the next frame starts: it drops
 * everything until the line falls silent, as the spec's receiver does ("frame NOK" → wait for t3.5). A frame of
 * unknown shape is what arrived before the silence; a frame of known length cut short by silence is `truncated`.
 * Never throws; holds at most 256 + one chunk of bytes.
 */
import { decodeRtuFrame, MAX_RTU_ADU_LENGTH, MIN_RTU_ADU_LENGTH } from './rtu-frame.js';
import type { RtuLength } from './rtu-length.js';

/** Says how long the frame starting with `head` is (rtuRequestLength, or rtuResponseLength for one request). */
export type RtuExpect = (head: Buffer) => RtuLength;

export type RtuCorruptReason = 'crc' | 'truncated' | 'too-long' | 'too-short';

export type RtuFrameResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'frame'; readonly address: number; readonly pdu: Buffer; readonly adu: Buffer }
  /** `bytes`: how many received bytes this verdict dropped. */
  | { readonly kind: 'corrupt'; readonly reason: RtuCorruptReason; readonly bytes: number; readonly detail: string };

const NEED_MORE: RtuFrameResult = Object.freeze({ kind: 'need-more' });
const EMPTY = Buffer.alloc(0);

/** Expect nothing in particular: whatever arrives is one frame ended by silence. */
export const UNKNOWN_LENGTH: RtuExpect = () => 'unknown';

export class RtuFramer {
  #expect: RtuExpect;
  #buf: Buffer = EMPTY;
  /** Dropping bytes until silence (after a bad frame). */
  #resync = false;
  #dropped = 0;

  constructor(expect: RtuExpect = UNKNOWN_LENGTH) {
    this.#expect = expect;
  }

  /** Bytes held (not yet returned as a frame or dropped). */
  get buffered(): number {
    return this.#buf.length;
  }

  /** True while bytes are dropped until the next silence. */
  get resyncing(): boolean {
    return this.#resync;
  }

  /** Bytes dropped while resynchronising since the last `silence()` (garbage accounting). */
  get droppedSinceSilence(): number {
    return this.#dropped;
  }

  /** Changes what the next frame should look like; bytes held and a resynchronisation in progress are kept. */
  expect(expect: RtuExpect): void {
    this.#expect = expect;
  }

  /** Starts a new exchange: what the next frame should look like. Bytes still held are returned as dropped. */
  reset(expect: RtuExpect): number {
    const held = this.#buf.length;
    this.#expect = expect;
    this.#buf = EMPTY;
    this.#resync = false;
    this.#dropped = 0;
    return held;
  }

  /**
   * The caller judged the frame in progress bad (e.g. bytes came after a frame's end before t3.5 of silence
   * [MB-SERIAL 2.5.1.1]): drops the bytes held and everything until the next `silence()`. Returns the bytes dropped now.
   */
  resync(): number {
    const held = this.#buf.length;
    this.#buf = EMPTY;
    this.#resync = true;
    return held;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#resync) {
      this.#dropped += chunk.length;
      return;
    }
    // Bounded: past one maximal frame the next `next()` refuses it; no need to keep more.
    const room = MAX_RTU_ADU_LENGTH + 1 - this.#buf.length;
    if (room <= 0) {
      this.#dropped += chunk.length;
      return;
    }
    const take = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.#dropped += chunk.length - take.length;
    this.#buf = this.#buf.length === 0 ? Buffer.from(take) : Buffer.concat([this.#buf, take]);
  }

  next(): RtuFrameResult {
    if (this.#resync || this.#buf.length === 0) return NEED_MORE;
    const want = this.#expect(this.#buf);
    if (typeof want !== 'number')
      return this.#buf.length > MAX_RTU_ADU_LENGTH
        ? this.#corrupt('too-long', `more than ${MAX_RTU_ADU_LENGTH} bytes without a frame end`)
        : NEED_MORE;
    if (want > MAX_RTU_ADU_LENGTH) return this.#corrupt('too-long', `frame would be ${want} bytes`);
    if (want < MIN_RTU_ADU_LENGTH) return this.#corrupt('too-short', `frame would be ${want} bytes`);
    if (this.#buf.length < want) return NEED_MORE;
    const adu = this.#buf.subarray(0, want);
    const decoded = decodeRtuFrame(adu);
    if (!decoded.ok) return this.#corrupt(decoded.reason, decoded.detail);
    this.#buf = this.#buf.length === want ? EMPTY : Buffer.from(this.#buf.subarray(want));
    return { kind: 'frame', address: decoded.address, pdu: decoded.pdu, adu: Buffer.from(adu) };
  }

  /** The line has been silent for t3.5: the frame in progress ends here. */
  silence(): RtuFrameResult {
    const wasResync = this.#resync;
    this.#resync = false;
    this.#dropped = 0;
    const buf = this.#buf;
    this.#buf = EMPTY;
    if (wasResync || buf.length === 0) return NEED_MORE;
    const want = this.#expect(buf);
    if (typeof want === 'number' || want === 'need-more') {
      return {
        kind: 'corrupt',
        reason: 'truncated',
        bytes: buf.length,
        detail: `silence after ${buf.length} bytes of a ${typeof want === 'number' ? `${want}-byte` : 'longer'} frame`,
      };
    }
    const decoded = decodeRtuFrame(buf);
    if (!decoded.ok) return { kind: 'corrupt', reason: decoded.reason, bytes: buf.length, detail: decoded.detail };
    return { kind: 'frame', address: decoded.address, pdu: decoded.pdu, adu: buf };
  }

  #corrupt(reason: RtuCorruptReason, detail: string): RtuFrameResult {
    const bytes = this.#buf.length;
    this.#buf = EMPTY;
    this.#resync = true;
    return { kind: 'corrupt', reason, bytes, detail };
  }
}
