/**
 * IODControlReq/Res [IEC 61158-6-10]: Padding(2), ARUUID, SessionKey, Reserved/AlarmSequenceNumber(2),
 * ControlCommand, ControlBlockProperties; BlockLength 28. A supervisor AR is ended with a Release
 * (ReleaseBlockReq 0x0114, ControlCommand.Release, opnum 1); the device answers 0x8114 with
 * ControlCommand.Done.
 */
import { Reader, Writer } from './bytes.js';
import { BlockType, ControlCommand } from './constants.js';
import { encodeBlock, type Block } from './block.js';
import { fail, hex16, ok, type Decoded } from './result.js';
import type { Uuid } from './uuid.js';

export interface ControlBlock {
  readonly blockType: number;
  readonly arUuid: Uuid;
  readonly sessionKey: number;
  readonly alarmSequenceNumber: number;
  readonly controlCommand: number;
  readonly controlBlockProperties: number;
}

const CONTROL_CONTENT = 26;

export function encodeControlBlock(c: ControlBlock): Buffer {
  const w = new Writer();
  w.zeros(2)
    .uuid(c.arUuid)
    .u16(c.sessionKey)
    .u16(c.alarmSequenceNumber)
    .u16(c.controlCommand)
    .u16(c.controlBlockProperties);
  return encodeBlock(c.blockType, w.toBuffer());
}

export function releaseRequestBlock(arUuid: Uuid, sessionKey: number): Buffer {
  return encodeControlBlock({
    blockType: BlockType.ReleaseBlockReq,
    arUuid,
    sessionKey,
    alarmSequenceNumber: 0,
    controlCommand: ControlCommand.Release,
    controlBlockProperties: 0,
  });
}

export function releaseResponseBlock(arUuid: Uuid, sessionKey: number): Buffer {
  return encodeControlBlock({
    blockType: BlockType.ReleaseBlockRes,
    arUuid,
    sessionKey,
    alarmSequenceNumber: 0,
    controlCommand: ControlCommand.Done,
    controlBlockProperties: 0,
  });
}

/** Any IODControl block (0x0110–0x0118 requests, 0x8110–0x8118 responses). */
export function decodeControlBlock(b: Block): Decoded<ControlBlock> {
  const t = b.header.type & 0x7fff;
  if (t < 0x0110 || t > 0x0118) return fail('block-type', `block ${hex16(b.header.type)} is no IODControl block`);
  if (b.header.versionHigh !== 1 || b.header.versionLow !== 0)
    return fail('block-version', `IODControl version ${b.header.versionHigh}.${b.header.versionLow}`);
  if (b.content.length !== CONTROL_CONTENT)
    return fail('block-length', `IODControl BlockLength ${b.header.length}, expected 28`);
  const r = new Reader(b.content, 2);
  return ok({
    blockType: b.header.type,
    arUuid: r.uuid(),
    sessionKey: r.u16(),
    alarmSequenceNumber: r.u16(),
    controlCommand: r.u16(),
    controlBlockProperties: r.u16(),
  });
}
