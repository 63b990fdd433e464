/**
 * Parsing of the small range languages in policy.yaml: addresses (`0-99`), unit ids (`1-10`), written values
 * (`0..3600`), rates (`200/s`). Pure; returns values or an error string for the compiler to locate.
 */

/** Inclusive interval [lo, hi]. */
export type Interval = readonly [number, number];

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const RANGE = /^\s*(\d+)\s*(?:-|\.\.)\s*(\d+)\s*$/;
const SINGLE = /^\s*(\d+)\s*$/;

/** One item: `7`, `"7"`, `"0-99"` or `"0..99"`; bounds checked against [0, max]. */
export function parseInterval(item: number | string, max: number): ParseResult<Interval> {
  let lo: number;
  let hi: number;
  if (typeof item === 'number') {
    lo = hi = item;
  } else {
    const r = RANGE.exec(item);
    const s = r ? null : SINGLE.exec(item);
    if (r) {
      lo = Number(r[1]);
      hi = Number(r[2]);
    } else if (s) {
      lo = hi = Number(s[1]);
    } else {
      return { ok: false, error: `bad range ${JSON.stringify(item)} (write N, "A-B" or "A..B")` };
    }
  }
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > max) {
    return { ok: false, error: `range ${JSON.stringify(item)} is outside 0..${max}` };
  }
  if (lo > hi) return { ok: false, error: `range ${JSON.stringify(item)} is reversed (${lo} > ${hi})` };
  return { ok: true, value: [lo, hi] };
}

/**
 * A range spec (one item or a list) → sorted, merged intervals. Errors carry the list index so the compiler
 * can point at the offending item.
 */
export function parseRangeSpec(
  spec: number | string | readonly (number | string)[],
  max: number,
): { ok: true; value: readonly Interval[] } | { ok: false; error: string; index: number | null } {
  const items = Array.isArray(spec) ? (spec as readonly (number | string)[]) : [spec as number | string];
  const out: Interval[] = [];
  for (let i = 0; i < items.length; i++) {
    const r = parseInterval(items[i] as number | string, max);
    if (!r.ok) return { ok: false, error: r.error, index: Array.isArray(spec) ? i : null };
    out.push(r.value);
  }
  return { ok: true, value: mergeIntervals(out) };
}

export function mergeIntervals(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

/** True when `v` lies in one of the (few, sorted) intervals. */
export function inIntervals(set: readonly Interval[], v: number): boolean {
  for (const [lo, hi] of set) {
    if (v < lo) return false;
    if (v <= hi) return true;
  }
  return false;
}

/** Unit ids as a 256-entry membership table (O(1) on the hot path). */
export function unitTable(intervals: readonly Interval[]): Uint8Array {
  const t = new Uint8Array(256);
  for (const [lo, hi] of intervals) t.fill(1, lo, hi + 1);
  return t;
}

const RATE = /^(\d+(?:\.\d+)?)\/(s|m|h)$/;
const PER = { s: 1, m: 60, h: 3600 } as const;

/** `200/s`, `30/m`, `10/h` → requests per second (> 0). */
export function parseRate(text: string): ParseResult<number> {
  const m = RATE.exec(text.trim());
  if (!m) return { ok: false, error: `bad rate ${JSON.stringify(text)} (write N/s, N/m or N/h)` };
  const perSecond = Number(m[1]) / PER[m[2] as keyof typeof PER];
  if (!(perSecond > 0)) return { ok: false, error: `rate ${JSON.stringify(text)} must be greater than zero` };
  return { ok: true, value: perSecond };
}
