/**
 * PNIO blocks [IEC 61158-6-10 BlockHeader]: BlockType u16, BlockLength u16 (the bytes after this field,
 * so the version bytes count), BlockVersionHigh u8, BlockVersionLow u8; always big-endian.
 */
import { Writer } from './bytes.js';
import { fail, hex16, ok, type Decoded } from './result.js';

export interface BlockHeader {
  readonly type: number;
  /** BlockLength as on the wire: version bytes + content. */
  readonly length: number;
  readonly versionHigh: number;
  readonly versionLow: number;
}

export interface Block {
  readonly header: BlockHeader;
  /** Content after the version bytes (BlockLength − 2 bytes). */
  readonly content: Buffer;
}

export const BLOCK_HEADER_LENGTH = 6;

/** One block at `offset`; its end is `offset + 4 + BlockLength`. */
export function readBlock(buf: Buffer, offset = 0): Decoded<Block & { end: number }> {
  if (buf.length - offset < BLOCK_HEADER_LENGTH)
    return fail('truncated', `${buf.length - offset} bytes, a block header needs 6`);
  const type = buf.readUInt16BE(offset);
  const length = buf.readUInt16BE(offset + 2);
  if (length < 2) return fail('block-length', `block ${hex16(type)} BlockLength ${length} < 2`);
  const end = offset + 4 + length;
  if (end > buf.length)
    return fail('truncated', `block ${hex16(type)} BlockLength ${length}, ${buf.length - offset - 4} bytes present`);
  const header = { type, length, versionHigh: buf[offset + 4] ?? 0, versionLow: buf[offset + 5] ?? 0 };
  return ok({ header, content: buf.subarray(offset + BLOCK_HEADER_LENGTH, end), end });
}

/** All blocks that tile `buf` exactly, at most `max` of them. */
export function readBlocks(buf: Buffer, max = 64): Decoded<Block[]> {
  const out: Block[] = [];
  let at = 0;
  while (at < buf.length) {
    if (out.length >= max) return fail('too-large', `more than ${max} blocks`);
    const b = readBlock(buf, at);
    if (!b.ok) return b;
    out.push({ header: b.value.header, content: b.value.content });
    at = b.value.end;
  }
  return ok(out);
}

/** Exactly one block and nothing after it. */
export function readOneBlock(buf: Buffer): Decoded<Block> {
  const b = readBlock(buf, 0);
  if (!b.ok) return b;
  if (b.value.end !== buf.length)
    return fail('trailing-bytes', `${buf.length - b.value.end} bytes after block ${hex16(b.value.header.type)}`);
  return ok({ header: b.value.header, content: b.value.content });
}

/** Check a block's type, version 1.x and, when given, its exact content length. */
export function expectBlock(
  b: Block,
  type: number,
  contentLength?: number,
  versionsLow: readonly number[] = [0],
): Decoded<Block> {
  if (b.header.type !== type) return fail('block-type', `block ${hex16(b.header.type)}, expected ${hex16(type)}`);
  if (b.header.versionHigh !== 1 || !versionsLow.includes(b.header.versionLow)) {
    return fail('block-version', `block ${hex16(type)} version ${b.header.versionHigh}.${b.header.versionLow}`);
  }
  if (contentLength !== undefined && b.content.length !== contentLength) {
    return fail('block-length', `block ${hex16(type)} BlockLength ${b.header.length}, expected ${contentLength + 2}`);
  }
  return ok(b);
}

export function encodeBlock(type: number, content: Buffer, versionLow = 0, versionHigh = 1): Buffer {
  if (content.length + 2 > 0xffff) throw new RangeError(`block ${hex16(type)} content of ${content.length} bytes`);
  const w = new Writer();
  w.u16(type)
    .u16(content.length + 2)
    .u8(versionHigh)
    .u8(versionLow)
    .bytes(content);
  return w.toBuffer();
}
