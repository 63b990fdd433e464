/**
 * The `novelty` signal of a behaviour baseline (behaviour-baseline.ts): what one identity has touched before —
 * 16-register blocks per device and table, non-register function codes, PROFINET records — and how much of a
 * request is fresh. Fresh blocks beyond a free allowance within τ raise `novelty` (docs/zero-trust.md, "Trust
 * score"). Separate from the baseline, which owns the request count (warm-up) and the other signals: this file
 * owns the sets of what is known and the decayed count of what was not.
 */
import { DecayingSum, type DecayingLevel } from './decaying-level.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import type { GrantNeed } from './runtime-gate.js';

/** Fresh 16-register blocks that are free within τ (a new screen or two); beyond, a sweep. */
export const NOVELTY_FREE = 6;
export const NOVELTY_SPAN = 12;
/** A function code (or FC8 sub-function / FC43 MEI type) never used before weighs this many fresh blocks. */
export const NOVEL_FUNCTION_BLOCKS = 8;
const REGISTER_KINDS: ReadonlySet<string> = new Set(['read', 'write', 'read-write']);

/** Is [from, to] of `table` inside one of `spans`? */
export function within(spans: GrantNeed['reads'], table: string, from: number, to: number): boolean {
  return spans.some((s) => s.table === table && s.start <= from && to <= s.start + s.count - 1);
}

export class NoveltyProfile {
  private readonly fresh: DecayingSum;
  /**
   * 16-register blocks ever touched: device → table → block numbers (no key string built per request and block;
   * this runs for every request, twice: overall and per device).
   */
  private readonly blocks = new Map<string, Map<string, Set<number>>>();
  /** PROFINET records ever touched (`device/record/api/slot/subslot/index`). */
  private readonly records = new Set<string>();
  private readonly functions = new Set<string>();

  constructor(
    tauMs: number,
    private readonly novelty: DecayingLevel,
  ) {
    this.fresh = new DecayingSum(tauMs);
  }

  /** A sanctioned request's blocks become known (its read-backs are not novel) but are not judged; with a
   * `scope`, only the blocks inside it are sanctioned. */
  judgeRequest(
    req: ClassifiedRequest,
    device: string,
    now: number,
    learning: boolean,
    warm: boolean,
    sanctioned: boolean,
    scope?: GrantNeed,
  ): void {
    const remember = learning || !warm;
    let fresh = 0;
    // Register reads and writes (FC1-6, 15, 16, 22, 23) are everyday work; only the others (diagnostics, file
    // records, FIFO, device id, user-defined, unknown) are judged as functions: probing lives there.
    const fn = REGISTER_KINDS.has(req.kind)
      ? null
      : req.subFunction === undefined
        ? `${req.fc}`
        : `${req.fc}/${req.subFunction}`;
    if (fn !== null && !this.functions.has(fn)) {
      if (!sanctioned || scope !== undefined) fresh += NOVEL_FUNCTION_BLOCKS; // with a scope, a free rule granted the function
      if (remember) this.functions.add(fn);
    }
    fresh += this.freshBlocks(req.reads, device, remember, sanctioned, scope?.reads);
    fresh += this.freshBlocks(req.writes, device, remember, sanctioned, scope?.writes);
    this.judgeFresh(fresh, now, warm);
  }

  /** A PROFINET record: each (api, slot, subslot, index) never touched before weighs one fresh block. */
  judgeRecord(
    req: RecordRequest,
    device: string,
    now: number,
    learning: boolean,
    warm: boolean,
    sanctioned: boolean,
  ): void {
    const key = `${device}/record/${req.api}/${req.slot}/${req.subslot}/${req.index}`;
    const fresh = this.records.has(key) || sanctioned ? 0 : 1;
    if (!this.records.has(key) && (learning || !warm)) this.records.add(key);
    this.judgeFresh(fresh, now, warm);
  }

  /** Blocks of 16 registers/coils of `ranges` not seen before (remembered when `remember`); vouched ones excluded. */
  private freshBlocks(
    ranges: ClassifiedRequest['reads'],
    device: string,
    remember: boolean,
    sanctioned: boolean,
    spans: GrantNeed['reads'] | undefined,
  ): number {
    let fresh = 0;
    for (const r of ranges) {
      const known = this.blocksOf(device, r.table);
      const end = r.start + r.count - 1;
      for (let b = r.start >> 4; b <= end >> 4; b++) {
        if (known.has(b)) continue;
        const vouched =
          sanctioned &&
          (spans === undefined || within(spans, r.table, Math.max(r.start, b << 4), Math.min(end, (b << 4) + 15)));
        if (!vouched) fresh++;
        if (remember) known.add(b);
      }
    }
    return fresh;
  }

  private blocksOf(device: string, table: string): Set<number> {
    let byTable = this.blocks.get(device);
    if (byTable === undefined) this.blocks.set(device, (byTable = new Map<string, Set<number>>()));
    let known = byTable.get(table);
    if (known === undefined) byTable.set(table, (known = new Set<number>()));
    return known;
  }

  /** Fresh blocks (or records) beyond the free allowance within τ raise `novelty` (once warm). */
  private judgeFresh(fresh: number, now: number, warm: boolean): void {
    if (!warm || fresh === 0) return;
    this.fresh.add(fresh, now);
    const excess = this.fresh.value(now) - NOVELTY_FREE;
    if (excess > 0) this.novelty.bump(Math.min(1, excess / NOVELTY_SPAN), now);
  }
}
