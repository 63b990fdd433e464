/**
 * What one evidence group (identity x device x unit, learn-evidence.ts) would be granted: its allow entries
 * and functions. learn-rules.ts turns groups into rules and merges only groups whose grants come out identical.
 *
 * The merge rule for ranges: the addresses a group touched (per access and table) are taken as runs of
 * consecutive addresses; two runs merge into one range when at most `maxGap` (default 4) untouched
 * addresses separate them. A larger gap stays a gap, so a range never swallows registers nobody used beyond
 * that slack. That rule is for reads only: a write is granted only where it was seen. Written values are judged
 * per address — at most `maxDistinct` (default 5) distinct values → that list; more → the observed min..max
 * widened by `valueMargin` (default 10 %) of its span on each side — and consecutive written addresses share
 * one entry only when their value specs are equal (a register only ever written 0/1 never inherits the bounds
 * of its neighbour, and a never-written register in between gets no write grant).
 * Register function codes (1–6, 15, 16, 22, 23) are implied by the entries; every other code seen is listed
 * under `functions` with the sub-functions seen.
 */
import type { Table } from '../../protocols/modbus/types.js';
import type { FunctionEntrySource, RegisterEntrySource } from '../policy/policy-source.js';
import { runsOf, TABLES, type GroupEvidence, type ValueStats } from './learn-evidence.js';

export interface ProposalOptions {
  readonly maxGap: number;
  readonly maxDistinct: number;
  readonly valueMargin: number;
  readonly rateMargin: number;
  /** Named registers per device (gateway.yaml `tags`), quoted in the entries' comments. */
  readonly tags?: Readonly<Record<string, Readonly<Record<string, { table: Table; address: number; count: number }>>>>;
}

export const DEFAULT_PROPOSAL: ProposalOptions = { maxGap: 4, maxDistinct: 5, valueMargin: 0.1, rateMargin: 2 };

/** One proposed entry and why it looks the way it does (tags it matches, value notes). */
export interface ProposedEntry {
  readonly entry: RegisterEntrySource;
  readonly note: string | null;
}

export function entriesOf(g: GroupEvidence, o: ProposalOptions): ProposedEntry[] {
  const out: ProposedEntry[] = [];
  const tags = o.tags?.[g.device] ?? {};
  for (const table of TABLES) {
    const bits = g.touched.write.get(table);
    if (bits === undefined) continue;
    for (const w of writePieces(g.values.get(table), runsOf(bits), table, o)) {
      const entry: RegisterEntrySource = {
        access: 'write',
        table,
        addresses: rangeText(w.lo, w.hi),
        ...(w.values !== undefined ? { values: w.values } : {}),
      };
      out.push({ entry, note: joinNotes(tagNote(tags, table, [[w.lo, w.hi]]), w.note) });
    }
  }
  for (const table of TABLES) {
    const bits = g.touched.read.get(table);
    if (bits === undefined) continue;
    const ranges = mergeRuns(runsOf(bits), o.maxGap);
    const addresses = ranges.length === 1 ? rangeText(...ranges[0]!) : ranges.map(([lo, hi]) => rangeText(lo, hi));
    out.push({ entry: { access: 'read', table, addresses }, note: tagNote(tags, table, ranges) });
  }
  return out;
}

interface WritePiece {
  readonly lo: number;
  hi: number;
  readonly key: string;
  readonly values?: number[] | string;
  readonly note: string | null;
}

/**
 * Runs of written addresses → write entries: the value spec of each address on its own, consecutive addresses
 * merged only when their specs are equal; no merging over never-written addresses.
 */
function writePieces(
  byAddress: Map<number, ValueStats> | undefined,
  runs: readonly [number, number][],
  table: Table,
  o: ProposalOptions,
): WritePiece[] {
  const out: WritePiece[] = [];
  for (const [lo, hi] of runs) {
    for (let a = lo; a <= hi; a++) {
      const v = valuesFor(byAddress, a, a, table, o);
      const key = JSON.stringify([v.values ?? null, v.note]);
      const last = out[out.length - 1];
      if (last !== undefined && last.hi + 1 === a && last.key === key) last.hi = a;
      else out.push({ lo: a, hi: a, key, ...v });
    }
  }
  return out;
}

/** Runs of touched addresses → ranges: runs closer than `maxGap` untouched addresses merge. */
export function mergeRuns(runs: readonly [number, number][], maxGap: number): [number, number][] {
  const out: [number, number][] = [];
  for (const [lo, hi] of runs) {
    const last = out[out.length - 1];
    if (last !== undefined && lo - last[1] - 1 <= maxGap) last[1] = hi;
    else out.push([lo, hi]);
  }
  return out;
}

export function rangeText(lo: number, hi: number): number | string {
  return lo === hi ? lo : `${lo}-${hi}`;
}

/** The `values:` of written addresses lo..hi (writePieces asks one address at a time), or none (any value) with the reason. */
function valuesFor(
  byAddress: Map<number, ValueStats> | undefined,
  lo: number,
  hi: number,
  table: Table,
  o: ProposalOptions,
): { values?: number[] | string; note: string | null } {
  let distinct: Set<number> | null = new Set();
  let min = Infinity;
  let max = -Infinity;
  for (let a = lo; a <= hi; a++) {
    const s = byAddress?.get(a);
    if (s === undefined) continue;
    if (s.hidden) return { note: 'values not recorded (audit.values: hash): any value — bound them by hand' };
    if (s.unknowable) return { note: 'mask writes (FC22) seen: their result is unknowable, so any value' };
    min = Math.min(min, s.min);
    max = Math.max(max, s.max);
    if (distinct !== null && s.distinct !== null) for (const v of s.distinct) distinct.add(v);
    else distinct = null;
    if (distinct !== null && distinct.size > o.maxDistinct) distinct = null;
  }
  if (min === Infinity) return { note: null };
  if (distinct !== null)
    return { values: [...distinct].sort((a, b) => a - b), note: `${distinct.size} distinct value(s) seen` };
  const top = table === 'coils' ? 1 : 65535;
  const margin = Math.ceil((max - min) * o.valueMargin);
  const wlo = Math.max(0, min - margin);
  const whi = Math.min(top, max + margin);
  return { values: `${wlo}..${whi}`, note: `values seen ${min}..${max}, widened by ${margin}` };
}

function tagNote(
  tags: Readonly<Record<string, { table: Table; address: number; count: number }>>,
  table: Table,
  ranges: readonly [number, number][],
): string | null {
  const names = Object.entries(tags)
    .filter(([, t]) => t.table === table && ranges.some(([lo, hi]) => t.address <= hi && t.address + t.count - 1 >= lo))
    .map(([name, t]) =>
      ranges.some(([lo, hi]) => t.address === lo && t.address + t.count - 1 === hi)
        ? name
        : `${name} (${t.address}${t.count > 1 ? `-${t.address + t.count - 1}` : ''})`,
    );
  return names.length === 0 ? null : `tag ${names.join(', ')}`;
}

function joinNotes(...notes: (string | null)[]): string | null {
  const n = notes.filter((x): x is string => x !== null);
  return n.length === 0 ? null : n.join('; ');
}

export function functionsOf(g: GroupEvidence): FunctionEntrySource[] {
  return [...g.functions.entries()]
    .sort(([a], [b]) => a - b)
    .map(([fc, subs]) => {
      const list = [...subs].filter((s): s is number => s !== null).sort((a, b) => a - b);
      // a code seen with and without a sub-function (or FC8/43 without one) is listed plain: any sub-function
      return list.length === 0 || subs.has(null) || (fc !== 8 && fc !== 43) ? fc : { fc, sub: list };
    });
}
