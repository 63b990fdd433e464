/**
 * Turns a producer's event into the stored line: adds chain fields, applies the `values` policy to
 * request.decision writes (include, or SHA-256 of the canonical JSON of the values) and to record.decision
 * data (include as hex, or SHA-256 of the record bytes), hashes. The line is rendered into the batch's
 * LineBuffer (canonical-line.ts); the record object (for subscribers) is built only when asked: on the
 * request path the line's bytes are all that is written.
 */
import type { AuditEventInput, AuditRecord } from './audit-events.js';
import type { AuditWriteRange, AuditWriteRangeInput } from './request-event-fields.js';
import { canonicalJson, sha256Hex } from './canonical-json.js';
import { canonicalLine, renderLine } from './canonical-line.js';
import { RequestDecisionEvent, renderDecisionLine } from './decision-line.js';
import type { LineBuffer } from './line-buffer.js';

const RESERVED: ReadonlySet<string> = new Set(['seq', 'time', 'prev', 'hash']);

export interface ChainFields {
  readonly seq: number;
  readonly time: string;
  readonly prev: string;
  readonly values: 'include' | 'hash';
}

/** A rendered event: where its line is in the LineBuffer, its hash, and how to rebuild the record object. */
export interface BuiltLine {
  readonly seq: number;
  /** Offset of the line in the LineBuffer it was rendered into. */
  readonly at: number;
  readonly hash: string;
  readonly fields: Readonly<Record<string, unknown>>;
  readonly time: string;
  readonly prev: string;
  /** UTF-8 bytes of the line plus its newline, as it takes in a segment. */
  readonly bytes: number;
}

/** Renders the line at `out.end`, not committed: the caller commits it (out.commit()) or rolls it back. */
export function buildLine(input: AuditEventInput, chain: ChainFields, out: LineBuffer): BuiltLine {
  const fields = applyValuesPolicy(input, chain.values);
  const at = out.end;
  // the request path's event in its one shape (decision-line.ts); every other event through the generic plan
  const hash =
    fields instanceof RequestDecisionEvent
      ? renderDecisionLine(out, fields, chain)
      : renderLine(out, fields, chain, RESERVED);
  return { seq: chain.seq, at, hash, fields, time: chain.time, prev: chain.prev, bytes: out.pos - at };
}

/** The record as stored (what a subscriber or a verifier sees). */
export function recordOf(b: Pick<BuiltLine, 'seq' | 'hash' | 'fields' | 'time' | 'prev'>): AuditRecord {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(b.fields)) if (!RESERVED.has(k) && b.fields[k] !== undefined) out[k] = b.fields[k];
  out['seq'] = b.seq;
  out['time'] = b.time;
  out['prev'] = b.prev;
  out['hash'] = b.hash;
  return out as unknown as AuditRecord;
}

export function buildRecord(input: AuditEventInput, chain: ChainFields): { record: AuditRecord; line: string } {
  const fields = applyValuesPolicy(input, chain.values);
  const { line, hash } = canonicalLine(fields, chain, RESERVED);
  const record = recordOf({ seq: chain.seq, hash, fields, time: chain.time, prev: chain.prev });
  return { record, line };
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
