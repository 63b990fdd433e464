/**
 * WriteMultiple (record index 0xE040) [IEC 61158-6-10 IODWriteMultipleReq]: the record data of ONE write is
 * a list of whole writes, each an IODWriteReqHeader (block 0x0008, its own API, slot, subslot, index and
 * RecordDataLength) followed by its record data and padding to the next 4-byte boundary. A device runs every
 * inner write, so whoever judges the outer write must judge each inner one: `decodeWriteMultiple` gives them.
 *
 * Container indices are the records whose data carries other record requests. Only WriteMultiple is decoded;
 * CombinedObjectContainer (0x80B0) carries request blocks this codec does not model, so a gateway cannot judge
 * what it would make the device do (`containerIndexName` names both).
 */
import { readBlock } from '../block.js';
import { BlockType } from '../constants.js';
import { decodeWriteReqBlock } from '../record-rw.js';
import { fail, ok, within, type Decoded } from '../result.js';

export const WRITE_MULTIPLE_INDEX = 0xe040;
export const COMBINED_OBJECT_CONTAINER_INDEX = 0x80b0;

/** Record indices whose write data holds further record requests [IEC 61158-6-10 Index]. */
const CONTAINER_INDICES: ReadonlyMap<number, string> = new Map([
  [WRITE_MULTIPLE_INDEX, 'WriteMultiple'],
  [COMBINED_OBJECT_CONTAINER_INDEX, 'CombinedObjectContainer'],
]);

/** The container's name when `index` is a container index, else null. */
export function containerIndexName(index: number): string | null {
  return CONTAINER_INDICES.get(index) ?? null;
}

/** One write inside a WriteMultiple. `data` is a view into the container's bytes. */
export interface InnerWrite {
  readonly api: number;
  readonly slot: number;
  readonly subslot: number;
  readonly index: number;
  readonly data: Buffer;
}

/** Bound on inner writes: a few dozen in practice; more is refused before anything loops over it. */
export const MAX_INNER_WRITES = 256;

const HEADER_LENGTH = 64;

/**
 * The inner writes of a WriteMultiple's record data, in order. Refused: anything but IODWriteReqHeader
 * blocks, an empty list, an inner write of 0 bytes or past the end, padding that is not 0–3 zero bytes.
 */
export function decodeWriteMultiple(data: Buffer): Decoded<InnerWrite[]> {
  const out: InnerWrite[] = [];
  let at = 0;
  while (at < data.length) {
    if (out.length >= MAX_INNER_WRITES) return fail('too-large', `more than ${MAX_INNER_WRITES} inner writes`);
    const where = `inner write ${out.length} at byte ${at}`;
    const b = readBlock(data, at);
    if (!b.ok) return within(where, b);
    if (b.value.header.type !== BlockType.IODWriteReqHeader)
      return fail('block-type', `${where}: block 0x${b.value.header.type.toString(16).padStart(4, '0')}`);
    const h = decodeWriteReqBlock(b.value);
    if (!h.ok) return within(where, h);
    const start = at + HEADER_LENGTH;
    const end = start + h.value.recordDataLength;
    if (h.value.recordDataLength === 0) return fail('field-value', `${where}: RecordDataLength 0`);
    if (end > data.length)
      return fail(
        'truncated',
        `${where}: RecordDataLength ${h.value.recordDataLength}, ${data.length - start} present`,
      );
    const { api, slot, subslot, index } = h.value;
    out.push({ api, slot, subslot, index, data: data.subarray(start, end) });
    at = paddedEnd(data, end);
    if (at < 0) return fail('field-value', `${where}: padding after the record data is not zero`);
  }
  if (out.length === 0) return fail('truncated', 'a WriteMultiple with no inner write');
  return ok(out);
}

/** The next 4-byte boundary after `end` (or the data's end, if sooner); -1 when a padding byte is not 0. */
function paddedEnd(data: Buffer, end: number): number {
  const next = Math.min((end + 3) & ~3, data.length);
  for (let i = end; i < next; i++) if (data[i] !== 0) return -1;
  return next;
}
