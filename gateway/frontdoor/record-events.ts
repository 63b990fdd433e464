/**
 * The audit events of one PROFINET record service, built in one place (like request-events.ts for Modbus):
 * the write-ahead `record.decision`, the `request.outcome` that follows it, the single after-the-answer
 * decision of a read or a denial, and the decision of a request refused before the pipeline (unknown device)
 * all carry the same who/what/where [IEC 62443-3-3 SR 2.8].
 */
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { decodeWriteMultiple, WRITE_MULTIPLE_INDEX } from '../../protocols/profinet/index.js';
import type { RecordOutcome } from '../errors.js';
import type { AuditEventInput } from '../audit/audit-events.js';
import type { RecordDecisionFields } from '../audit/request-event-fields.js';
import { roundMs, who } from './pipeline-support.js';
import type { Progress, Verdict } from './request-events.js';
import type { Session } from './session.js';

/** How one request ended, before it becomes an event and a result. */
export interface Ending {
  readonly outcome: RecordOutcome;
  /** For the client: the failure in words (the decision's reason when it was refused or succeeded). */
  readonly detail?: string;
  readonly data?: Buffer;
  readonly pnioStatus?: string;
  readonly pnioMeaning?: string;
  /** malformed-answer: the raw bytes (hex), for the audit event only. */
  readonly raw?: string;
  /** The request was sent and no valid answer says how it ended (record-ending.ts). */
  readonly mayHaveExecuted?: true;
}

/** What a record event needs to know about the request; `device` is the routed name, or the name the client gave. */
export interface RecordFacts {
  readonly session: Session;
  readonly device: string;
  readonly request: RecordRequest;
}

/** A routed record request as the pipeline holds it (a RecordPipelineRequest fits): what its events are built from. */
export interface RoutedRecord {
  readonly session: Session;
  readonly device: { readonly config: { readonly name: string } };
  readonly request: RecordRequest;
}

/** The facts of a routed record request, for its events. */
export function recordFacts(req: RoutedRecord): RecordFacts {
  return { session: req.session, device: req.device.config.name, request: req.request };
}

/** `record.decision` of a request the pipeline judged; with outcome 'pending' the write-ahead event. */
export function judgedRecordDecision(
  req: RoutedRecord,
  progress: Progress,
  end: Ending,
  outcome: RecordOutcome | 'pending',
  latencyMs: number,
): AuditEventInput {
  return recordDecisionEvent(recordFacts(req), progress.verdict as Verdict, end, outcome, {
    latencyMs,
    policyVersion: progress.policyVersion,
  });
}

/** `record.decision`, the one builder of it; with outcome 'pending' the write-ahead event of an allowed write. */
export function recordDecisionEvent(
  r: RecordFacts,
  verdict: Verdict,
  end: Ending,
  outcome: RecordOutcome | 'pending',
  timing: { readonly latencyMs: number; readonly policyVersion: string },
): AuditEventInput {
  const req = r.request;
  // Bytes of a request that failed validation are not the record's: only a valid write records its data.
  const data =
    req.access === 'write' && end.outcome !== 'invalid-request' && Buffer.isBuffer(req.data)
      ? { data: req.data.toString('hex') }
      : {};
  return {
    type: 'record.decision',
    ...who(r.session),
    device: r.device,
    ...target(req),
    ...data,
    ...(data.data !== undefined ? innerWrites(req) : {}),
    decision: verdict.effect,
    ruleId: verdict.ruleId,
    reason: verdict.reason,
    outcome,
    ...failure(end),
    latencyMs: roundMs(timing.latencyMs),
    policyVersion: timing.policyVersion,
    ...(verdict.shadow ? { shadow: verdict.shadow } : {}),
  };
}

/** `request.outcome` (record variant) of a write whose decision was written ahead (seq `decisionSeq`). */
export function recordOutcomeEvent(
  r: RecordFacts,
  decisionSeq: number,
  end: Ending,
  latencyMs: number,
): AuditEventInput {
  const { session, identity } = who(r.session);
  const { access, api, slot, subslot, index } = target(r.request);
  return {
    type: 'request.outcome',
    decisionSeq,
    session,
    identity,
    device: r.device,
    access,
    api,
    slot,
    subslot,
    index,
    outcome: end.outcome,
    ...failure(end),
    latencyMs: roundMs(latencyMs),
  };
}

/** The record's address as events carry it (numbers as given; a refused request may carry out-of-range ones). */
function target(r: RecordRequest): {
  access: 'read' | 'write';
  api: number;
  slot: number;
  subslot: number;
  index: number;
  length: number;
} {
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : -1);
  return {
    access: r.access === 'write' ? 'write' : 'read',
    api: num(r.api),
    slot: num(r.slot),
    subslot: num(r.subslot),
    index: num(r.index),
    length: num(r.length),
  };
}

/** The writes a WriteMultiple carries, as the policy judged them (gateway/policy/record-container.ts). */
function innerWrites(req: RecordRequest): { inner?: RecordDecisionFields['inner'] } {
  if (req.index !== WRITE_MULTIPLE_INDEX) return {};
  const d = decodeWriteMultiple(req.data as Buffer);
  if (!d.ok) return {};
  return {
    inner: d.value.map((w) => ({
      api: w.api,
      slot: w.slot,
      subslot: w.subslot,
      index: w.index,
      length: w.data.length,
    })),
  };
}

function failure(end: Ending): { pnioStatus?: string; raw?: string; mayHaveExecuted?: true } {
  return {
    ...(end.pnioStatus ? { pnioStatus: end.pnioStatus } : {}),
    ...(end.raw ? { raw: end.raw } : {}),
    ...(end.mayHaveExecuted ? { mayHaveExecuted: true as const } : {}),
  };
}
