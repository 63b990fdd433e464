/**
 * The rendering plan of an event's top level, compiled once per key list: the members in canonical order
 * (UTF-16 code unit order, the chain members seq/time/prev merged in), each with its quoted key prefix
 * `"key":` and whether it sorts after `hash` (where the hash member is spliced in). Events come from a
 * handful of builders, so their key lists repeat: the previous plan of the same event type is confirmed
 * key by key (no lookup string), other lists are found by their joined keys (confirmed too: a key holding
 * U+0000 could alias another list). Both caches are bounded; a shape past the bound is compiled each time.
 */
import { sameList } from './canonical-json.js';

/** Where a member's value comes from: the event's fields, or the chain (seq, time, prev). */
export type Source = 0 | 1 | 2 | 3;
export const FIELD = 0;
export const SEQ = 1;
export const TIME = 2;
const PREV = 3;

/** A quoted key as written before its value: `"key":`, and whether it is ASCII (written byte by byte). */
export interface KeyPrefix {
  readonly text: string;
  readonly ascii: boolean;
}

export interface Member extends KeyPrefix {
  readonly key: string;
  readonly source: Source;
  /** Not before "hash": the first such member is where `"hash":"…",` goes in the stored line. */
  readonly afterHash: boolean;
}

export interface LineTemplate {
  /** The key list the plan was compiled for, as Object.keys gave it (before `skip`). */
  readonly keys: readonly string[];
  readonly skip: ReadonlySet<string>;
  readonly members: readonly Member[];
}

const LIMIT = 4096;
const byType = new Map<string, LineTemplate>();
const byShape = new Map<string, LineTemplate>();
const prefixes = new Map<string, KeyPrefix>();

/** The plan for `fields` (own enumerable members) with the chain members and without those in `skip`. */
export function templateOf(fields: Readonly<Record<string, unknown>>, skip: ReadonlySet<string>): LineTemplate {
  const keys = Object.keys(fields);
  const type = fields['type'];
  const last = typeof type === 'string' ? byType.get(type) : undefined;
  if (last !== undefined && last.skip === skip && sameList(last.keys, keys)) return last;
  const shape = keys.join('\u0000');
  let t = byShape.get(shape);
  if (t === undefined || t.skip !== skip || !sameList(t.keys, keys)) {
    t = compile(keys, skip);
    if (byShape.size < LIMIT) byShape.set(shape, t);
  }
  if (typeof type === 'string' && (last !== undefined || byType.size < LIMIT)) byType.set(type, t);
  return t;
}

/** `"key":` of a nested object's member (cached, bounded). */
export function keyPrefix(key: string): KeyPrefix {
  let p = prefixes.get(key);
  if (p === undefined) {
    p = prefixOf(key);
    if (prefixes.size < LIMIT) prefixes.set(key, p);
  }
  return p;
}

const CHAIN: readonly (readonly [string, Source])[] = [
  ['seq', SEQ],
  ['time', TIME],
  ['prev', PREV],
];

function compile(keys: readonly string[], skip: ReadonlySet<string>): LineTemplate {
  const list: [string, Source][] = [];
  for (const k of keys) if (!skip.has(k)) list.push([k, FIELD]);
  for (const [k, s] of CHAIN) list.push([k, s]);
  // Default sort order of the keys: UTF-16 code units, the canonical order. A key listed twice (a chain key
  // not in `skip`) is rendered twice, from the chain, as the string renderer always did.
  list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const members = list.map(([key, source]): Member => ({ key, source, afterHash: !(key < 'hash'), ...prefixOf(key) }));
  return { keys: Object.freeze([...keys]), skip, members };
}

function prefixOf(key: string): KeyPrefix {
  const text = JSON.stringify(key) + ':';
  return { text, ascii: isAscii(text) };
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}
