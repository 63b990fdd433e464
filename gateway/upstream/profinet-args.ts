/**
 * Range checks of a record request before anything is queued or sent [IEC 61158-6-10: API u32, SlotNumber,
 * SubslotNumber and Index u16; RecordDataLength u32, bounded here to one 65535-byte record]. The front door
 * checks the same ranges first (INVALID_ARGUMENT); these make the client safe to call on its own.
 */
import { MAX_RECORD_LENGTH } from '../../protocols/profinet/constants.js';
import type { ReadRecordRequest, RecordTarget, WriteRecordRequest } from './profinet-types.js';

const inRange = (v: unknown, min: number, max: number): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;

function checkTarget(r: RecordTarget & { clientKey: unknown }): string | undefined {
  if (typeof r.clientKey !== 'string') return 'clientKey must be a string';
  if (!inRange(r.api, 0, 0xffffffff)) return `api ${String(r.api)} outside 0..0xFFFFFFFF`;
  if (!inRange(r.slot, 0, 0xffff)) return `slot ${String(r.slot)} outside 0..0xFFFF`;
  if (!inRange(r.subslot, 0, 0xffff)) return `subslot ${String(r.subslot)} outside 0..0xFFFF`;
  if (!inRange(r.index, 0, 0xffff)) return `index ${String(r.index)} outside 0..0xFFFF`;
  return undefined;
}

export function checkRead(r: ReadRecordRequest): string | undefined {
  return (
    checkTarget(r) ??
    (inRange(r.maxLength, 1, MAX_RECORD_LENGTH)
      ? undefined
      : `maxLength ${String(r.maxLength)} outside 1..${MAX_RECORD_LENGTH}`)
  );
}

export function checkWrite(r: WriteRecordRequest): string | undefined {
  const bad = checkTarget(r);
  if (bad !== undefined) return bad;
  if (!Buffer.isBuffer(r.data)) return 'data must be a Buffer';
  if (r.data.length < 1 || r.data.length > MAX_RECORD_LENGTH)
    return `data of ${r.data.length} bytes outside 1..${MAX_RECORD_LENGTH}`;
  return undefined;
}
