/**
 * Logbook record (index 0xF830, block 0x0019 LogBookData, version 1.0) [IEC 61158-6-10]:
 * ActualLocalTimeStamp (u64), NumberOfLogEntries (u16), then per entry LocalTimeStamp (u64), ARUUID,
 * PNIOStatus, EntryDetail (u32): 32 bytes. Timestamps are given as 16 hex digits (they are device
 * clock ticks whose epoch the device defines).
 */
import { Reader, Writer } from '../bytes.js';
import { BlockType } from '../constants.js';
import { encodeBlock, expectBlock, readOneBlock } from '../block.js';
import { pnioStatusFromU32, pnioStatusToU32, type PnioStatus } from '../pnio-status.js';
import { fail, ok, type Decoded } from '../result.js';
import type { Uuid } from '../uuid.js';

export interface LogEntry {
  readonly localTimeStamp: string;
  readonly arUuid: Uuid;
  readonly status: PnioStatus;
  readonly entryDetail: number;
}

export interface LogBook {
  readonly actualLocalTimeStamp: string;
  readonly entries: readonly LogEntry[];
}

const ENTRY_SIZE = 32;
const ts = (v: bigint): string => v.toString(16).padStart(16, '0');

export function decodeLogBook(data: Buffer): Decoded<LogBook> {
  const one = readOneBlock(data);
  if (!one.ok) return one;
  const b = one.value;
  const e = expectBlock(b, BlockType.LogBookData);
  if (!e.ok) return e;
  const r = new Reader(b.content);
  const actualLocalTimeStamp = ts(r.u64());
  const n = r.u16();
  if (r.overrun) return fail('truncated', `LogBookData block of ${b.content.length} bytes`);
  if (r.remaining !== n * ENTRY_SIZE)
    return fail('block-length', `${n} log entries need ${n * ENTRY_SIZE} bytes, ${r.remaining} present`);
  const entries = Array.from({ length: n }, () => ({
    localTimeStamp: ts(r.u64()),
    arUuid: r.uuid(),
    status: pnioStatusFromU32(r.u32()),
    entryDetail: r.u32(),
  }));
  return ok({ actualLocalTimeStamp, entries });
}

export function encodeLogBook(v: LogBook): Buffer {
  const w = new Writer();
  w.u64(BigInt(`0x${v.actualLocalTimeStamp}`)).u16(v.entries.length);
  for (const e of v.entries)
    w.u64(BigInt(`0x${e.localTimeStamp}`))
      .uuid(e.arUuid)
      .u32(pnioStatusToU32(e.status))
      .u32(e.entryDetail);
  return encodeBlock(BlockType.LogBookData, w.toBuffer());
}
