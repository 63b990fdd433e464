/**
 * Canonical JSON for hashing: object keys sorted (UTF-16 code unit order), no whitespace, `undefined`
 * members omitted, like JSON.stringify otherwise. The same bytes are written to the segment line, so a
 * verifier can also demand that each line is exactly canonical (any byte change is caught).
 */
import { createHash } from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) {
    return '[' + value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',') + ']';
  }
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    parts.push(JSON.stringify(key) + ':' + canonicalJson(v));
  }
  return '{' + parts.join(',') + '}';
}

/**
 * Canonical JSON of `obj` plus one more string member, from the members already rendered: the stored line
 * is the hashed object plus its `hash`, so the members are rendered once and the line is a splice.
 */
export function canonicalMembers(obj: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    out.push([key, JSON.stringify(key) + ':' + canonicalJson(v)]);
  }
  return out;
}

export function joinMembers(members: readonly [string, string][]): string {
  let s = '{';
  for (let i = 0; i < members.length; i++) s += (i > 0 ? ',' : '') + members[i]![1];
  return s + '}';
}

/** Inserts `key: value` (a string) at its sorted place. */
export function withMember(members: readonly [string, string][], key: string, value: string): [string, string][] {
  const at = members.findIndex(([k]) => k > key);
  const member: [string, string] = [key, JSON.stringify(key) + ':' + JSON.stringify(value)];
  return at < 0 ? [...members, member] : [...members.slice(0, at), member, ...members.slice(at)];
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Hash of an event: canonical JSON of every member except `hash` itself. */
export function eventHash(event: Record<string, unknown>): string {
  const { hash: _ignored, ...rest } = event;
  return sha256Hex(canonicalJson(rest));
}
