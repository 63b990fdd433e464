/**
 * Canonical JSON for hashing: object keys sorted (UTF-16 code unit order), no whitespace, `undefined`
 * members omitted, like JSON.stringify otherwise. The same bytes are written to the segment line, so a
 * verifier can also demand that each line is exactly canonical (any byte change is caught). The writer renders
 * lines straight into bytes (canonical-line.ts); this string form is the reference it is tested against and
 * what verifiers, checkpoints and policy envelopes hash.
 */
import crypto from 'node:crypto';

export function canonicalJson(value: unknown): string {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null'; // as JSON.stringify (-0 → 0)
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
  for (const key of sortedKeys(Object.keys(obj))) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    s += (first ? '' : ',') + quoted(key) + ':' + canonicalJson(v);
    first = false;
  }
  return s + '}';
}

/**
 * Events come from a handful of builders, so their key lists repeat: the sorted order and the JSON-quoted
 * keys are remembered per key list (bounded; a new shape past the bound is simply sorted each time).
 */
const SHAPE_LIMIT = 4096;
const shapes = new Map<string, { readonly keys: readonly string[]; readonly sorted: readonly string[] }>();
const quotes = new Map<string, string>();

export function sortedKeys(keys: string[]): readonly string[] {
  if (keys.length < 2) return keys;
  if (keys.length <= 4) return insertionSort(keys); // small nested objects: cheaper than a lookup
  const shape = keys.join('\u0000');
  const known = shapes.get(shape);
  // The join is only a lookup key: a key containing U+0000 could alias another list, so the hit is confirmed.
  if (known !== undefined && sameList(known.keys, keys)) return known.sorted;
  const sorted = Object.freeze([...keys].sort()); // default sort: UTF-16 code unit order, the canonical order
  if (known === undefined && shapes.size < SHAPE_LIMIT) shapes.set(shape, { keys: Object.freeze(keys), sorted });
  return sorted;
}

/** In place; `<` on strings is UTF-16 code unit order, as Array.prototype.sort's default. */
function insertionSort(keys: string[]): string[] {
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! > k) {
      keys[j + 1] = keys[j]!;
      j--;
    }
    keys[j + 1] = k;
  }
  return keys;
}

export function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function quoted(key: string): string {
  let q = quotes.get(key);
  if (q === undefined) {
    q = JSON.stringify(key);
    if (quotes.size < SHAPE_LIMIT) quotes.set(key, q);
  }
  return q;
}

/** One-shot digest (crypto.hash, Node ≥ 20.12) where available: no Hash object per event on the hot path. */
const oneShot = (crypto as { hash?: (alg: string, data: string | Buffer, enc: 'hex') => string }).hash;

export function sha256Hex(data: string | Buffer): string {
  return oneShot !== undefined
    ? oneShot('sha256', data, 'hex')
    : crypto.createHash('sha256').update(data).digest('hex');
}

/** Hash of an event: canonical JSON of every member except `hash` itself. */
export function eventHash(event: Record<string, unknown>): string {
  const { hash: _ignored, ...rest } = event;
  return sha256Hex(canonicalJson(rest));
}
