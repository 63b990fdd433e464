/**
 * Bounds-safe byte cursor and a growing writer. The reader never throws: a read past the end returns zeros
 * and sets `overrun`, so a decoder reads its fields straight through and checks once. Integers follow the
 * byte order given (NDR data follows the DCE/RPC DREP; PNIO blocks are always big-endian [IEC 61158-6-10]).
 */
import { NIL_UUID, uuidFromBytes, uuidToBytes, type Uuid } from './uuid.js';

export class Reader {
  #at: number;
  overrun = false;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly littleEndian = false,
  ) {
    this.#at = start;
  }

  get offset(): number {
    return this.#at;
  }

  get remaining(): number {
    return Math.max(0, this.buf.length - this.#at);
  }

  #take(n: number): number {
    const at = this.#at;
    this.#at += n;
    if (this.#at > this.buf.length) this.overrun = true;
    return at;
  }

  u8(): number {
    const at = this.#take(1);
    return this.overrun ? 0 : (this.buf[at] ?? 0);
  }

  u16(): number {
    const at = this.#take(2);
    if (this.overrun) return 0;
    return this.littleEndian ? this.buf.readUInt16LE(at) : this.buf.readUInt16BE(at);
  }

  u32(): number {
    const at = this.#take(4);
    if (this.overrun) return 0;
    return this.littleEndian ? this.buf.readUInt32LE(at) : this.buf.readUInt32BE(at);
  }

  u64(): bigint {
    const at = this.#take(8);
    if (this.overrun) return 0n;
    return this.littleEndian ? this.buf.readBigUInt64LE(at) : this.buf.readBigUInt64BE(at);
  }

  /** `n` bytes as a view (no copy); empty when they are not all there. */
  bytes(n: number): Buffer {
    const at = this.#take(n);
    return this.overrun ? Buffer.alloc(0) : this.buf.subarray(at, at + n);
  }

  /** A UUID in this reader's byte order (DREP for RPC headers, big-endian inside blocks). */
  uuid(): Uuid {
    const b = this.bytes(16);
    return b.length === 16 ? uuidFromBytes(b, 0, this.littleEndian) : NIL_UUID;
  }

  skip(n: number): void {
    this.#take(n);
  }
}

export class Writer {
  #parts: Buffer[] = [];
  #length = 0;

  constructor(readonly littleEndian = false) {}

  get length(): number {
    return this.#length;
  }

  #push(b: Buffer): this {
    this.#parts.push(b);
    this.#length += b.length;
    return this;
  }

  u8(v: number): this {
    return this.#push(Buffer.from([v & 0xff]));
  }

  u16(v: number): this {
    const b = Buffer.alloc(2);
    if (this.littleEndian) b.writeUInt16LE(v & 0xffff);
    else b.writeUInt16BE(v & 0xffff);
    return this.#push(b);
  }

  u32(v: number): this {
    const b = Buffer.alloc(4);
    if (this.littleEndian) b.writeUInt32LE(v >>> 0);
    else b.writeUInt32BE(v >>> 0);
    return this.#push(b);
  }

  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    if (this.littleEndian) b.writeBigUInt64LE(BigInt.asUintN(64, v));
    else b.writeBigUInt64BE(BigInt.asUintN(64, v));
    return this.#push(b);
  }

  bytes(b: Uint8Array): this {
    return this.#push(Buffer.from(b));
  }

  uuid(u: Uuid): this {
    return this.#push(uuidToBytes(u, this.littleEndian));
  }

  zeros(n: number): this {
    return this.#push(Buffer.alloc(n));
  }

  /** A fixed-width visible string, space padded [IEC 61158-6-10 VisibleString for I&M]; longer text is cut. */
  text(s: string, width: number): this {
    const b = Buffer.alloc(width, 0x20);
    b.write(s.slice(0, width), 'latin1');
    return this.#push(b);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.#parts, this.#length);
  }
}

/** Visible string out of a fixed-width field: latin1, trailing spaces and NULs removed. */
export function visibleString(b: Buffer): string {
  return b.toString('latin1').replace(/[\s\0]+$/u, '');
}
