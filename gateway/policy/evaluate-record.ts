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
 * - A write to a container index (WriteMultiple 0xE040 and the like) is judged by the writes it carries, or
 *   refused `container-not-judged` when they cannot be judged (record-container.ts).
 * - Shadow rules and policy `mode: shadow` work as for Modbus. Rule `units` do not apply to record requests.
 * The rule lists are the per-(device, peer) views of the Modbus index; a linear scan over their few
 * `profinet` entries is all the per-request work.
 */
import { validateRecordRequest, type RecordRequest } from '../../protocols/profinet/record-request.js';
import {
  denyDecision,
  type CompiledPolicy,
  type CompiledRule,
  type Decision,
  type PeerRef,
  type RuleSetView,
  type ShadowResult,
} from './compiled-policy.js';
import { withShadow, type EvaluateOptions } from './evaluate.js';
import { allowScan, denyHit, isRefusal, type RecordCtx } from './record-judge.js';
import { containerDenyHit, containerGrant, containerWrites } from './record-container.js';

export { recordLabel } from './record-judge.js';

const NO_RULE: Decision = Object.freeze(denyDecision(null, { code: 'no-rule', detail: '' }));

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
  // What a container carries is judged write by write; what cannot be judged never reaches a device, not even in
  // shadow mode (record-container.ts).
  const carried = containerWrites(req);
  if (carried !== null && 'code' in carried) return denyDecision(null, carried);
  const view = policy.index.viewFor(device, peer);
  const ctx: RecordCtx = { nowMs: now.getTime(), ignoreSchedules: opts?.ignoreSchedules === true };
  const d = decide(view.allow, view.deny, req, carried, ctx);
  return withShadow(policy, d, view.shadow.length > 0 ? shadowResults(view.shadow, req, carried, ctx) : []);
}

function decide(
  allow: RuleSetView,
  deny: RuleSetView,
  req: RecordRequest,
  inner: readonly RecordRequest[] | null,
  ctx: RecordCtx,
): Decision {
  const hit = inner === null ? denyHit(deny, req, ctx) : containerDenyHit(deny, req, inner, ctx);
  if (hit !== null) return denyDecision(hit.rule.id, { code: 'explicit-deny', detail: hit.detail });
  if (allow.records.length === 0) return NO_RULE;
  if (inner !== null) return containerGrant(allow, inner, ctx);
  const granted = allowScan(allow, req, ctx);
  return isRefusal(granted) ? denyDecision(null, granted) : granted.allowDecision;
}

function shadowResults(
  shadow: readonly { rule: CompiledRule; view: RuleSetView }[],
  req: RecordRequest,
  inner: readonly RecordRequest[] | null,
  ctx: RecordCtx,
): ShadowResult[] {
  const out: ShadowResult[] = [];
  for (const { rule, view } of shadow) {
    if (rule.effect === 'deny') {
      const hit = inner === null ? denyHit(view, req, ctx) : containerDenyHit(view, req, inner, ctx);
      if (hit !== null) out.push({ ruleId: rule.id, effect: 'deny' });
    } else if (view.records.length > 0) {
      const allowed =
        inner === null ? !isRefusal(allowScan(view, req, ctx)) : containerGrant(view, inner, ctx).effect === 'allow';
      if (allowed) out.push({ ruleId: rule.id, effect: 'allow' });
    }
  }
  return out;
}
