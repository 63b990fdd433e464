/**
 * One `profinet:` entry of a rule → a `CompiledRecordEntry`. Problems are reported with the YAML path of the
 * offending node (file:line:col through the loader), never thrown one by one.
 *
 * Why indices refuse `*`: user indices 0x0000–0x7FFF are vendor-specific, and one unauthenticated Read
 * Implicit of an unexpected user index has crashed a real open-source device stack (NULL dereference). A
 * policy therefore names every record it allows [IEC 61158-6-10, record index ranges]. For the same reason an
 * allow entry may not write `*` under another name: a range spanning every index, or one allowing more than
 * `MAX_USER_INDEX_SPAN` user indices in a row, is refused too (deny entries may be as wide as they like).
 */
import type { YamlPath } from '../config/load-yaml.js';
import type { CompiledRecordEntry, CompiledRecordValue, CompiledRule } from './compiled-policy.js';
import type { RangeSpec, RecordEntrySource, RecordValueSource, RecordValueType } from './policy-source.js';
import { mergeIntervals, type Interval } from './ranges.js';

const U16 = 0xffff;
const LAST_USER_INDEX = 0x7fff;
/** The most user indices one allowed range may span: a GSDML module's parameter records fit in far fewer. */
export const MAX_USER_INDEX_SPAN = 256;

/** Byte size and value bounds of each typed record field (big-endian, as PROFINET records are). */
export const RECORD_VALUE_TYPES: Readonly<Record<RecordValueType, { size: number; min: number; max: number }>> = {
  u8: { size: 1, min: 0, max: 0xff },
  i8: { size: 1, min: -0x80, max: 0x7f },
  u16be: { size: 2, min: 0, max: 0xffff },
  i16be: { size: 2, min: -0x8000, max: 0x7fff },
  u32be: { size: 4, min: 0, max: 0xffffffff },
  i32be: { size: 4, min: -0x80000000, max: 0x7fffffff },
};

/** Read the typed field from record bytes (the caller checked offset + size ≤ length). */
export function readRecordValue(data: Buffer, v: Pick<CompiledRecordValue, 'offset' | 'type'>): number {
  switch (v.type) {
    case 'u8':
      return data.readUInt8(v.offset);
    case 'i8':
      return data.readInt8(v.offset);
    case 'u16be':
      return data.readUInt16BE(v.offset);
    case 'i16be':
      return data.readInt16BE(v.offset);
    case 'u32be':
      return data.readUInt32BE(v.offset);
    case 'i32be':
      return data.readInt32BE(v.offset);
  }
}

type Problem = (path: YamlPath, message: string) => void;

const NUM = '(0x[0-9a-f]+|\\d+)';
const RANGE = new RegExp(`^\\s*${NUM}\\s*(?:-|\\.\\.)\\s*${NUM}\\s*$`, 'i');
const SINGLE = new RegExp(`^\\s*${NUM}\\s*$`, 'i');

/** `7`, `"0x8000"`, `"1-3"`, `"0x8000-0x8002"`, `"*"` (when allowed) → [lo, hi] within 0..0xFFFF. */
function parseRecordInterval(
  item: number | string,
  what: string,
  starOk: boolean,
): { ok: true; value: Interval } | { ok: false; error: string } {
  if (typeof item === 'string' && item.trim() === '*') {
    if (starOk) return { ok: true, value: [0, U16] };
    return {
      ok: false,
      error:
        '"*" is refused for indices: list every record index (user indices 0x0000-0x7FFF are vendor-specific, ' +
        'and reading an unexpected one crashes some device stacks)',
    };
  }
  let lo: number;
  let hi: number;
  if (typeof item === 'number') lo = hi = item;
  else {
    const r = RANGE.exec(item);
    const s = r ? null : SINGLE.exec(item);
    if (r) [lo, hi] = [Number(r[1]), Number(r[2])];
    else if (s) lo = hi = Number(s[1]);
    else
      return {
        ok: false,
        error: `bad ${what} ${JSON.stringify(item)} (write N, 0xNNNN, "A-B"${starOk ? ' or "*"' : ''})`,
      };
  }
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > U16)
    return { ok: false, error: `${what} ${JSON.stringify(item)} is outside 0..0xFFFF` };
  if (lo > hi) return { ok: false, error: `${what} range ${JSON.stringify(item)} is reversed` };
  return { ok: true, value: [lo, hi] };
}

function recordRanges(spec: RangeSpec, what: string, starOk: boolean, path: YamlPath, problem: Problem): Interval[] {
  const list = Array.isArray(spec);
  const items = list ? (spec as readonly (number | string)[]) : [spec as number | string];
  const out: Interval[] = [];
  items.forEach((item, j) => {
    const r = parseRecordInterval(item, what, starOk);
    if (r.ok) out.push(r.value);
    else problem(list ? [...path, j] : path, r.error);
  });
  return mergeIntervals(out);
}

const SIGNED = '(-?(?:0x[0-9a-f]+|\\d+))';
const VALUE_RANGE = new RegExp(`^\\s*${SIGNED}\\s*(?:\\.\\.\\s*${SIGNED}\\s*)?$`, 'i');

function signedNumber(text: string): number {
  return text.startsWith('-') ? -Number(text.slice(1)) : Number(text);
}

function compileValue(
  src: RecordValueSource,
  length: number | null,
  path: YamlPath,
  problem: Problem,
): CompiledRecordValue | null {
  const t = RECORD_VALUE_TYPES[src.type];
  let bad = false;
  const report = (p: YamlPath, m: string): void => {
    bad = true;
    problem(p, m);
  };
  if (length !== null && src.offset + t.size > length) {
    report([...path, 'offset'], `${src.type} at offset ${src.offset} ends past the record length ${length}`);
  }
  const allowed: Interval[] = [];
  if ((src.range === undefined) === (src.values === undefined))
    report(path, 'give either "range" ("min..max") or "values" ([..])');
  if (src.range !== undefined) {
    const m = VALUE_RANGE.exec(src.range);
    if (m === null) report([...path, 'range'], `bad range ${JSON.stringify(src.range)} (write "min..max")`);
    else {
      const lo = signedNumber(m[1] as string);
      const hi = m[2] === undefined ? lo : signedNumber(m[2]);
      if (lo > hi) report([...path, 'range'], `range ${JSON.stringify(src.range)} is reversed`);
      else if (lo < t.min || hi > t.max)
        report([...path, 'range'], `range ${JSON.stringify(src.range)} is outside ${src.type} (${t.min}..${t.max})`);
      else allowed.push([lo, hi]);
    }
  }
  (src.values ?? []).forEach((v, j) => {
    if (v < t.min || v > t.max) report([...path, 'values', j], `${v} is outside ${src.type} (${t.min}..${t.max})`);
    else allowed.push([v, v]);
  });
  if (bad) return null;
  return Object.freeze({
    offset: src.offset,
    type: src.type,
    size: t.size,
    allowed: Object.freeze(mergeIntervals(allowed)),
  });
}

/** Typed fields must not share bytes: two limits on one byte would be ambiguous. */
function checkOverlaps(values: readonly (CompiledRecordValue | null)[], path: YamlPath, problem: Problem): void {
  values.forEach((v, j) => {
    if (v === null) return;
    for (let i = 0; i < j; i++) {
      const w = values[i];
      if (w === null || w === undefined) continue;
      if (v.offset < w.offset + w.size && w.offset < v.offset + v.size) {
        problem(
          [...path, j],
          `values[${j}] (bytes ${v.offset}-${v.offset + v.size - 1}) overlaps values[${i}] (bytes ${w.offset}-${w.offset + w.size - 1})`,
        );
        return;
      }
    }
  });
}

function compileBytes(text: string, length: number | null, path: YamlPath, problem: Problem): Buffer | null {
  const hex = text.replace(/[\s:]/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(hex)) {
    problem(path, `bad hex ${JSON.stringify(text)} (pairs of hex digits, spaces or colons between allowed)`);
    return null;
  }
  const bytes = Buffer.from(hex, 'hex');
  if (length !== null && bytes.length !== length) {
    problem(path, `${bytes.length} bytes given, the entry's length is ${length}`);
    return null;
  }
  return bytes;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** The entry's index ranges; in an allow entry, none that is `*` in disguise or spans too many user indices. */
function allowedIndices(src: RecordEntrySource, rule: CompiledRule, path: YamlPath, problem: Problem): Interval[] {
  const ranges = recordRanges(src.indices, 'index', false, path, problem);
  if (rule.effect !== 'allow') return ranges;
  for (const [lo, hi] of ranges) {
    const what = `indices ${hex(lo)}-${hex(hi)}`;
    if (lo === 0 && hi === U16) {
      problem(path, `${what} span every index: that is "*", refused for indices (list every record index)`);
    } else if (lo <= LAST_USER_INDEX && Math.min(hi, LAST_USER_INDEX) - lo + 1 > MAX_USER_INDEX_SPAN) {
      const n = Math.min(hi, LAST_USER_INDEX) - lo + 1;
      problem(
        path,
        `${what} allow ${n} user indices in a row (0x0000-0x7FFF are vendor-specific, and reading an unexpected ` +
          `one crashes some device stacks): list the records the rule needs, at most ${MAX_USER_INDEX_SPAN} per range`,
      );
    }
  }
  return ranges;
}

export function compileRecordEntry(
  src: RecordEntrySource,
  rule: CompiledRule,
  path: YamlPath,
  problem: Problem,
): CompiledRecordEntry {
  const write = src.access === 'write';
  const length = src.length ?? null;
  if (write && rule.effect === 'allow' && src.length === undefined) {
    problem(path, 'a write entry must state its "length" (the exact byte length of the record)');
  }
  if (!write && src.values !== undefined) problem([...path, 'values'], '"values" only applies to write access');
  if (!write && src.bytes !== undefined) problem([...path, 'bytes'], '"bytes" only applies to write access');
  if (!write && rule.effect === 'deny' && src.length !== undefined)
    problem([...path, 'length'], 'in a deny entry "length" narrows writes only');
  if (src.values !== undefined && src.bytes !== undefined) problem(path, 'write either "values" or "bytes", not both');
  let values: readonly CompiledRecordValue[] | null = null;
  if (write && src.values !== undefined) {
    const compiled = src.values.map((v, j) => compileValue(v, length, [...path, 'values', j], problem));
    checkOverlaps(compiled, [...path, 'values'], problem);
    values = Object.freeze(
      compiled.filter((v): v is CompiledRecordValue => v !== null).sort((a, b) => a.offset - b.offset),
    );
  }
  const bytes = write && src.bytes !== undefined ? compileBytes(src.bytes, length, [...path, 'bytes'], problem) : null;
  return Object.freeze({
    rule,
    access: src.access,
    // An allow entry without `api` names API 0 only (least privilege); a deny entry without it denies under
    // every API, so a record cannot slip past a deny through another API number.
    api: src.api ?? (rule.effect === 'deny' ? null : 0),
    slots: Object.freeze(recordRanges(src.slots, 'slot', true, [...path, 'slots'], problem)),
    subslots: Object.freeze(recordRanges(src.subslots, 'subslot', true, [...path, 'subslots'], problem)),
    indices: Object.freeze(allowedIndices(src, rule, [...path, 'indices'], problem)),
    length,
    values,
    bytes,
  });
}
