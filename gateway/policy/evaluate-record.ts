/**
 * The policy decision for PROFINET record services (read/write one record by API, slot, subslot, index):
 * pure and synchronous, the same `Decision` as the Modbus `evaluate`.
 *
 * Semantics:
 * - The request is checked first (`validateRecordRequest`): a malformed one is denied `malformed-request …`
 *   whatever the policy says (also in shadow mode: it never reaches a device).
 * - Default deny. A record is allowed only by a `profinet:` entry of an active rule (principal, device,
 *   schedule) with the same access and API whose slots, subslots and indices contain the request's.
 *   No entry names it → `index-not-allowed`; every naming rule outside its schedule → `outside-schedule`.
 * - Limits of the entry: a read may ask at most `length` bytes; a write must be exactly `length` bytes
 *   (`length-not-allowed`); typed `values` must lie in their ranges and `bytes` must match exactly
 *   (`value-not-allowed`).
 * - Explicit deny wins: a deny rule with no entries at all, or a `profinet:` entry of a deny rule naming the
 *   record (narrowed, for writes, by its `length`, `bytes` or any typed value in its set), denies.
 * - One record is one grant: the first rule (preferred: needing no JIT grant, then file order) that allows it
 *   gives the decision, with that rule's `jit`/`rate` obligations and `essential` flag.
 * - Shadow rules and policy `mode: shadow` work as for Modbus. Rule `units` do not apply to record requests.
 * The rule lists are the per-(device, peer) views of the Modbus index; a linear scan over their few
 * `profinet` entries is all the per-request work.
 */
import { validateRecordRequest, type RecordRequest } from '../../protocols/profinet/record-request.js';
import {
  denyDecision,
  type CompiledPolicy,
  type CompiledRecordEntry,
  type CompiledRule,
  type Decision,
  type PeerRef,
  type RuleSetView,
  type ShadowResult,
} from './compiled-policy.js';
import { withShadow, type EvaluateOptions } from './evaluate.js';
import { readRecordValue } from './compile-record-entry.js';
import type { PolicyReason } from '../reasons.js';
import { inIntervals } from './ranges.js';

const NO_RULE: Decision = Object.freeze(denyDecision(null, { code: 'no-rule', detail: '' }));

interface Ctx {
  readonly nowMs: number;
  readonly ignoreSchedules: boolean;
}

const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** `api 0 slot 1 subslot 0x0001 index 0xaff0`: how reasons and `policy explain` name a record. */
export function recordLabel(req: Pick<RecordRequest, 'api' | 'slot' | 'subslot' | 'index'>): string {
  return `api ${req.api} slot ${req.slot} subslot ${hex4(req.subslot)} index ${hex4(req.index)}`;
}

export function evaluateRecord(
  policy: CompiledPolicy,
  peer: PeerRef,
  device: string,
  req: RecordRequest,
  now: Date,
  opts?: EvaluateOptions,
): Decision {
  const valid = validateRecordRequest(req);
  if (!valid.ok) return denyDecision(null, { code: 'malformed-request', detail: valid.detail });
  const view = policy.index.viewFor(device, peer);
  const ctx: Ctx = { nowMs: now.getTime(), ignoreSchedules: opts?.ignoreSchedules === true };
  const d = decide(view.allow, view.deny, req, ctx);
  return withShadow(policy, d, view.shadow.length > 0 ? shadowResults(view.shadow, req, ctx) : []);
}

function decide(allow: RuleSetView, deny: RuleSetView, req: RecordRequest, ctx: Ctx): Decision {
  const hit = denyHit(deny, req, ctx);
  if (hit !== null) return denyDecision(hit.rule.id, { code: 'explicit-deny', detail: hit.detail });
  if (allow.records.length === 0) return NO_RULE;
  const granted = allowScan(allow, req, ctx);
  return isRefusal(granted) ? denyDecision(null, granted) : granted.allowDecision;
}

function active(rule: CompiledRule, ctx: Ctx): boolean {
  return rule.schedule === null || ctx.ignoreSchedules || rule.schedule.contains(ctx.nowMs);
}

function names(e: CompiledRecordEntry, req: RecordRequest): boolean {
  return (
    e.access === req.access &&
    (e.api === null || e.api === req.api) &&
    inIntervals(e.indices, req.index) &&
    inIntervals(e.slots, req.slot) &&
    inIntervals(e.subslots, req.subslot)
  );
}

/** The granting rule, or the deny reason. */
const isRefusal = (r: CompiledRule | PolicyReason): r is PolicyReason => 'code' in r;

function allowScan(view: RuleSetView, req: RecordRequest, ctx: Ctx): CompiledRule | PolicyReason {
  let named: CompiledRecordEntry | null = null;
  let failure: PolicyReason | null = null;
  for (const e of view.records) {
    if (!names(e, req)) continue;
    named ??= e;
    if (!active(e.rule, ctx)) continue;
    const f = limits(e, req);
    if (f === null) return e.rule;
    failure ??= f;
  }
  if (named === null) return { code: 'index-not-allowed', detail: `${req.access} ${recordLabel(req)}` };
  return failure ?? { code: 'outside-schedule', detail: named.rule.id };
}

/** Length and value limits of an allow entry that names the record; null = fine. */
function limits(e: CompiledRecordEntry, req: RecordRequest): PolicyReason | null {
  if (req.access === 'read') {
    return e.length !== null && req.length > e.length
      ? { code: 'length-not-allowed', detail: `read ${recordLabel(req)} length ${req.length} (max ${e.length})` }
      : null;
  }
  if (e.length !== null && req.length !== e.length)
    return {
      code: 'length-not-allowed',
      detail: `write ${recordLabel(req)} length ${req.length} (exactly ${e.length})`,
    };
  const data = req.data as Buffer; // validated: a write carries `length` bytes
  if (e.bytes !== null && !data.equals(e.bytes))
    return { code: 'value-not-allowed', detail: `${recordLabel(req)} bytes ${data.toString('hex')}` };
  for (const v of e.values ?? []) {
    if (v.offset + v.size > data.length)
      return { code: 'value-not-allowed', detail: `${recordLabel(req)} @${v.offset} ${v.type}=?` };
    const x = readRecordValue(data, v);
    if (!inIntervals(v.allowed, x))
      return { code: 'value-not-allowed', detail: `${recordLabel(req)} @${v.offset} ${v.type}=${x}` };
  }
  return null;
}

function denyHit(view: RuleSetView, req: RecordRequest, ctx: Ctx): { rule: CompiledRule; detail: string } | null {
  if (view.all.length === 0 && view.records.length === 0) return null;
  for (const r of view.all) if (active(r, ctx)) return { rule: r, detail: 'all' };
  for (const e of view.records) {
    if (names(e, req) && active(e.rule, ctx) && denies(e, req))
      return { rule: e.rule, detail: `${req.access} ${recordLabel(req)}` };
  }
  return null;
}

/** A deny entry naming the record: reads always hit; writes when its length, bytes and values say so. */
function denies(e: CompiledRecordEntry, req: RecordRequest): boolean {
  if (req.access === 'read') return true;
  const data = req.data as Buffer;
  if (e.length !== null && req.length !== e.length) return false;
  if (e.bytes !== null && !data.equals(e.bytes)) return false;
  if (e.values === null) return true;
  return e.values.some((v) => v.offset + v.size <= data.length && inIntervals(v.allowed, readRecordValue(data, v)));
}

function shadowResults(
  shadow: readonly { rule: CompiledRule; view: RuleSetView }[],
  req: RecordRequest,
  ctx: Ctx,
): ShadowResult[] {
  const out: ShadowResult[] = [];
  for (const { rule, view } of shadow) {
    if (rule.effect === 'deny') {
      if (denyHit(view, req, ctx) !== null) out.push({ ruleId: rule.id, effect: 'deny' });
    } else if (view.records.length > 0 && !isRefusal(allowScan(view, req, ctx))) {
      out.push({ ruleId: rule.id, effect: 'allow' });
    }
  }
  return out;
}
