/**
 * `verigate policy replay`: re-judge every request of a verified audit trail under a candidate policy, with
 * the recorded identity, role, device, registers, written values and time (receipt time: the event time less
 * its latency), and report what changes — the "what would this change deny?" of a policy review.
 *
 * Compared are POLICY verdicts: a recorded allow (or `learn`: answered normally while commissioning) against
 * the candidate's verdict, and a recorded policy denial (no-rule, explicit-deny, address-/value-/function-…)
 * against it too. A request the policy allowed but a runtime gate refused (locks, JIT, rate, the trust
 * downgrade, audit) is not replayed: those gates depend on state the trail does not hold. A write whose values
 * were stored as a hash (`audit.values: hash`) is `undecidable` when only its values could make the candidate
 * refuse it, and allow→deny when the candidate refuses it whatever they were (deniedWhateverValues).
 *
 * The candidate's own obligations are judged too, as the runtime would (gateway/trust/trust-runtime.ts): an
 * allow carrying `rate` takes a token from a bucket per identity × rule (the runtime's RateLimiter, driven by
 * the recorded times: memory bounded by identities × rules) and is `rate-limited <rule>` when it is empty; an
 * allow carrying `jit` is `jit-required <rule>` unless the trail's `jit.*` events show the identity holding an
 * approved, unexpired grant of that rule on the device then (replay-grants.ts). Either counts as a denial.
 */
import { evaluate } from '../policy/evaluate.js';
import { evaluateRecord, recordLabel } from '../policy/evaluate-record.js';
import type { CompiledPolicy, Decision } from '../policy/compiled-policy.js';
import { reasonCode } from '../policy/compiled-policy.js';
import { reasonText, type GateReasonCode } from '../reasons.js';
import { RateLimiter } from '../trust/rate-limiter.js';
import { ReplayGrants } from './replay-grants.js';
import type { RecordedModbus, RecordedRequest } from './recorded-request.js';
import { readVerifiedTrail, type TrailResult, type TrailVerify, type TrailWindow } from './verified-trail.js';

/** Reason codes the policy itself gives (docs/policy.md); any other denial came from a runtime gate. */
const POLICY_REASONS: ReadonlySet<string> = new Set([
  'no-rule',
  'explicit-deny',
  'address-not-allowed',
  'value-not-allowed',
  'function-not-allowed',
  'broadcast-not-allowed',
  'unit-not-allowed',
  'outside-schedule',
  'malformed-request',
  'index-not-allowed',
  'length-not-allowed',
  'container-not-judged',
]);
const SAMPLES_PER_GROUP = 3;

export type Direction = 'allow→deny' | 'deny→allow';

export interface ReplayChange {
  readonly direction: Direction;
  readonly seq: number;
  readonly time: string;
  readonly identity: string;
  readonly device: string;
  /** The request in words: `fc6 write holding 100=4000`. */
  readonly request: string;
  readonly before: { readonly decision: string; readonly ruleId: string | null; readonly reason: string };
  readonly after: { readonly effect: 'allow' | 'deny'; readonly ruleId: string | null; readonly reason: string };
}

export interface ReplayGroup {
  readonly direction: Direction;
  readonly identity: string;
  readonly device: string;
  /** allow→deny: the rule that allowed it; deny→allow: the candidate rule that now allows it. */
  readonly rule: string | null;
  /** allow→deny: the candidate's reason code; deny→allow: the recorded one. */
  readonly reason: string;
  count: number;
  readonly samples: ReplayChange[];
}

export interface ReplayReport {
  readonly events: number;
  readonly requests: number;
  readonly unchanged: number;
  readonly tightened: number;
  readonly loosened: number;
  readonly undecidable: number;
  /** Requests not replayed, by why. */
  readonly notReplayed: Readonly<Record<string, number>>;
  readonly groups: readonly ReplayGroup[];
}

export interface ReplayInput {
  readonly dir: string;
  readonly verify: TrailVerify;
  readonly window: TrailWindow;
  readonly candidate: CompiledPolicy;
  /** Every change, not only the samples (tests, scripts). */
  readonly onChange?: (c: ReplayChange) => void;
}

export type ReplayResult = ({ readonly ok: true } & ReplayReport) | Extract<TrailResult, { ok: false }>;

export function replayTrail(input: ReplayInput): ReplayResult {
  const groups = new Map<string, ReplayGroup>();
  const notReplayed: Record<string, number> = {};
  const n = { unchanged: 0, tightened: 0, loosened: 0, undecidable: 0 };
  const gates = new CandidateGates();
  const trail = readVerifiedTrail(
    input.dir,
    input.verify,
    input.window,
    (r) => {
      const before = recordedVerdict(r);
      if (before === 'runtime') {
        notReplayed['denied by a runtime gate (locks, JIT, rate, trust, audit)'] =
          (notReplayed['denied by a runtime gate (locks, JIT, rate, trust, audit)'] ?? 0) + 1;
        return;
      }
      let after = gates.check(r, judge(input.candidate, r));
      if ((before === 'allow') === (after.effect === 'allow')) {
        n.unchanged++;
        return;
      }
      if (
        after.effect === 'deny' &&
        r.valuesHidden &&
        ['value-not-allowed', 'length-not-allowed'].includes(reasonCode(after.reason))
      ) {
        const certain = r.kind === 'modbus' ? deniedWhateverValues(input.candidate, r) : null;
        if (certain === null) {
          n.undecidable++;
          return;
        }
        after = certain;
      }
      const change = changeOf(r, before === 'allow' ? 'allow→deny' : 'deny→allow', after);
      if (change.direction === 'allow→deny') n.tightened++;
      else n.loosened++;
      note(groups, change);
      input.onChange?.(change);
    },
    (e) => gates.grants.see(e),
  );
  if (!trail.ok) return trail;
  return {
    ok: true,
    events: trail.events,
    requests: trail.requests,
    ...n,
    notReplayed,
    groups: [...groups.values()].sort(byWeight),
  };
}

/** allow (also `learn`), deny (by the policy), or runtime (allowed by the policy, refused by a gate). */
function recordedVerdict(r: RecordedRequest): 'allow' | 'deny' | 'runtime' {
  if (r.decision !== 'deny') return 'allow';
  return POLICY_REASONS.has(reasonCode(r.reason)) ? 'deny' : 'runtime';
}

/** The candidate's verdict as it would reach the client: what ReplayChange.after records. */
type Verdict = Pick<Decision, 'effect' | 'ruleId' | 'reason'>;

/** The runtime gates a candidate's obligations add: rate buckets and JIT grants, over the recorded times. */
class CandidateGates {
  readonly grants = new ReplayGrants();
  private readonly rates = new RateLimiter();
  /** Recorded times may step back by a latency: the buckets see a clock that never does. */
  private clock = -Infinity;

  check(r: RecordedRequest, d: Decision): Verdict {
    if (d.effect !== 'allow') return d;
    this.clock = Math.max(this.clock, r.decidedMs);
    // the order of trust-runtime.ts: rate first (a token is spent even when JIT then refuses), then JIT
    const emptyBucket = this.rates.charge(r.identity, d.obligations, this.clock);
    if (emptyBucket !== null) return gateDeny(emptyBucket, 'rate-limited');
    const jit = d.obligations?.jit;
    if (jit && !this.grants.held(r.identity, jit.ruleId, r.device, r.decidedMs))
      return gateDeny(jit.ruleId, 'jit-required');
    return d;
  }
}

/** A refusal the runtime gates would give, with its audit text made as the gateway makes it (reasons.ts). */
function gateDeny(ruleId: string, code: GateReasonCode): Verdict {
  return { effect: 'deny', ruleId, reason: reasonText(code, ruleId) };
}

function judge(policy: CompiledPolicy, r: RecordedRequest): Decision {
  const peer = { id: r.identity, role: r.role };
  const at = new Date(r.decidedMs);
  return r.kind === 'modbus'
    ? evaluate(policy, peer, r.device, r.request, at)
    : evaluateRecord(policy, peer, r.device, r.request, at);
}

/**
 * The candidate's denial of a write whose values were hashed, when it holds whatever the values were: the
 * request judged again with its unknown values taken as allowed (values `undefined`: judged as any value,
 * allow-check.ts `allowsValues`; deny-check.ts treats an unknown value alike either way). Null when that allows
 * it: only the values could deny it (undecidable). E.g. an FC23 whose read half no rule grants, or an FC16
 * reaching a register no entry covers, whose first refusal happened to be a value.
 */
function deniedWhateverValues(policy: CompiledPolicy, r: RecordedModbus): Decision | null {
  const writes = r.request.writes.map((w) => (w.values === null ? { ...w, values: undefined as unknown as null } : w));
  const d = judge(policy, { ...r, request: { ...r.request, writes } });
  return d.effect === 'deny' ? d : null;
}

function changeOf(r: RecordedRequest, direction: Direction, after: Verdict): ReplayChange {
  return {
    direction,
    seq: r.seq,
    time: r.time,
    identity: r.identity,
    device: r.device,
    request: describeRecorded(r),
    before: { decision: r.decision, ruleId: r.ruleId, reason: r.reason },
    after: { effect: after.effect, ruleId: after.ruleId, reason: after.reason },
  };
}

function note(groups: Map<string, ReplayGroup>, c: ReplayChange): void {
  const tightening = c.direction === 'allow→deny';
  const rule = tightening ? c.before.ruleId : c.after.ruleId;
  const reason = reasonCode(tightening ? c.after.reason : c.before.reason);
  const key = [c.direction, c.identity, c.device, rule ?? '', reason].join('\u0000');
  let g = groups.get(key);
  if (g === undefined)
    groups.set(
      key,
      (g = { direction: c.direction, identity: c.identity, device: c.device, rule, reason, count: 0, samples: [] }),
    );
  g.count++;
  if (g.samples.length < SAMPLES_PER_GROUP) g.samples.push(c);
}

function byWeight(a: ReplayGroup, b: ReplayGroup): number {
  return a.direction !== b.direction ? (a.direction === 'allow→deny' ? -1 : 1) : b.count - a.count;
}

/** `fc16 write holding 100-102=[1,2,3] read holding 0-9` or `record write api 0 slot 1 … (4 bytes)`. */
export function describeRecorded(r: RecordedRequest): string {
  if (r.kind === 'record') {
    const q = r.request;
    return `record ${q.access} ${recordLabel(q)} (${q.length} bytes${r.valuesHidden ? ', data hashed' : ''})`;
  }
  const q = r.request;
  const parts = [
    `fc${q.fc}${q.subFunction === undefined ? '' : `/${q.subFunction}`}${q.unit !== 1 ? ` unit ${q.unit}` : ''}`,
  ];
  for (const w of q.writes) {
    const span = w.count > 1 ? `${w.start}-${w.start + w.count - 1}` : `${w.start}`;
    const v =
      w.values === null
        ? r.valuesHidden
          ? '(hashed)'
          : '?'
        : w.values.length === 1
          ? String(w.values[0])
          : `[${w.values.slice(0, 6).join(',')}${w.values.length > 6 ? ',…' : ''}]`;
    parts.push(`write ${w.table} ${span}=${v}`);
  }
  for (const rd of q.reads)
    parts.push(`read ${rd.table} ${rd.count > 1 ? `${rd.start}-${rd.start + rd.count - 1}` : rd.start}`);
  return parts.join(' ');
}
