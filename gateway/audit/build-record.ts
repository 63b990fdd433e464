/**
 * Turns a producer's event into the stored record: adds chain fields, applies the `values` policy to
 * request.decision writes (include, or SHA-256 of the canonical JSON of the values) and to record.decision
 * data (include as hex, or SHA-256 of the record bytes), hashes.
 */
import type { AuditEventInput, AuditRecord, AuditWriteRange, AuditWriteRangeInput } from './audit-events.js';
import { canonicalJson, canonicalMembers, joinMembers, sha256Hex, withMember } from './canonical-json.js';

const RESERVED = new Set(['seq', 'time', 'prev', 'hash']);

export function buildRecord(
  input: AuditEventInput,
  chain: { seq: number; time: string; prev: string; values: 'include' | 'hash' },
): { record: AuditRecord; line: string } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (!RESERVED.has(k)) fields[k] = v;
  if (input.type === 'request.decision' && chain.values === 'hash') fields['writes'] = input.writes.map(hashValues);
  if (input.type === 'record.decision' && chain.values === 'hash' && input.data !== undefined) {
    delete fields['data'];
    fields['dataSha256'] = sha256Hex(Buffer.from(input.data, 'hex'));
  }
  const unhashed = { ...fields, seq: chain.seq, time: chain.time, prev: chain.prev };
  // Render the members once: the hash covers them, the stored line is the same plus `hash` at its sorted place.
  const members = canonicalMembers(unhashed);
  const hash = sha256Hex(joinMembers(members));
  const record = { ...unhashed, hash } as unknown as AuditRecord;
  return { record, line: joinMembers(withMember(members, 'hash', hash)) };
}

function hashValues(w: AuditWriteRangeInput): AuditWriteRange {
  const { values, ...range } = w;
  if (values === null) return { ...range, values: null };
  return { ...range, valuesSha256: sha256Hex(canonicalJson(values)) };
}
