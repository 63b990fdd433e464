/**
 * A PROFINET record service as a client asks for it (front door → policy → upstream): read or write one
 * record addressed by API, slot, subslot and index [IEC 61158-6-10, IODReadReq/IODWriteReq]. Plain data,
 * no bytes on the wire yet; `validateRecordRequest` checks the field widths before anything else looks at it.
 */
import { MAX_RECORD_LENGTH } from './constants.js';
import { fail, ok, type Decoded } from './result.js';

export interface RecordRequest {
  readonly access: 'read' | 'write';
  /** Application process identifier (u32); 0 is the default API. */
  readonly api: number;
  /** u16 */
  readonly slot: number;
  /** u16 */
  readonly subslot: number;
  /** u16 record index (0x0000–0x7FFF user indices, vendor-specific). */
  readonly index: number;
  /** read: the most bytes asked for (RecordDataLength); write: the data length. 1..65535 (an empty record service is refused). */
  readonly length: number;
  /** write only: the record bytes, exactly `length` of them. */
  readonly data?: Buffer;
}

const U16 = 0xffff;
const U32 = 0xffffffff;

function uint(name: string, v: unknown, max: number, min = 0): string | null {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    return `${name} ${String(v)} is outside ${min}..${max}`;
  return null;
}

/** Field widths and consistency of a record request; `field-value` with the first problem otherwise. */
export function validateRecordRequest(req: RecordRequest): Decoded<RecordRequest> {
  if (req.access !== 'read' && req.access !== 'write')
    return fail('field-value', `access ${JSON.stringify(req.access)} is neither read nor write`);
  const problem =
    uint('api', req.api, U32) ??
    uint('slot', req.slot, U16) ??
    uint('subslot', req.subslot, U16) ??
    uint('index', req.index, U16) ??
    uint('length', req.length, MAX_RECORD_LENGTH, 1);
  if (problem !== null) return fail('field-value', problem);
  if (req.access === 'read') {
    if (req.data !== undefined) return fail('field-value', 'a read carries no data');
    return ok(req);
  }
  if (!Buffer.isBuffer(req.data)) return fail('field-value', 'a write needs data');
  if (req.data.length !== req.length)
    return fail('field-value', `write of ${req.data.length} bytes with length ${req.length}`);
  return ok(req);
}
