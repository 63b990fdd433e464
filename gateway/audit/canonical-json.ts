/**
 * Canonical JSON for hashing: object keys sorted (UTF-16 code unit order), no whitespace, `undefined`
 * members omitted, like JSON.stringify otherwise. The same bytes are written to the segment line, so a
 * verifier can also demand that each line is exactly canonical (any byte change is caught).
 */
import crypto from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) {
    let s = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      s += (i > 0 ? ',' : '') + (v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v));
    }
    return s + ']';
  }
  const obj = value as Record<string, unknown>;
  let s = '{';
  let first = true;
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    s += (first ? '' : ',') + JSON.stringify(key) + ':' + canonicalJson(v);
    first = false;
  }
  return s + '}';
}

/**
 * The stored line and the hashed text of an event, rendered once: the hash covers the canonical JSON of
 * every member but `hash`; the line is the same members with `"hash":"…"` spliced in at its sorted place.
 * Members are rendered in two runs (keys before and after "hash") so the splice needs no second pass.
 * `extra` members (seq, time, prev) are merged into the sort without copying `fields` into a new object.
 */
export function canonicalLine(
  fields: Readonly<Record<string, unknown>>,
  extra: Readonly<Record<string, unknown>>,
  skip: ReadonlySet<string>,
): { readonly line: string; readonly hash: string } {
  const keys: string[] = [];
  for (const k in fields) if (!skip.has(k) && !Object.hasOwn(extra, k)) keys.push(k);
  for (const k in extra) keys.push(k);
  keys.sort();
  let before = '';
  let after = '';
  for (const key of keys) {
    const v = Object.hasOwn(extra, key) ? extra[key] : fields[key];
    if (v === undefined || typeof v === 'function') continue;
    const member = JSON.stringify(key) + ':' + canonicalJson(v);
    if (key < 'hash') before += (before === '' ? '' : ',') + member;
    else after += (after === '' ? '' : ',') + member;
  }
  const hashed = '{' + before + (before !== '' && after !== '' ? ',' : '') + after + '}';
  const hash = sha256Hex(hashed);
  const line = '{' + before + (before === '' ? '' : ',') + '"hash":' + JSON.stringify(hash) + (after === '' ? '' : ',' + after) + '}';
  return { line, hash };
}

/** One-shot digest (crypto.hash, Node ≥ 20.12) where available: no Hash object per event on the hot path. */
const oneShot = (crypto as { hash?: (alg: string, data: string | Buffer, enc: 'hex') => string }).hash;

export function sha256Hex(data: string | Buffer): string {
  return oneShot !== undefined ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

/** Hash of an event: canonical JSON of every member except `hash` itself. */
export function eventHash(event: Record<string, unknown>): string {
  const { hash: _ignored, ...rest } = event;
  return sha256Hex(canonicalJson(rest));
}
