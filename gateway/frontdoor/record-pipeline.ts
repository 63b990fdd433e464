/**
 * The path of one PROFINET record service (read or write one record by API, slot, subslot, index) after the
 * gRPC `Profinet` service decoded it, mirroring the Modbus request pipeline (request-pipeline.ts):
 * validate → policy `evaluateRecord` (pure) → runtime gates `checkRecord` (locks, read-only downgrade, rate,
 * JIT) → audit → the device's ProfinetClient → outcome → audit. `handle()` never rejects; every outcome is
 * a value (RecordOutcome, one list in gateway/errors.ts).
 *
 * Fail-closed is write-ahead [IEC 62443-3-3 SR 2.10]: an allowed write has its `record.decision` (outcome
 * `pending`) appended BEFORE it is queued, in the same turn as the submit; if that append fails the write is
 * refused (`audit-unavailable`) and nothing reaches the device. Its `request.outcome` (naming the decision's
 * seq) follows the answer. Reads and denials are one `record.decision` after the answer. A write is sent at
 * most once (the client never resends one): no answer is `write-lost`, "may have been executed"
 * (record-ending.ts says which endings leave the request's fate unknown).
 */
import { validateRecordRequest, type RecordRequest } from '../../protocols/profinet/record-request.js';
import type { RecordOutcome } from '../errors.js';
import type { Decision, PeerRef } from '../policy/compiled-policy.js';
import type { RecordGate } from '../trust/runtime-gate.js';
import type { ProfinetTarget } from './device-router.js';
import {
  appendWriteAhead,
  countRecord,
  mayAnswer,
  stillAllowedFor,
  whenCommitted,
  type PipelineDepsBase,
} from './pipeline-support.js';
import { judgedRecordDecision, recordFacts, recordOutcomeEvent, type Ending } from './record-events.js';
import { recordEnding } from './record-ending.js';
import { recordInternalError, recordRefused } from './record-refusals.js';
import { judge, refusal, type Progress, type Verdict } from './request-events.js';
import { reportRecordShadow, type RecordShadowMatch } from './shadow-reports.js';
import type { Session } from './session.js';

export type { RecordOutcome };

export interface RecordPipelineRequest {
  readonly session: Session;
  readonly device: ProfinetTarget;
  readonly request: RecordRequest;
}

export interface RecordPipelineResult {
  readonly outcome: RecordOutcome;
  /** The verdict's code (policy, runtime gate or the pipeline's own refusal); absent outside the pipeline. */
  readonly code?: Verdict['code'];
  readonly reason: string;
  readonly ruleId: string | null;
  /** ok read: the record bytes. */
  readonly data?: Buffer;
  /** 8 hex chars, e.g. 'de80b00a', when the device answered an error. */
  readonly pnioStatus?: string;
  /** decoded name, e.g. 'invalid-index'. */
  readonly pnioMeaning?: string;
}

/** The enforced policy as the record pipeline sees it (PolicyHolder.engine fits); swapped as one reference. */
export interface RecordPolicyEngine {
  readonly version: string;
  evaluateRecord(peer: PeerRef, device: string, req: RecordRequest, now: Date): Decision;
}

export type RecordPipelineDeps = PipelineDepsBase<RecordPolicyEngine, RecordGate, RecordShadowMatch>;

export class RecordPipeline {
  constructor(private readonly deps: RecordPipelineDeps) {}

  async handle(req: RecordPipelineRequest): Promise<RecordPipelineResult> {
    const started = this.deps.now();
    const progress: Progress = { policyVersion: '', verdict: null, decisionSeq: null };
    try {
      return await this.process(req, started, progress);
    } catch (err) {
      return recordInternalError(this.deps, req, started, progress, err);
    }
  }

  private async process(
    req: RecordPipelineRequest,
    started: number,
    progress: Progress,
  ): Promise<RecordPipelineResult> {
    const { session, device, request } = req;
    const policy = this.deps.policy();
    progress.policyVersion = policy.version;
    const valid = validateRecordRequest(request);
    if (!valid.ok) {
      // Bad arguments never reach policy or the device; still a request, so audited and counted.
      progress.verdict = refusal('invalid-request', `invalid-request ${valid.detail}`);
      return this.finish(req, progress, { outcome: 'invalid-request' }, started);
    }
    const verdict = (progress.verdict = this.authorize(req, policy, started));
    if (verdict.effect === 'deny')
      return this.finish(
        req,
        progress,
        { outcome: verdict.outcome === 'audit-unavailable' ? 'audit-unavailable' : 'denied' },
        started,
      );
    const write = request.access === 'write';
    if (write && !(await this.writeAhead(req, progress, started))) {
      progress.verdict = refusal('audit-unavailable', 'audit-unavailable', verdict.ruleId);
      return this.finish(req, progress, { outcome: 'audit-unavailable' }, started);
    }
    // A lock or kill while the write-ahead event was committed: the client sees the session's signal, and
    // `stillAllowed` is asked again right before the request is sent.
    const base = {
      clientKey: session.peer.id,
      signal: session.signal,
      ...(this.deps.dispatchCheck
        ? { stillAllowed: stillAllowedFor(session, device.config.name, this.deps.dispatchCheck) }
        : {}),
      api: request.api,
      slot: request.slot,
      subslot: request.subslot,
      index: request.index,
    };
    const upstream = write
      ? await device.client.writeRecord({ ...base, data: request.data as Buffer })
      : await device.client.readRecord({ ...base, maxLength: request.length });
    return this.finish(req, progress, recordEnding(upstream, write), started);
  }

  private authorize(req: RecordPipelineRequest, policy: RecordPolicyEngine, now: number): Verdict {
    const { session, device, request } = req;
    // IEC 62443-3-3 SR 2.10: with fail-closed auditing, nothing is allowed that cannot be recorded.
    if (!this.deps.audit.healthy()) return refusal('audit-unavailable', 'audit-unavailable');
    const decision = policy.evaluateRecord(
      { id: session.peer.id, role: session.peer.role },
      device.config.name,
      request,
      new Date(now),
    );
    reportRecordShadow(this.deps, req, decision);
    return judge(decision, () => this.deps.gate.checkRecord(session, device.config.name, request, decision, now));
  }

  private writeAhead(req: RecordPipelineRequest, progress: Progress, started: number): Promise<boolean> {
    const event = judgedRecordDecision(req, progress, { outcome: 'ok' }, 'pending', this.deps.now() - started);
    return appendWriteAhead(this.deps, progress, event, {
      session: req.session.id,
      identity: req.session.peer.id,
      device: req.device.config.name,
      index: req.request.index,
    });
  }

  /**
   * Notes, counts and audits the end: a `request.outcome` after a write-ahead decision, else one
   * `record.decision`; resolves once that event is committed (a read's data is released only then).
   */
  private async finish(
    req: RecordPipelineRequest,
    progress: Progress,
    end: Ending,
    started: number,
  ): Promise<RecordPipelineResult> {
    const { session, device, request } = req;
    const verdict = progress.verdict as Verdict;
    const now = this.deps.now();
    const denied = end.outcome === 'denied';
    const write = request.access === 'write';
    session.noteRequest(device.config.name, write, denied || end.outcome === 'invalid-request', now);
    this.deps.gate.observeRecord(session, device.config.name, request, denied, now);
    countRecord(this.deps.metrics, device.config.name, request.access, end.outcome, now - started);
    if (denied) this.deps.metrics.countDenial(verdict.code);
    const latency = now - started;
    const written = this.deps.audit.append(
      progress.decisionSeq !== null
        ? recordOutcomeEvent(recordFacts(req), progress.decisionSeq, end, latency)
        : judgedRecordDecision(req, progress, end, end.outcome, latency),
    );
    const committed = await whenCommitted(this.deps.audit, written);
    if (!mayAnswer(this.deps, committed) && progress.decisionSeq === null && end.outcome !== 'audit-unavailable') {
      // No answer, data or not, leaves before its event is in the file [IEC 62443-3-3 SR 2.10]; a forwarded
      // write's stands (its write-ahead decision is in the file).
      return { outcome: 'audit-unavailable', reason: 'audit-unavailable', ruleId: verdict.ruleId };
    }
    return {
      outcome: end.outcome,
      code: verdict.code,
      reason: end.detail ?? verdict.reason,
      ruleId: verdict.ruleId,
      ...(end.data ? { data: end.data } : {}),
      ...(end.pnioStatus ? { pnioStatus: end.pnioStatus } : {}),
      ...(end.pnioMeaning ? { pnioMeaning: end.pnioMeaning } : {}),
    };
  }

  /**
   * A record request refused before the pipeline (unknown device name in the front door): audited and counted
   * (record-refusals.ts). Resolves once its event is committed: false when it is not in the file under
   * fail-closed (answer `audit-unavailable`); never rejects.
   */
  refused(session: Session, device: string, request: RecordRequest, reason: string): Promise<boolean> {
    return recordRefused(this.deps, session, device, request, reason);
  }
}
