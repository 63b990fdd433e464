/**
 * What `policy learn` remembers of the observed traffic, per (identity, device, unit): which registers were
 * read and written (one bit per address and table: 8 KiB per table, whatever the trail's length), the written
 * values per address (distinct values up to a bound, then only min and max), the function codes with their
 * sub-functions, the busiest second, first and last time, and a few sample requests for the generated tests.
 * Memory is bounded by the number of (identity, device, unit, table) tuples seen, never by the number of events.
 *
 * Evidence is kept per unit because behind a Modbus TCP/RTU gateway each unit id is another slave on the serial
 * line: registers pooled across units would let a rule grant at one slave what was only seen at another.
 * learn-rules.ts merges units again, but only those whose grants come out identical. Unit 0 requests (broadcast)
 * are a group like any other unit's and never merge with unicast ones: a rule naming unit 0 grants broadcast
 * writes (judged-request.ts `isActive`).
 */
import type { ClassifiedRequest, Table } from '../../protocols/modbus/types.js';
import type { RecordedModbus } from './recorded-request.js';

export const TABLES: readonly Table[] = ['holding', 'input', 'coils', 'discrete'];
const ADDRESSES = 65536;
/** Samples kept per (identity, device, unit) for the generated allow tests. */
const MAX_SAMPLES = 6;

/** Written values seen at one address. */
export interface ValueStats {
  /** Distinct values, or null once more than the enumeration bound were seen. */
  distinct: Set<number> | null;
  min: number;
  max: number;
  /** A write whose value cannot be known was seen (FC22 mask write). */
  unknowable: boolean;
  /** Values stored as a hash (`audit.values: hash`) were seen. */
  hidden: boolean;
}

/** Requests per fixed one-second window of the event time: the busiest one, and the one being counted. */
export interface Busiest {
  peakPerSecond: number;
  second: number;
  inSecond: number;
}

export interface GroupEvidence extends Busiest {
  readonly identity: string;
  readonly device: string;
  /** The unit id addressed (MBAP unit identifier [MB-TCP 3.1.3]); 0 is broadcast. */
  readonly unit: number;
  count: number;
  firstMs: number;
  lastMs: number;
  /** Requests per function code. */
  readonly fcs: Map<number, number>;
  /** Non-register function codes → sub-functions seen (null in the set: none given). */
  readonly functions: Map<number, Set<number | null>>;
  /** `read`/`write` → table → one bit per address touched. */
  readonly touched: { readonly read: Map<Table, Uint8Array>; readonly write: Map<Table, Uint8Array> };
  /** table → address → values written there. */
  readonly values: Map<Table, Map<number, ValueStats>>;
  readonly samples: ClassifiedRequest[];
  readonly sampleKeys: Set<string>;
}

/** Register function codes: governed by `allow` entries, never listed under `functions` (compile-rule.ts). */
export const REGISTER_FCS: ReadonlySet<number> = new Set([1, 2, 3, 4, 5, 6, 15, 16, 22, 23]);

/** One identity's requests to a device at any unicast unit (1-255): the units, and the busiest second of all. */
export interface UnicastTraffic extends Busiest {
  readonly units: Set<number>;
}

export class LearnEvidence {
  readonly groups = new Map<string, GroupEvidence>();
  /**
   * Per identity x device (key `identity\0device`). A rule naming several units of one identity shares one
   * rate bucket across them (per identity x rule), so its rate needs their busiest second together, which the
   * per-unit groups cannot give: this one is exact when the rule names all the identity's unicast units.
   */
  readonly unicast = new Map<string, UnicastTraffic>();
  /** Requests seen but not learned, by why (denied, PROFINET record, …). */
  readonly skipped = new Map<string, number>();

  constructor(private readonly maxDistinct: number) {}

  skip(why: string): void {
    this.skipped.set(why, (this.skipped.get(why) ?? 0) + 1);
  }

  add(r: RecordedModbus): void {
    const g = this.group(r.identity, r.device, r.request.unit, r.timeMs);
    g.count++;
    if (r.timeMs < g.firstMs) g.firstMs = r.timeMs;
    if (r.timeMs > g.lastMs) g.lastMs = r.timeMs;
    countSecond(g, r.timeMs);
    if (r.request.unit !== 0) this.countUnicast(r);
    const req = r.request;
    g.fcs.set(req.fc, (g.fcs.get(req.fc) ?? 0) + 1);
    if (!REGISTER_FCS.has(req.fc)) {
      const subs = g.functions.get(req.fc) ?? new Set<number | null>();
      subs.add(req.subFunction ?? null);
      g.functions.set(req.fc, subs);
    }
    for (const rd of req.reads) mark(g.touched.read, rd.table, rd.start, rd.count);
    for (const w of req.writes) {
      mark(g.touched.write, w.table, w.start, w.count);
      this.noteValues(g, w.table, w.start, w.count, w.values, r.valuesHidden);
    }
    this.sample(g, req);
  }

  private countUnicast(r: RecordedModbus): void {
    const key = `${r.identity}\u0000${r.device}`;
    let u = this.unicast.get(key);
    if (u === undefined) this.unicast.set(key, (u = { units: new Set(), peakPerSecond: 0, second: NaN, inSecond: 0 }));
    u.units.add(r.request.unit);
    countSecond(u, r.timeMs);
  }

  private group(identity: string, device: string, unit: number, timeMs: number): GroupEvidence {
    const key = `${identity}\u0000${device}\u0000${unit}`;
    let g = this.groups.get(key);
    if (g === undefined) {
      g = {
        identity,
        device,
        unit,
        count: 0,
        firstMs: timeMs,
        lastMs: timeMs,
        fcs: new Map(),
        functions: new Map(),
        touched: { read: new Map(), write: new Map() },
        values: new Map(),
        peakPerSecond: 0,
        second: NaN,
        inSecond: 0,
        samples: [],
        sampleKeys: new Set(),
      };
      this.groups.set(key, g);
    }
    return g;
  }

  private noteValues(
    g: GroupEvidence,
    table: Table,
    start: number,
    count: number,
    values: readonly number[] | null,
    hidden: boolean,
  ): void {
    let byAddress = g.values.get(table);
    if (byAddress === undefined) g.values.set(table, (byAddress = new Map<number, ValueStats>()));
    for (let i = 0; i < count; i++) {
      const a = start + i;
      let s = byAddress.get(a);
      if (s === undefined)
        byAddress.set(
          a,
          (s = { distinct: new Set(), min: Infinity, max: -Infinity, unknowable: false, hidden: false }),
        );
      const v = values?.[i];
      if (v === undefined) {
        if (hidden) s.hidden = true;
        else s.unknowable = true;
        continue;
      }
      s.min = Math.min(s.min, v);
      s.max = Math.max(s.max, v);
      if (s.distinct !== null) {
        s.distinct.add(v);
        if (s.distinct.size > this.maxDistinct) s.distinct = null;
      }
    }
  }

  /** Keeps the first requests of distinct shape (fc, ranges) as samples for the generated tests. */
  private sample(g: GroupEvidence, req: ClassifiedRequest): void {
    if (g.samples.length >= MAX_SAMPLES) return;
    const key = `${req.fc}/${req.subFunction ?? ''}/${req.writes.map((w) => `${w.table}${w.start}+${w.count}`).join()}/${req.reads.map((r) => `${r.table}${r.start}+${r.count}`).join()}`;
    if (g.sampleKeys.has(key)) return;
    g.sampleKeys.add(key);
    g.samples.push(req);
  }
}

function countSecond(g: Busiest, timeMs: number): void {
  const s = Math.floor(timeMs / 1000);
  if (s === g.second) g.inSecond++;
  else {
    g.second = s;
    g.inSecond = 1;
  }
  if (g.inSecond > g.peakPerSecond) g.peakPerSecond = g.inSecond;
}

function mark(byTable: Map<Table, Uint8Array>, table: Table, start: number, count: number): void {
  let bits = byTable.get(table);
  if (bits === undefined) byTable.set(table, (bits = new Uint8Array(ADDRESSES / 8)));
  const end = Math.min(ADDRESSES, start + count);
  for (let a = start; a < end; a++) bits[a >> 3]! |= 1 << (a & 7);
}

/** The runs of consecutive set bits: [first, last] address pairs, ascending. */
export function runsOf(bits: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let open = -1;
  for (let a = 0; a < ADDRESSES; a++) {
    const set = (bits[a >> 3]! & (1 << (a & 7))) !== 0;
    if (set && open < 0) open = a;
    if (!set && open >= 0) {
      out.push([open, a - 1]);
      open = -1;
    }
  }
  if (open >= 0) out.push([open, ADDRESSES - 1]);
  return out;
}
