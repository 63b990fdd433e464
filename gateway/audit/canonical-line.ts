/**
 * Renders an event's stored line straight into a LineBuffer, byte-identical to the canonical JSON of
 * canonical-json.ts (keys in UTF-16 code unit order, no whitespace, undefined members omitted, like
 * JSON.stringify otherwise): the hash covers the canonical JSON of every member but `hash`; the stored line
 * is the same members with `"hash":"…"` at its sorted place, then a newline.
 *
 * The hashed text is rendered first and hashed from its bytes (no string, no UTF-8 conversion); the hash
 * member is then spliced in by moving the members after it (a few hundred bytes) instead of rendering twice.
 */
import { sha256Hex, sortedKeys } from './canonical-json.js';
import { LineBuffer } from './line-buffer.js';
import { FIELD, SEQ, TIME, keyPrefix, templateOf, type KeyPrefix } from './line-template.js';

export interface Chain {
  readonly seq: number;
  readonly time: string;
  readonly prev: string;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const NEWLINE = 0x0a;
const HASH_KEY = '"hash":"';

/**
 * Renders the line of `fields` + `chain` (members named in `skip` are not rendered: a producer cannot forge
 * chain fields) at `out.end`, newline included, and returns its hash. The line is `out.buf[out.end, out.pos)`
 * until the caller commits or rolls it back.
 */
export function renderLine(
  out: LineBuffer,
  fields: Readonly<Record<string, unknown>>,
  chain: Chain,
  skip: ReadonlySet<string>,
): string {
  const template = templateOf(fields, skip);
  out.pos = out.end;
  const start = out.pos;
  out.byte(OPEN_BRACE);
  let wrote = false;
  let split = -1;
  for (const m of template.members) {
    const v =
      m.source === FIELD ? fields[m.key] : m.source === SEQ ? chain.seq : m.source === TIME ? chain.time : chain.prev;
    if (v === undefined || typeof v === 'function') continue;
    if (wrote) out.byte(COMMA);
    if (split < 0 && m.afterHash) split = out.pos;
    writeKey(out, m);
    writeValue(out, v);
    wrote = true;
  }
  out.byte(CLOSE_BRACE);
  const end = out.pos;
  const hash = sha256Hex(out.buf.subarray(start, end));
  // Before the first member after "hash": `"hash":"…",`; with none after it, before the closing brace.
  if (split >= 0) spliceHash(out, split, end, hash, false, true);
  else spliceHash(out, end - 1, end, hash, wrote, false);
  out.byte(NEWLINE);
  return hash;
}

/**
 * Opens a gap at `at` (moving `[at, end)` right) and writes the hash member (`hash`: a SHA-256 hex digest) into
 * it; `pos` ends past the moved bytes.
 */
export function spliceHash(
  out: LineBuffer,
  at: number,
  end: number,
  hash: string,
  commaBefore: boolean,
  commaAfter: boolean,
): void {
  const len = HASH_KEY.length + hash.length + 1 + (commaBefore ? 1 : 0) + (commaAfter ? 1 : 0);
  out.ensure(len);
  out.buf.copyWithin(at + len, at, end);
  out.pos = at;
  if (commaBefore) out.byte(COMMA);
  out.ascii(HASH_KEY);
  out.plain(hash); // a SHA-256 hex digest: nothing to escape
  out.lastHash = hash;
  out.byte(QUOTE);
  if (commaAfter) out.byte(COMMA);
  out.pos = end + len;
}

function writeKey(out: LineBuffer, k: KeyPrefix): void {
  if (k.ascii) out.ascii(k.text);
  else out.utf8(k.text);
}

/** A value as canonicalJson() renders it. */
export function writeValue(out: LineBuffer, v: unknown): void {
  switch (typeof v) {
    case 'string':
      return out.jsonString(v);
    case 'number':
      return out.number(v);
    case 'boolean':
      return out.ascii(v ? 'true' : 'false');
    case 'object':
      if (v === null) return out.ascii('null');
      return Array.isArray(v) ? writeArray(out, v) : writeObject(out, v as Record<string, unknown>);
    default: {
      const s = JSON.stringify(v); // a bigint throws, as in canonicalJson; undefined, a function or a symbol: null
      return out.ascii(s === undefined ? 'null' : s);
    }
  }
}

function writeArray(out: LineBuffer, a: readonly unknown[]): void {
  out.byte(OPEN_BRACKET);
  for (let i = 0; i < a.length; i++) {
    if (i > 0) out.byte(COMMA);
    const v = a[i];
    if (v === undefined || typeof v === 'function') out.ascii('null');
    else writeValue(out, v);
  }
  out.byte(CLOSE_BRACKET);
}

function writeObject(out: LineBuffer, o: Readonly<Record<string, unknown>>): void {
  out.byte(OPEN_BRACE);
  let first = true;
  for (const key of sortedKeys(Object.keys(o))) {
    const v = o[key];
    if (v === undefined || typeof v === 'function') continue;
    if (!first) out.byte(COMMA);
    writeKey(out, keyPrefix(key));
    writeValue(out, v);
    first = false;
  }
  out.byte(CLOSE_BRACE);
}

const scratch = new LineBuffer(4096);

/** The stored line (no newline) and hash of an event, as strings: for callers off the batch path. */
export function canonicalLine(
  fields: Readonly<Record<string, unknown>>,
  chain: Chain,
  skip: ReadonlySet<string>,
): { readonly line: string; readonly hash: string } {
  scratch.reset();
  try {
    const hash = renderLine(scratch, fields, chain, skip);
    return { line: scratch.buf.toString('utf8', 0, scratch.pos - 1), hash };
  } finally {
    scratch.reset();
  }
}
