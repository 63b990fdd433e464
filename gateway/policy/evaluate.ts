/**
 * The policy decision: pure and synchronous [docs/architecture.md "Request path" 6].
 *
 * Semantics:
 * - Default deny (`no-rule`). Every register a request touches must be allowed by one or more allow entries of
 *   rules that match the peer (principal), the device, the unit and the schedule, else the WHOLE request is
 *   denied — there are no partial grants.
 * - Explicit deny wins: any matching deny rule that hits the request denies it, whatever allows it.
 * - FC23 needs its write AND its read allowed [MB-APP 6.17]; FC22 (resulting value unknown) only where any
 *   value is allowed; FC5/6/15/16 check every written value against `values`.
 * - Non read/write FCs (diagnostics, device id, file records, FIFO, user-defined, unknown) are denied unless a
 *   matching rule names them in `functions` (with sub-function when listed); ranges they touch (FC24) must
 *   still be allowed.
 * - Unit 0 (broadcast) is only granted for writes and functions by rules that name unit 0 in `units`.
 * - JIT and rate are obligations, not verdicts: an allow granted by a rule with `jit` or `rate` carries
 *   `obligations.jit` / `obligations.rate`, and the runtime checks grants and buckets. When several rules could
 *   grant a register, one that needs no JIT grant is preferred. Each register (so each half of an FC23) is judged
 *   by its own best rule: when rules needing no grant cover part of the request, `obligations.jit.scope` names
 *   the registers the JIT rules granted, and only those need the grant.
 * - Shadow rules never change the verdict: each active one that would grant (allow) or hit (deny) the request
 *   is reported in `shadow`. A policy with top-level `mode: shadow` is in test mode: a deny becomes
 *   `allow` with reason `shadow-mode <real reason>` and the real verdict in `shadow`.
 */
import type { ClassifiedRequest, Table } from '../../protocols/modbus/types.js';
import type {
  CompiledEntry,
  CompiledPolicy,
  CompiledRule,
  Decision,
  IntervalIndex,
  Obligations,
  PeerRef,
  RegisterSpan,
  RuleSetView,
  ShadowResult,
} from './compiled-policy.js';
import { findInterval } from './policy-index.js';
import { inIntervals, type Interval } from './ranges.js';

interface Ctx {
  readonly unit: number;
  readonly nowMs: number;
  /** Unit 0 and not a pure read: only rules naming unit 0 may grant it. */
  readonly broadcast: boolean;
  readonly ignoreSchedules: boolean;
}

export interface EvaluateOptions {
  /** Treat every schedule as open: used by policy tests that give no `at` time, so they never flake. */
  readonly ignoreSchedules?: boolean;
}

/** Rules that contributed to an allow (first = reported rule id). */
interface Acc {
  first: CompiledRule | null;
  jit: CompiledRule | null;
  rate: CompiledRule | null;
  /** Registers granted by JIT rules (null until one is): what the grant must cover. */
  jitReads: RegisterSpan[] | null;
  jitWrites: RegisterSpan[] | null;
  /** A rule needing no grant granted some register or the function. */
  free: boolean;
  /** A JIT rule granted the function itself: its grant must cover the whole request. */
  jitWhole: boolean;
  /** Some granting rule is not `essential`: the allow is not essential. */
  notEssential?: true;
}

const newAcc = (): Acc => ({ first: null, jit: null, rate: null, jitReads: null, jitWrites: null, free: false, jitWhole: false });

type Check = string | null; // null = fine, else a deny reason

export function evaluate(
  policy: CompiledPolicy,
  peer: PeerRef,
  device: string,
  req: ClassifiedRequest,
  now: Date,
  opts?: EvaluateOptions,
): Decision {
  const view = policy.index.viewFor(device, peer);
  const ctx: Ctx = {
    unit: req.unit,
    nowMs: now.getTime(),
    broadcast: req.unit === 0 && req.kind !== 'read',
    ignoreSchedules: opts?.ignoreSchedules === true,
  };
  const d = decide(view.allow, view.deny, req, ctx);
  return withShadow(policy, d, view.shadow.length > 0 ? shadowResults(view.shadow, req, ctx) : []);
}

/**
 * What every evaluator (Modbus, PROFINET records) does with its enforced decision: attach the shadow rules'
 * verdicts, and in a policy of `mode: shadow` turn a deny into an allow that records the real verdict.
 */
export function withShadow(policy: CompiledPolicy, decided: Decision, shadow: readonly ShadowResult[]): Decision {
  const d = shadow.length > 0 ? { ...decided, shadow } : decided;
  if (policy.mode !== 'shadow' || d.effect !== 'deny') return d;
  const real: ShadowResult = { ruleId: d.ruleId ?? 'default-deny', effect: 'deny' };
  return { effect: 'allow', ruleId: d.ruleId, reason: `shadow-mode ${d.reason}`, shadow: [...(d.shadow ?? []), real] };
}

function decide(allow: RuleSetView, deny: RuleSetView, req: ClassifiedRequest, ctx: Ctx): Decision {
  if (allow.rules.length === 0 && deny.rules.length === 0) return { effect: 'deny', ruleId: null, reason: 'no-rule' };
  const hit = denyHit(deny, req, ctx);
  if (hit !== null) return { effect: 'deny', ruleId: hit.rule.id, reason: `explicit-deny ${hit.detail}` };
  if (allow.rules.length === 0) return { effect: 'deny', ruleId: null, reason: 'no-rule' };
  const acc = newAcc();
  const failure = allowCheck(allow, req, ctx, acc);
  if (failure !== null || acc.first === null) return { effect: 'deny', ruleId: null, reason: failure ?? 'no-rule' };
  // Common case: the first contributing rule brought exactly the obligations there are (and a JIT grant, if
  // any, must cover the whole request): its shared decision.
  const sole = acc.jit === (acc.first.jit ? acc.first : null) && acc.rate === (acc.first.rate ? acc.first : null);
  if (sole && (acc.jit === null || !acc.free) && (!acc.first.essential || !acc.notEssential)) return acc.first.allowDecision;
  const obligations = obligationsOf(acc);
  // Essential only when every granting rule is: one non-essential register makes the request ordinary.
  const essential = acc.notEssential ? {} : { essential: true as const };
  return obligations === null
    ? { effect: 'allow', ruleId: acc.first.id, reason: 'allowed', ...essential }
    : { effect: 'allow', ruleId: acc.first.id, reason: 'allowed', obligations, ...essential };
}

function obligationsOf(acc: Acc): Obligations | null {
  if (acc.jit === null && acc.rate === null) return null;
  let jit = acc.jit?.jit;
  // Rules needing no grant granted the rest: the grant need only cover what the JIT rules granted. Several
  // JIT rules: the first one's grant must cover all of it (stricter, never looser, than one grant each).
  if (jit && acc.free && !acc.jitWhole) jit = { ...jit, scope: { reads: acc.jitReads ?? [], writes: acc.jitWrites ?? [] } };
  const rate = acc.rate?.rate;
  return { ...(jit ? { jit } : {}), ...(rate ? { rate } : {}) };
}

function contribute(acc: Acc, rule: CompiledRule): void {
  if (acc.first === null) acc.first = rule;
  if (!rule.essential) acc.notEssential = true;
  if (acc.jit === null && rule.jit !== null) acc.jit = rule;
  if (acc.rate === null && rule.rate !== null) acc.rate = rule;
}

/** `rule` granted registers [from, to] of one table: remembers them when the rule needs a JIT grant. */
function contributeSpan(acc: Acc, rule: CompiledRule, access: 'read' | 'write', table: Table, from: number, to: number): void {
  contribute(acc, rule);
  if (rule.jit === null) {
    acc.free = true;
    return;
  }
  const list = access === 'read' ? (acc.jitReads ??= []) : (acc.jitWrites ??= []);
  const last = list[list.length - 1];
  if (last !== undefined && last.table === table && last.start + last.count === from) list[list.length - 1] = { table, start: last.start, count: to - last.start + 1 };
  else list.push({ table, start: from, count: to - from + 1 });
}

// ---- activity of a rule for this request (unit, broadcast, schedule) ----

function active(rule: CompiledRule, ctx: Ctx, granting: boolean): boolean {
  if (rule.units !== null ? rule.units[ctx.unit] !== 1 : granting && ctx.broadcast) return false;
  return rule.schedule === null || ctx.ignoreSchedules || rule.schedule.contains(ctx.nowMs);
}

function inactiveReason(rule: CompiledRule, ctx: Ctx): string {
  if (rule.units === null && ctx.broadcast) return 'broadcast-not-allowed';
  if (rule.units !== null && rule.units[ctx.unit] !== 1) return `unit-not-allowed ${ctx.unit}`;
  return `outside-schedule ${rule.id}`;
}

function subOk(rule: CompiledRule, fc: number, sub: number | undefined): boolean {
  const subs = rule.functions.get(fc);
  return subs === null || (sub !== undefined && subs !== undefined && subs.includes(sub));
}

function fnLabel(req: ClassifiedRequest): string {
  return req.subFunction === undefined ? `fc:${req.fc}` : `fc:${req.fc}/${req.subFunction}`;
}

// ---- allow ----

function allowCheck(view: RuleSetView, req: ClassifiedRequest, ctx: Ctx, acc: Acc): Check {
  const rw = req.kind === 'read' || req.kind === 'write' || req.kind === 'read-write';
  if (rw && req.reads.length === 0 && req.writes.length === 0) return 'malformed-request no registers';
  if (!rw) {
    const named = (view.functions.get(req.fc) ?? []).filter((r) => subOk(r, req.fc, req.subFunction));
    const rule = named.find((r) => active(r, ctx, true));
    if (rule === undefined) return named[0] ? inactiveReason(named[0], ctx) : `function-not-allowed ${fnLabel(req)}`;
    contribute(acc, rule);
    if (rule.jit !== null) acc.jitWhole = true;
    else acc.free = true;
  }
  // Writes first: FC23 writes before it reads, and a write is the more telling reason.
  for (const w of req.writes) {
    const f = cover(view.write[w.table], w.table, w.start, w.count, w.values, 'write', ctx, acc);
    if (f !== null) return f;
  }
  for (const r of req.reads) {
    const f = cover(view.read[r.table], r.table, r.start, r.count, undefined, 'read', ctx, acc);
    if (f !== null) return f;
  }
  return null;
}

/** `values`: undefined for reads, null when the written value is unknown (FC22). */
function cover(
  idx: IntervalIndex | null,
  table: Table,
  start: number,
  count: number,
  values: readonly number[] | null | undefined,
  access: 'read' | 'write',
  ctx: Ctx,
  acc: Acc,
): Check {
  const end = start + count - 1;
  let addr = start;
  let i = idx === null ? -1 : findInterval(idx, start);
  while (addr <= end) {
    if (idx === null || i < 0 || i >= idx.lo.length || (idx.lo[i] as number) > addr || (idx.hi[i] as number) < addr) {
      return `address-not-allowed ${access} ${table}:${addr}`;
    }
    const segEnd = Math.min(idx.hi[i] as number, end);
    const f = coverSegment(idx.cands[i] as readonly CompiledEntry[], table, addr, segEnd, start, values, access, ctx, acc);
    if (f !== null) return f;
    addr = segEnd + 1;
    i++;
  }
  return null;
}

function coverSegment(
  cands: readonly CompiledEntry[],
  table: Table,
  from: number,
  to: number,
  start: number,
  values: readonly number[] | null | undefined,
  access: 'read' | 'write',
  ctx: Ctx,
  acc: Acc,
): Check {
  // Preference order (rules needing no JIT grant first, then file order): the first active entry that covers
  // the whole segment — any value, or every written value — wins.
  let anyActive = false;
  for (const e of cands) {
    if (!active(e.rule, ctx, true)) continue;
    anyActive = true;
    if (values === undefined || e.values === null || (values !== null && allValuesIn(e.values, values, from - start, to - start))) {
      contributeSpan(acc, e.rule, access, table, from, to);
      return null;
    }
  }
  if (!anyActive) return inactiveReason((cands[0] as CompiledEntry).rule, ctx);
  if (values === null || values === undefined) return `value-not-allowed ${table}:${from}=?`; // reads never get here
  // No single entry covers it all: each address takes the first entry (in preference order) allowing its value.
  for (let a = from; a <= to; a++) {
    const v = values[a - start] as number;
    const e = cands.find((c) => (c.values === null || inIntervals(c.values, v)) && active(c.rule, ctx, true));
    if (e === undefined) return `value-not-allowed ${table}:${a}=${v}`;
    contributeSpan(acc, e.rule, access, table, a, a);
  }
  return null;
}

function allValuesIn(allowed: readonly Interval[], values: readonly number[], from: number, to: number): boolean {
  for (let i = from; i <= to; i++) if (!inIntervals(allowed, values[i] as number)) return false;
  return true;
}

// ---- deny ----

function denyHit(view: RuleSetView, req: ClassifiedRequest, ctx: Ctx): { rule: CompiledRule; detail: string } | null {
  if (view.rules.length === 0) return null;
  for (const r of view.all) if (active(r, ctx, false)) return { rule: r, detail: 'all' };
  for (const r of view.functions.get(req.fc) ?? []) {
    if (subOk(r, req.fc, req.subFunction) && active(r, ctx, false)) return { rule: r, detail: fnLabel(req) };
  }
  for (const w of req.writes) {
    const h = rangeHit(view.write[w.table], w.table, w.start, w.count, w.values, 'write', ctx);
    if (h !== null) return h;
  }
  for (const r of req.reads) {
    const h = rangeHit(view.read[r.table], r.table, r.start, r.count, undefined, 'read', ctx);
    if (h !== null) return h;
  }
  return null;
}

function rangeHit(
  idx: IntervalIndex | null,
  table: Table,
  start: number,
  count: number,
  values: readonly number[] | null | undefined,
  access: 'read' | 'write',
  ctx: Ctx,
): { rule: CompiledRule; detail: string } | null {
  if (idx === null) return null;
  const end = start + count - 1;
  for (let i = Math.max(0, findInterval(idx, start)); i < idx.lo.length && (idx.lo[i] as number) <= end; i++) {
    const from = Math.max(start, idx.lo[i] as number);
    const to = Math.min(end, idx.hi[i] as number);
    if (from > to) continue;
    for (const e of idx.cands[i] as readonly CompiledEntry[]) {
      if (!active(e.rule, ctx, false)) continue;
      const at = valueHitAt(e, from, to, start, values);
      if (at !== null) return { rule: e.rule, detail: `${access} ${table}:${at}` };
    }
  }
  return null;
}

/** First address in [from, to] whose write the entry denies; unknown values (FC22) count as hits. */
function valueHitAt(e: CompiledEntry, from: number, to: number, start: number, values: readonly number[] | null | undefined): number | null {
  if (values === undefined || values === null || e.values === null) return from;
  for (let a = from; a <= to; a++) if (inIntervals(e.values, values[a - start] as number)) return a;
  return null;
}

// ---- shadow ----

function shadowResults(shadow: readonly { rule: CompiledRule; view: RuleSetView }[], req: ClassifiedRequest, ctx: Ctx): ShadowResult[] {
  const out: ShadowResult[] = [];
  for (const { rule, view } of shadow) {
    if (rule.effect === 'deny') {
      if (denyHit(view, req, ctx) !== null) out.push({ ruleId: rule.id, effect: 'deny' });
    } else if (allowCheck(view, req, ctx, newAcc()) === null) {
      out.push({ ruleId: rule.id, effect: 'allow' });
    }
  }
  return out;
}
