/**
 * The audit events of one request, built in one place so the write-ahead decision, the outcome that follows
 * it and the single after-the-answer decision of a read or a denial carry the same who/what/where
 * [IEC 62443-3-3 SR 2.8], and the client's answer for an outcome comes from the one table in errors.ts.
 */
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { exceptionPdu } from '../../protocols/modbus/index.js';
import { ExceptionCode } from '../../protocols/modbus/types.js';
import { Outcomes, exceptionFor, type Outcome } from '../errors.js';
import type { AuditEventInput } from '../audit/audit-events.js';
import type { Session } from './session.js';
import { roundMs as ms, who } from './pipeline-support.js';

type ShadowList = readonly { ruleId: string; effect: 'allow' | 'deny' }[];

/** The gateway's decision on one request (policy, then the runtime gates). */
export interface Verdict {
  readonly effect: 'allow' | 'deny';
  readonly outcome: Outcome;
  readonly reason: string;
  readonly ruleId: string | null;
  readonly shadow?: ShadowList;
}

/** How far one request got (either pipeline): what an internal failure must still record. */
export interface Progress {
  policyVersion: string;
  verdict: Verdict | null;
  /** seq of the write-ahead decision, once it is in the log. */
  decisionSeq: number | null;
}

/** What an event needs to know about the request. */
export interface RequestFacts {
  readonly session: Session;
  readonly device: string;
  readonly classified: ClassifiedRequest;
  readonly transactionId?: number;
}

/**
 * The exception PDU a client gets for an outcome that is not the PLC's own answer [MB-APP 7]. Outcomes
 * without an exception of their own (ok, plc-exception) never get here; should one, 0x04 is the honest answer.
 */
export function answerFor(fc: number, outcome: Outcome): Buffer {
  return exceptionPdu(fc & 0x7f, exceptionFor(outcome) ?? ExceptionCode.ServerDeviceFailure);
}

/**
 * `request.decision`. With `outcome` 'pending' it is the write-ahead event of a request that may change a
 * device, appended before the request is forwarded; its `request.outcome` follows.
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
  // One literal, no spreads (this runs for every request): an absent optional member is `undefined`, which the
  // stored line omits exactly like a missing one (canonical-json.ts).
  return {
    type: 'request.decision',
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
  };
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
