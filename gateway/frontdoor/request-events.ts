/**
 * The audit events of one request, built in one place so the write-ahead decision, the outcome that follows
 * it and the single after-the-answer decision of a read or a denial carry the same who/what/where
 * [IEC 62443-3-3 SR 2.8], and the client's answer for an outcome comes from the one table in errors.ts.
 */
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { exceptionPdu, isExceptionPdu } from '../../protocols/modbus/index.js';
import { ExceptionCode } from '../../protocols/modbus/types.js';
import { Outcomes, exceptionFor, type Outcome } from '../errors.js';
import { reasonText, type GateReasonCode, type PolicyReasonCode } from '../reasons.js';
import type { AuditEventInput } from '../audit/audit-events.js';
import { RequestDecisionEvent } from '../audit/decision-line.js';
import type { GateResult, PolicyVerdict } from '../trust/runtime-gate.js';
import type { UpstreamResult } from '../upstream/types.js';
import type { Session } from './session.js';
import { roundMs as ms, who } from './pipeline-support.js';

type ShadowList = readonly { ruleId: string; effect: 'allow' | 'deny' }[];

/** Refusals the pipelines and front doors make themselves, before or around policy: their outcome is the code. */
export type PipelineRefusal = 'audit-unavailable' | 'invalid-request' | 'no-route' | 'internal-error';

/** Why a verdict is what it is: a policy reason, a runtime gate's reason, or the pipeline's own refusal. */
export type VerdictCode = PolicyReasonCode | GateReasonCode | PipelineRefusal;

/**
 * The gateway's decision on one request (policy, then the runtime gates). `code` is the stable code (metrics,
 * callers); `reason` its audit text (`reasonText(code, detail)`, the public contract of the audit `reason`).
 */
export interface Verdict {
  readonly effect: 'allow' | 'deny';
  readonly outcome: Outcome;
  readonly code: VerdictCode;
  readonly reason: string;
  readonly ruleId: string | null;
  readonly shadow?: ShadowList;
}

/** The policy's decision as a pipeline gets it (a policy Decision fits). */
export type PolicyDecision = PolicyVerdict & {
  readonly code: PolicyReasonCode;
  readonly shadow?: ShadowList;
};

/**
 * Policy first, then — only for an allow — the runtime gates, hard criteria before any score
 * [NIST SP 800-207 3.3.1]. Both pipelines judge through here, so a refusal carries the same code and text.
 */
export function judge(decision: PolicyDecision, gate: () => GateResult): Verdict {
  return verdictOf(decision, decision.effect === 'deny' ? null : gate());
}

/**
 * `judge` with the gates' answer already in hand (`null`: not asked, the policy denied): one literal per
 * request, no spreads; no shadow verdicts is `shadow: undefined`, which every reader treats as absent.
 */
export function verdictOf(decision: PolicyDecision, g: GateResult | null): Verdict {
  const shadow = decision.shadow !== undefined && decision.shadow.length > 0 ? decision.shadow : undefined;
  const ruleId = decision.ruleId;
  if (decision.effect === 'deny')
    return { effect: 'deny', outcome: 'denied', code: decision.code, reason: decision.reason, ruleId, shadow };
  if (g !== null && g.effect === 'deny')
    return { effect: 'deny', outcome: 'denied', code: g.code, reason: reasonText(g.code, g.detail), ruleId, shadow };
  return { effect: 'allow', outcome: 'ok', code: decision.code, reason: decision.reason, ruleId, shadow };
}

/** A refusal of the pipeline's own (the outcome is the code); `reason` its audit text. */
export function refusal(outcome: PipelineRefusal, reason: string, ruleId: string | null = null): Verdict {
  return { effect: 'deny', outcome, code: outcome, reason, ruleId };
}

/** How far one request got (either pipeline): what an internal failure must still record. */
export interface Progress {
  policyVersion: string;
  verdict: Verdict | null;
  /** seq of the write-ahead decision, once it is in the log. */
  decisionSeq: number | null;
}

/**
 * What an event needs to know about the request. A request refused before it was classified (no route,
 * invalid PDU) has its unit and fc and no ranges, and device '' when none was routed.
 */
export interface RequestFacts {
  readonly session: Session;
  readonly device: string;
  readonly classified: Pick<ClassifiedRequest, 'unit' | 'fc' | 'subFunction' | 'reads' | 'writes'>;
  readonly transactionId?: number;
}

/** A routed request as the pipeline holds it (a PipelineRequest fits): what its events are built from. */
export interface RoutedRequest {
  readonly session: Session;
  readonly device: { readonly config: { readonly name: string } };
  readonly classified: ClassifiedRequest;
  readonly transactionId?: number;
}

/** The facts of a routed request, for its events. */
export function requestFacts(req: RoutedRequest): RequestFacts {
  // one literal; no transaction id is `undefined`, omitted from the event like a missing member
  return {
    session: req.session,
    device: req.device.config.name,
    classified: req.classified,
    transactionId: req.transactionId,
  };
}

/**
 * The exception PDU a client gets for an outcome that is not the PLC's own answer [MB-APP 7]. Outcomes
 * without an exception of their own (ok, plc-exception) never get here; should one, 0x04 is the honest answer.
 */
export function answerFor(fc: number, outcome: Outcome): Buffer {
  return exceptionPdu(fc & 0x7f, exceptionFor(outcome) ?? ExceptionCode.ServerDeviceFailure);
}

/**
 * An upstream result as the outcome the client's answer comes from: the PLC's own PDU for a response, else
 * the outcome table's exception (0x0A no path, 0x0B no response) [MB-APP 7].
 */
export function outcomeOf(r: UpstreamResult): Outcome {
  switch (r.kind) {
    case 'response':
      return isExceptionPdu(r.pdu) ? 'plc-exception' : 'ok';
    case 'timeout':
      return r.sent ? 'timeout' : 'timeout-unsent';
    case 'queue-full':
      return 'queue-full';
    case 'aborted':
      return 'aborted';
    case 'unavailable':
      return r.sent ? 'no-answer' : 'upstream-unavailable';
    case 'invalid-response':
      return 'no-answer';
  }
}

/**
 * `request.decision`, the one builder of it (handled requests and those refused before policy alike). With
 * `outcome` 'pending' it is the write-ahead event of a request that may change a device, appended before the
 * request is forwarded; its `request.outcome` follows.
 */
export function decisionEvent(
  r: RequestFacts,
  verdict: Verdict,
  outcome: Outcome | 'pending',
  answer: Buffer | null,
  latencyMs: number,
  policyVersion: string,
): AuditEventInput {
  const c = r.classified;
  const peer = r.session.peer;
  // One shape for every request (audit/decision-line.ts renders it without the generic plan): an absent optional
  // member is `undefined`, which the stored line omits exactly like a missing one (canonical-json.ts).
  return new RequestDecisionEvent({
    session: r.session.id,
    identity: peer.id,
    role: peer.role ? peer.role : undefined,
    device: r.device,
    unit: c.unit,
    fc: c.fc,
    subFunction: c.subFunction,
    transactionId: r.transactionId,
    reads: c.reads,
    writes: c.writes,
    decision: verdict.effect === 'allow' && verdict.reason.startsWith('learn ') ? 'learn' : verdict.effect, // commissioning mode (evidence/learn-mode.ts)
    ruleId: verdict.ruleId,
    reason: verdict.reason,
    outcome: outcome === 'pending' ? 'pending' : Outcomes[outcome].audit,
    exception: outcome === 'plc-exception' && answer ? (answer[1] ?? 0) : undefined,
    latencyMs: ms(latencyMs),
    policyVersion,
    shadow: verdict.shadow,
  });
}

/** `request.outcome`: how a request whose decision was written ahead (seq `decisionSeq`) ended. */
export function outcomeEvent(
  r: RequestFacts,
  decisionSeq: number,
  outcome: Outcome,
  answer: Buffer,
  latencyMs: number,
): AuditEventInput {
  const { session, identity } = who(r.session);
  return {
    type: 'request.outcome',
    decisionSeq,
    session,
    identity,
    device: r.device,
    unit: r.classified.unit,
    fc: r.classified.fc,
    ...(r.transactionId !== undefined ? { transactionId: r.transactionId } : {}),
    outcome: Outcomes[outcome].audit,
    ...(outcome === 'plc-exception' ? { exception: answer[1] ?? 0 } : {}),
    latencyMs: ms(latencyMs),
  };
}
