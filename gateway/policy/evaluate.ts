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
 *   `obligations.jit` / `obligations.rate` (and `obligations.rates` when several rate-limited rules granted
 *   parts: every one's bucket is charged), and the runtime checks grants and buckets. When several rules could
 *   grant a register, one that needs no JIT grant is preferred. Each register (so each half of an FC23) is judged
 *   by its own best rule: when rules needing no grant cover part of the request, `obligations.jit.scope` names
 *   the registers the JIT rules granted, and only those need the grant.
 * - Order: explicit deny first (deny-check.ts), then the allow check (allow-check.ts) recording what granted
 *   what (grants.ts), then the shadow rules. Each check walks the request's register ranges once, writes first
 *   (judged-request.ts), over a per-(device, peer) index of address segments (policy-index.ts).
 * - A deny (no partial grant) of a request touching a register that an applicable JIT rule covers names that
 *   rule in `jitRule`: commissioning mode never learns it (checked on the deny path only).
 * - Shadow rules never change the verdict: each active one that would grant (allow) or hit (deny) the request
 *   is reported in `shadow`. A policy with top-level `mode: shadow` is in test mode: a deny becomes
 *   `allow` with reason `shadow-mode <real reason>` and the real verdict in `shadow`.
 */
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import {
  denyDecision,
  type CompiledPolicy,
  type CompiledRule,
  type Decision,
  type PeerRef,
  type PeerView,
  type RuleSetView,
  type Segment,
  type ShadowResult,
} from './compiled-policy.js';
import { allowCheck } from './allow-check.js';
import { denyHit } from './deny-check.js';
import { Grants } from './grants.js';
import { judgedRequest, type JudgedRequest } from './judged-request.js';
import { findSegment } from './policy-index.js';
import { reasonText } from '../reasons.js';

export interface EvaluateOptions {
  /** Treat every schedule as open: used by policy tests that give no `at` time, so they never flake. */
  readonly ignoreSchedules?: boolean;
}

const NO_RULE: Decision = Object.freeze(denyDecision(null, { code: 'no-rule', detail: '' }));
const NO_SHADOW: readonly ShadowResult[] = Object.freeze([]);

export function evaluate(
  policy: CompiledPolicy,
  peer: PeerRef,
  device: string,
  req: ClassifiedRequest,
  now: Date,
  opts?: EvaluateOptions,
): Decision {
  const view = policy.index.viewFor(device, peer);
  const r = judgedRequest(req, now, opts?.ignoreSchedules === true);
  return withShadow(policy, decide(view, r), view.shadow.length > 0 ? shadowVerdicts(view, r) : NO_SHADOW);
}

/**
 * What every evaluator (Modbus, PROFINET records) does with its enforced decision: attach the shadow rules'
 * verdicts, and in a policy of `mode: shadow` turn a deny into an allow that records the real verdict.
 */
export function withShadow(policy: CompiledPolicy, decided: Decision, shadow: readonly ShadowResult[]): Decision {
  const d = shadow.length > 0 ? { ...decided, shadow } : decided;
  if (policy.mode !== 'shadow' || d.effect !== 'deny') return d;
  const real: ShadowResult = { ruleId: d.ruleId ?? 'default-deny', effect: 'deny' };
  return {
    effect: 'allow',
    ruleId: d.ruleId,
    code: 'shadow-mode',
    detail: d.reason,
    reason: reasonText('shadow-mode', d.reason),
    shadow: [...(d.shadow ?? []), real],
  };
}

/** The enforced decision: explicit deny wins, then every register must be allowed, else default deny. */
function decide({ allow, deny }: PeerView, r: JudgedRequest): Decision {
  if (allow.rules.length === 0 && deny.rules.length === 0) return NO_RULE;
  const hit = denyHit(deny, r);
  if (hit !== null) return denyDecision(hit.rule.id, { code: 'explicit-deny', detail: hit.detail });
  if (allow.rules.length === 0) return NO_RULE;
  const grants = new Grants();
  const refused = allowCheck(allow, r, grants);
  if (refused === null) return grants.decision();
  // deny path only: name a JIT rule over a touched register, so commissioning mode never learns past JIT
  const jit = jitRuleOver(allow, r);
  return jit === null ? denyDecision(null, refused) : { ...denyDecision(null, refused), jitRule: jit.id };
}

/**
 * The first JIT rule (in preference order) with an entry of the request's access over a register it touches,
 * whatever the entry's values, units or schedule: a register a JIT rule protects is never granted without an
 * approved grant, so a denial there must not be learned (gateway/evidence/learn-mode.ts).
 */
function jitRuleOver(view: RuleSetView, r: JudgedRequest): CompiledRule | null {
  for (const t of r.targets) {
    const segments = (t.access === 'read' ? view.read : view.write)[t.table];
    if (segments === null) continue;
    for (let i = Math.max(0, findSegment(segments, t.start)); i < segments.length; i++) {
      const seg = segments[i] as Segment;
      if (seg.lo > t.end) break;
      if (seg.hi < t.start) continue;
      const e = seg.entries.find((c) => c.rule.jit !== null);
      if (e !== undefined) return e.rule;
    }
  }
  return null;
}

/** Each active shadow rule that would grant (allow) or hit (deny) the request, judged on its own. */
function shadowVerdicts({ shadow }: PeerView, r: JudgedRequest): ShadowResult[] {
  const out: ShadowResult[] = [];
  for (const { rule, view } of shadow) {
    const applies = rule.effect === 'deny' ? denyHit(view, r) !== null : allowCheck(view, r, new Grants()) === null;
    if (applies) out.push({ ruleId: rule.id, effect: rule.effect });
  }
  return out;
}
