/**
 * Record read/write headers [IEC 61158-6-10 IODReadReqHeader, IODReadResHeader, IODWriteReqHeader,
 * IODWriteResHeader]: 64 bytes each (BlockLength 60), big-endian. The common part is SeqNumber, ARUUID, API,
 * SlotNumber, SubslotNumber, Padding(2), Index, RecordDataLength. Then:
 * - read request: TargetARUUID + 8 padding bytes when the ARUUID is nil (Read Implicit), else 24 padding;
 * - read response: AdditionalValue1, AdditionalValue2, 20 padding; the record data follows the block;
 * - write request: 24 padding; the record data follows the block;
 * - write response: AdditionalValue1, AdditionalValue2, PNIOStatus, 16 padding.
 */
import { Reader, Writer } from './bytes.js';
import { BlockType } from './constants.js';
import { encodeBlock, expectBlock, type Block } from './block.js';
import { pnioStatusFromU32, pnioStatusToU32, PNIO_OK, type PnioStatus } from './pnio-status.js';
import { fail, ok, type Decoded } from './result.js';
import { NIL_UUID, type Uuid } from './uuid.js';

export const RW_HEADER_CONTENT = 58; // 64 − 6-byte block header

/** Where a record lives and how long it is. */
export interface RecordAddress {
  readonly api: number;
  readonly slot: number;
  readonly subslot: number;
  readonly index: number;
}

export interface RecordHeader extends RecordAddress {
  readonly sequenceNumber: number;
  readonly arUuid: Uuid;
  readonly recordDataLength: number;
}

export interface ReadReqHeader extends RecordHeader {
  /** Read Implicit only (nil ARUUID): the AR whose view is read; nil for the device's own view. */
  readonly targetArUuid: Uuid;
}

export interface ReadResHeader extends RecordHeader {
  readonly additionalValue1: number;
  readonly additionalValue2: number;
}

export interface WriteResHeader extends ReadResHeader {
  readonly status: PnioStatus;
}

function writeCommon(w: Writer, h: RecordHeader): void {
  w.u16(h.sequenceNumber)
    .uuid(h.arUuid)
    .u32(h.api)
    .u16(h.slot)
    .u16(h.subslot)
    .zeros(2)
    .u16(h.index)
    .u32(h.recordDataLength);
}

function readCommon(r: Reader): RecordHeader {
  const sequenceNumber = r.u16();
  const arUuid = r.uuid();
  const api = r.u32();
  const slot = r.u16();
  const subslot = r.u16();
  r.skip(2);
  return { sequenceNumber, arUuid, api, slot, subslot, index: r.u16(), recordDataLength: r.u32() };
}

export function encodeReadReqBlock(h: ReadReqHeader): Buffer {
  const w = new Writer();
  writeCommon(w, h);
  if (h.arUuid === NIL_UUID) w.uuid(h.targetArUuid).zeros(8);
  else w.zeros(24);
  return encodeBlock(BlockType.IODReadReqHeader, w.toBuffer());
}

export function decodeReadReqBlock(b: Block): Decoded<ReadReqHeader> {
  const e = expectBlock(b, BlockType.IODReadReqHeader, RW_HEADER_CONTENT);
  if (!e.ok) return e;
  const r = new Reader(b.content);
  const common = readCommon(r);
  const targetArUuid = common.arUuid === NIL_UUID ? r.uuid() : NIL_UUID;
  return ok({ ...common, targetArUuid });
}

export function encodeReadResBlock(h: ReadResHeader): Buffer {
  const w = new Writer();
  writeCommon(w, h);
  w.u16(h.additionalValue1).u16(h.additionalValue2).zeros(20);
  return encodeBlock(BlockType.IODReadResHeader, w.toBuffer());
}

export function decodeReadResBlock(b: Block): Decoded<ReadResHeader> {
  const e = expectBlock(b, BlockType.IODReadResHeader, RW_HEADER_CONTENT);
  if (!e.ok) return e;
  const r = new Reader(b.content);
  const common = readCommon(r);
  return ok({ ...common, additionalValue1: r.u16(), additionalValue2: r.u16() });
}

export function encodeWriteReqBlock(h: RecordHeader): Buffer {
  const w = new Writer();
  writeCommon(w, h);
  w.zeros(24);
  return encodeBlock(BlockType.IODWriteReqHeader, w.toBuffer());
}

export function decodeWriteReqBlock(b: Block): Decoded<RecordHeader> {
  const e = expectBlock(b, BlockType.IODWriteReqHeader, RW_HEADER_CONTENT);
  if (!e.ok) return e;
  return ok(readCommon(new Reader(b.content)));
}

export function encodeWriteResBlock(h: WriteResHeader): Buffer {
  const w = new Writer();
  writeCommon(w, h);
  w.u16(h.additionalValue1)
    .u16(h.additionalValue2)
    .u32(pnioStatusToU32(h.status ?? PNIO_OK))
    .zeros(16);
  return encodeBlock(BlockType.IODWriteResHeader, w.toBuffer());
}

export function decodeWriteResBlock(b: Block): Decoded<WriteResHeader> {
  const e = expectBlock(b, BlockType.IODWriteResHeader, RW_HEADER_CONTENT);
  if (!e.ok) return e;
  const r = new Reader(b.content);
  const common = readCommon(r);
  return ok({ ...common, additionalValue1: r.u16(), additionalValue2: r.u16(), status: pnioStatusFromU32(r.u32()) });
}

/** An answer header names the record the request named (same sequence, AR, API, slot, subslot, index). */
export function sameRecord(req: RecordHeader, res: RecordHeader): Decoded<true> {
  for (const k of ['sequenceNumber', 'arUuid', 'api', 'slot', 'subslot', 'index'] as const) {
    if (req[k] !== res[k]) return fail('mismatch', `answer ${k} ${String(res[k])}, request ${String(req[k])}`);
  }
  return ok(true);
}
