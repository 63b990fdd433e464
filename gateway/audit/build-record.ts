/**
 * Turns a producer's event into the stored line: adds chain fields, applies the `values` policy to
 * request.decision writes (include, or SHA-256 of the canonical JSON of the values) and to record.decision
 * data (include as hex, or SHA-256 of the record bytes), hashes. The record object (for subscribers) is built
 * only when asked: on the request path the line is all that is written.
 */
import type { AuditEventInput, AuditRecord, AuditWriteRange, AuditWriteRangeInput } from './audit-events.js';
import { canonicalJson, canonicalLine, sha256Hex } from './canonical-json.js';

const RESERVED: ReadonlySet<string> = new Set(['seq', 'time', 'prev', 'hash']);

export interface ChainFields {
  readonly seq: number;
  readonly time: string;
  readonly prev: string;
  readonly values: 'include' | 'hash';
}

/** A rendered event: its line (no newline), hash, and how to rebuild the record object. */
export interface BuiltLine {
  readonly seq: number;
  readonly line: string;
  readonly hash: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly time: string;
  readonly prev: string;
  /** UTF-8 bytes of the line plus its newline, as it takes in a segment. */
  readonly bytes: number;
}

export function buildLine(input: AuditEventInput, chain: ChainFields): BuiltLine {
  const fields = applyValuesPolicy(input, chain.values);
  const { line, hash } = canonicalLine(fields, chain, RESERVED);
  return {
    seq: chain.seq,
    line,
    hash,
    fields,
    time: chain.time,
    prev: chain.prev,
    bytes: Buffer.byteLength(line, 'utf8') + 1,
  };
}

/** The record as stored (what a subscriber or a verifier sees). */
export function recordOf(b: BuiltLine): AuditRecord {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(b.fields)) if (!RESERVED.has(k) && b.fields[k] !== undefined) out[k] = b.fields[k];
  out['seq'] = b.seq;
  out['time'] = b.time;
  out['prev'] = b.prev;
  out['hash'] = b.hash;
  return out as unknown as AuditRecord;
}

export function buildRecord(input: AuditEventInput, chain: ChainFields): { record: AuditRecord; line: string } {
  const b = buildLine(input, chain);
  return { record: recordOf(b), line: b.line };
}

/** `values: hash` replaces written values and record data by their digests; otherwise the input as is. */
function applyValuesPolicy(input: AuditEventInput, values: 'include' | 'hash'): Readonly<Record<string, unknown>> {
  if (values !== 'hash') return input as unknown as Record<string, unknown>;
  if (input.type === 'request.decision') return { ...input, writes: input.writes.map(hashValues) };
  if (input.type === 'record.decision' && input.data !== undefined) {
    const { data, ...rest } = input;
    return { ...rest, dataSha256: sha256Hex(Buffer.from(data, 'hex')) };
  }
  return input as unknown as Record<string, unknown>;
}

function hashValues(w: AuditWriteRangeInput): AuditWriteRange {
  const { values, ...range } = w;
  if (values === null) return { ...range, values: null };
  return { ...range, valuesSha256: sha256Hex(canonicalJson(values)) };
}
