/**
 * Identification & Maintenance records [IEC 61158-6-10 I&M0FilterData, I&M0–I&M3; PI "Identification &
 * Maintenance Functions"]: each record is one block, fixed length, visible strings padded with spaces.
 * I&M0 (index 0xAFF0, block 0x0020, 56 bytes after BlockLength): VendorID, OrderID[20], IM_Serial_Number[16],
 * IM_Hardware_Revision, IM_Software_Revision (prefix char + 3 bytes), IM_Revision_Counter, IM_Profile_ID,
 * IM_Profile_Specific_Type, IM_Version (major, minor), IM_Supported (bit 1 = I&M1 … bit 4 = I&M4).
 */
import { Reader, visibleString, Writer } from '../bytes.js';
import { BlockType } from '../constants.js';
import { encodeBlock, expectBlock, readOneBlock } from '../block.js';
import { ok, type Decoded } from '../result.js';

export interface Im0 {
  readonly vendorId: number;
  readonly orderId: string;
  readonly serialNumber: string;
  readonly hardwareRevision: number;
  /** 'V' released, 'R' revision, 'P' prototype, 'U' under test, 'T' test device. */
  readonly softwareRevisionPrefix: string;
  readonly softwareRevision: readonly [number, number, number];
  readonly revisionCounter: number;
  readonly profileId: number;
  readonly profileSpecificType: number;
  readonly imVersion: readonly [number, number];
  readonly imSupported: number;
}

export interface Im1 {
  readonly tagFunction: string;
  readonly tagLocation: string;
}
export interface Im2 {
  /** `YYYY-MM-DD HH:MM`. */
  readonly date: string;
}
export interface Im3 {
  readonly descriptor: string;
}

/** The record must be exactly one block of the given type and content length. */
function oneBlock(data: Buffer, type: number, content: number): Decoded<Reader> {
  const one = readOneBlock(data);
  if (!one.ok) return one;
  const b = one.value;
  const e = expectBlock(b, type, content);
  return e.ok ? ok(new Reader(b.content)) : e;
}

export function decodeIm0(data: Buffer): Decoded<Im0> {
  const r = oneBlock(data, BlockType.IM0, 54);
  if (!r.ok) return r;
  const x = r.value;
  return ok({
    vendorId: x.u16(),
    orderId: visibleString(x.bytes(20)),
    serialNumber: visibleString(x.bytes(16)),
    hardwareRevision: x.u16(),
    softwareRevisionPrefix: String.fromCharCode(x.u8()),
    softwareRevision: [x.u8(), x.u8(), x.u8()],
    revisionCounter: x.u16(),
    profileId: x.u16(),
    profileSpecificType: x.u16(),
    imVersion: [x.u8(), x.u8()],
    imSupported: x.u16(),
  });
}

export function encodeIm0(v: Im0): Buffer {
  const w = new Writer();
  w.u16(v.vendorId).text(v.orderId, 20).text(v.serialNumber, 16).u16(v.hardwareRevision);
  w.u8(v.softwareRevisionPrefix.charCodeAt(0) || 0x56)
    .u8(v.softwareRevision[0])
    .u8(v.softwareRevision[1])
    .u8(v.softwareRevision[2]);
  w.u16(v.revisionCounter)
    .u16(v.profileId)
    .u16(v.profileSpecificType)
    .u8(v.imVersion[0])
    .u8(v.imVersion[1])
    .u16(v.imSupported);
  return encodeBlock(BlockType.IM0, w.toBuffer());
}

export function decodeIm1(data: Buffer): Decoded<Im1> {
  const r = oneBlock(data, BlockType.IM1, 54);
  return r.ok
    ? ok({ tagFunction: visibleString(r.value.bytes(32)), tagLocation: visibleString(r.value.bytes(22)) })
    : r;
}

export function encodeIm1(v: Im1): Buffer {
  return encodeBlock(BlockType.IM1, new Writer().text(v.tagFunction, 32).text(v.tagLocation, 22).toBuffer());
}

export function decodeIm2(data: Buffer): Decoded<Im2> {
  const r = oneBlock(data, BlockType.IM2, 16);
  return r.ok ? ok({ date: visibleString(r.value.bytes(16)) }) : r;
}

export function encodeIm2(v: Im2): Buffer {
  return encodeBlock(BlockType.IM2, new Writer().text(v.date, 16).toBuffer());
}

export function decodeIm3(data: Buffer): Decoded<Im3> {
  const r = oneBlock(data, BlockType.IM3, 54);
  return r.ok ? ok({ descriptor: visibleString(r.value.bytes(54)) }) : r;
}

export function encodeIm3(v: Im3): Buffer {
  return encodeBlock(BlockType.IM3, new Writer().text(v.descriptor, 54).toBuffer());
}
