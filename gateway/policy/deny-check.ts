/**
 * The deny side of a decision: explicit deny wins. Any active deny rule that hits the request denies it,
 * whatever allows it — a rule denying everything it matches, a rule naming the function code, or a deny
 * entry over a register the request touches (for writes: a denied value, an unknown value counting as one).
 */
import type { CompiledEntry, CompiledRule, RuleSetView, Segments } from './compiled-policy.js';
import { coversSubFunction, functionLabel, isActive, type JudgedRequest, type Target } from './judged-request.js';
import { findSegment } from './policy-index.js';
import { inIntervals } from './ranges.js';

export interface DenyHit {
  readonly rule: CompiledRule;
  /** `all`, the function label, or `<access> <table>:<address>`. */
  readonly detail: string;
}

/** The first active deny rule of `view` that hits the request, or null. */
export function denyHit(view: RuleSetView, r: JudgedRequest): DenyHit | null {
  if (view.rules.length === 0) return null;
  for (const rule of view.all) if (isActive(rule, r, false)) return { rule, detail: 'all' };
  for (const rule of view.functions.get(r.req.fc) ?? []) {
    if (coversSubFunction(rule, r.req) && isActive(rule, r, false)) return { rule, detail: functionLabel(r.req) };
  }
  for (const t of r.targets) {
    const hit = targetHit((t.access === 'read' ? view.read : view.write)[t.table], t, r);
    if (hit !== null) return hit;
  }
  return null;
}

/** Every segment overlapping `t`, in address order; in each, the entries in preference order. */
function targetHit(segments: Segments | null, t: Target, r: JudgedRequest): DenyHit | null {
  if (segments === null) return null;
  for (let i = Math.max(0, findSegment(segments, t.start)); i < segments.length; i++) {
    const seg = segments[i];
    if (seg === undefined || seg.lo > t.end) break;
    const from = Math.max(t.start, seg.lo);
    const to = Math.min(t.end, seg.hi);
    if (from > to) continue; // the segment before t.start
    for (const e of seg.entries) {
      if (!isActive(e.rule, r, false)) continue;
      const at = firstDeniedAddress(e, t, from, to);
      if (at !== null) return { rule: e.rule, detail: `${t.access} ${t.table}:${at}` };
    }
  }
  return null;
}

/** First address in [from, to] whose access `e` denies: any for reads and value-less entries. */
function firstDeniedAddress(e: CompiledEntry, t: Target, from: number, to: number): number | null {
  if (t.values === undefined || t.values === null || e.values === null) return from;
  for (let a = from; a <= to; a++) if (inIntervals(e.values, t.values[a - t.start] ?? Number.NaN)) return a;
  return null;
}
