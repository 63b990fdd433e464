/**
 * The one path every request takes after its front door decoded it [docs/architecture.md "Request path" 6–12]:
 * route → policy (pure) → runtime gates (locks, JIT, rate, trust) → audit → upstream → response check → audit.
 * Both front doors call `handle()`; only how the request arrived and how the answer leaves differ.
 * Everything here returns values: a hostile or failing request never throws, and `handle()` never rejects.
 *
 * Fail-closed is write-ahead [IEC 62443-3-3 SR 2.10]: an allowed request that may change a device
 * (`isMutating`) has its `request.decision` appended and committed (the log's group commit writes the events
 * of one turn together, under its fsync policy) BEFORE it is forwarded; if that fails, the request is refused
 * (audit-unavailable) and nothing reaches the PLC. Its `request.outcome` (naming the decision's seq) follows
 * the answer. So no write the PLC executed lacks its event, even when the disk fills at that very moment.
 * Reads and denials are one `request.decision` after the answer, and the answer is released only once that
 * event is committed: a read whose event did not reach the file is answered audit-unavailable, not with data.
 */
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { isMutating } from '../../protocols/modbus/index.js';
import type { Outcome } from '../errors.js';
import type { RuntimeGate } from '../trust/runtime-gate.js';
import type { LearnJudge } from '../evidence/learn-mode.js';
import type { UpstreamRequest, UpstreamResult } from '../upstream/types.js';
import type { DeviceConfig } from '../config/gateway-config.js';
import {
  answerFor,
  decisionEvent,
  outcomeEvent,
  outcomeOf,
  refusal,
  requestFacts,
  verdictOf,
  type PolicyDecision,
  type Progress,
  type Verdict,
} from './request-events.js';
import {
  appendWriteAhead,
  mayAnswer,
  stillAllowedFor,
  whenCommitted,
  type PipelineDepsBase,
} from './pipeline-support.js';
import {
  requestFailed,
  requestInternalError,
  requestRefused,
  type FailureResult,
  type RefusedFrame,
} from './request-refusals.js';
import { reportShadow, type ShadowMatch } from './shadow-reports.js';
import type { Session } from './session.js';

/** The enforced policy as the pipeline sees it; swapped as one reference on reload. */
export interface PolicyEngine {
  readonly version: string;
  evaluate(
    peer: { id: string; role: string | null },
    device: string,
    req: ClassifiedRequest,
    now: Date,
  ): PolicyDecision;
}

export interface Upstream {
  submit(req: UpstreamRequest): Promise<UpstreamResult>;
}

export interface PipelineDeps extends PipelineDepsBase<PolicyEngine, RuntimeGate, ShadowMatch> {
  /** Commissioning mode (gateway/evidence/learn-mode.ts), when a device has `learn:` in gateway.yaml. */
  readonly learn?: LearnJudge;
}

export interface PipelineRequest {
  readonly session: Session;
  readonly device: { readonly config: DeviceConfig; readonly pool: Upstream };
  /** Classified with the unit id that is forwarded (so policy judges what reaches the PLC). */
  readonly classified: ClassifiedRequest;
  /** Request PDU as received (function code first); forwarded unchanged. */
  readonly pdu: Buffer;
  readonly transactionId?: number;
}

export interface PipelineResult {
  readonly outcome: Outcome;
  /** Response PDU for the client: the PLC's answer, or an exception built here. */
  readonly pdu: Buffer;
  /** The verdict's code (policy, runtime gate, or the pipeline's own refusal) and its audit text. */
  readonly code: Verdict['code'];
  readonly reason: string;
  readonly ruleId: string | null;
}

export class RequestPipeline {
  /** The dispatch re-check handed to the upstream, one closure per session and device (not one per request). */
  private readonly dispatchGates = new WeakMap<Session, Map<string, () => boolean>>();
  /** Policy judges time windows by a Date: one per millisecond, shared by the requests of that millisecond. */
  private lastNow = Number.NaN;
  private lastDate = new Date(0);

  constructor(private readonly deps: PipelineDeps) {}

  /**
   * One async frame per request, awaiting only what must be waited for (the write-ahead commit of a write, the
   * upstream, the commit of the closing event): each further async layer cost a promise, a frame and an await's
   * closures per request.
   */
  async handle(req: PipelineRequest): Promise<PipelineResult> {
    const started = this.deps.now();
    const progress: Progress = { policyVersion: '', verdict: null, decisionSeq: null };
    try {
      const fc = req.classified.fc;
      const policy = this.deps.policy();
      progress.policyVersion = policy.version;
      const verdict = (progress.verdict = this.authorize(req, policy, started));
      let outcome: Outcome = verdict.outcome;
      let pdu: Buffer;
      if (verdict.effect === 'deny') {
        pdu = answerFor(fc, outcome);
      } else {
        const mutating = isMutating(req.classified);
        if (mutating && !(await this.writeAhead(req, progress, started))) {
          // Not (durably) in the log, so not forwarded. The refusal is appended like any request refused while the
          // audit fails: written if the log recovered in between, else counted as lost (audit.gap).
          progress.verdict = refusal('audit-unavailable', 'audit-unavailable', verdict.ruleId);
          outcome = 'audit-unavailable';
          pdu = answerFor(fc, outcome);
        } else {
          // A lock or kill while the write-ahead event was being committed: the pool sees the session's signal, and
          // `stillAllowed` is asked again right before the request goes onto the PLC socket.
          const upstream = await this.submit(req, mutating);
          outcome = outcomeOf(upstream);
          pdu = upstream.kind === 'response' ? upstream.pdu : answerFor(fc, outcome);
        }
      }
      const committed = await this.finish(req, progress, outcome, pdu, started);
      return this.answer(req, progress, outcome, pdu, committed);
    } catch (err) {
      return requestInternalError(this.deps, req, started, progress, err);
    }
  }

  private submit(req: PipelineRequest, mutating: boolean): Promise<UpstreamResult> {
    const { session, device, classified } = req;
    return device.pool.submit({
      clientKey: session.peer.id,
      unitId: classified.unit,
      pdu: req.pdu,
      isWrite: mutating,
      // A killed, locked or expired session takes its still-queued requests (writes included) with it.
      signal: session.signal,
      stillAllowed: this.dispatchGate(session, device.config.name),
    });
  }

  private dispatchGate(session: Session, device: string): (() => boolean) | undefined {
    const check = this.deps.dispatchCheck;
    if (check === undefined) return undefined;
    let bySession = this.dispatchGates.get(session);
    if (bySession === undefined) this.dispatchGates.set(session, (bySession = new Map<string, () => boolean>()));
    let gate = bySession.get(device);
    if (gate === undefined) bySession.set(device, (gate = stillAllowedFor(session, device, check)));
    return gate;
  }

  private dateOf(now: number): Date {
    if (now !== this.lastNow) {
      this.lastNow = now;
      this.lastDate = new Date(now);
    }
    return this.lastDate;
  }

  private authorize(req: PipelineRequest, policy: PolicyEngine, now: number): Verdict {
    const { session, device, classified } = req;
    // IEC 62443-3-3 SR 2.10: with fail-closed auditing, nothing is allowed that cannot be recorded.
    if (!this.deps.audit.healthy()) return refusal('audit-unavailable', 'audit-unavailable');
    const peer = session.peer; // read for its id and role
    const name = device.config.name;
    const enforced = policy.evaluate(peer, name, classified, this.dateOf(now));
    // commissioning mode may turn a learnable deny of a listed identity into an allow (`learn …`); the gates below still apply
    const decision = this.deps.learn ? this.deps.learn.judge(peer, name, classified, enforced, now) : enforced;
    reportShadow(this.deps, req, decision);
    // policy first, then — only for an allow — the runtime gates (request-events.ts judge)
    return verdictOf(
      decision,
      decision.effect === 'deny' ? null : this.deps.gate.check(session, name, classified, decision, now),
    );
  }

  /** Appends and commits the write-ahead decision; false when the request must not be forwarded. */
  private writeAhead(req: PipelineRequest, progress: Progress, started: number): Promise<boolean> {
    const verdict = progress.verdict as Verdict;
    const latency = this.deps.now() - started;
    return appendWriteAhead(
      this.deps,
      progress,
      decisionEvent(requestFacts(req), verdict, 'pending', null, latency, progress.policyVersion),
      { session: req.session.id, identity: req.session.peer.id, device: req.device.config.name, fc: req.classified.fc },
    );
  }

  /**
   * Notes, counts and audits the end of a request: a `request.outcome` after a write-ahead decision, else one
   * `request.decision`. Resolves once that event is committed (true: in the file).
   */
  private finish(
    req: PipelineRequest,
    progress: Progress,
    outcome: Outcome,
    pdu: Buffer,
    started: number,
  ): Promise<boolean> {
    const { session, device, classified } = req;
    const verdict = progress.verdict as Verdict;
    const now = this.deps.now();
    const denied = outcome === 'denied';
    session.noteRequest(device.config.name, isMutating(classified), denied, now);
    this.deps.gate.observe(session, device.config.name, classified, denied, now);
    this.count(device.config.name, classified.fc, outcome, now - started);
    if (denied) this.deps.metrics.countDenial(verdict.code);
    const written =
      progress.decisionSeq !== null
        ? this.deps.audit.append(outcomeEvent(requestFacts(req), progress.decisionSeq, outcome, pdu, now - started))
        : this.deps.audit.append(
            decisionEvent(requestFacts(req), verdict, outcome, pdu, now - started, progress.policyVersion),
          );
    return whenCommitted(this.deps.audit, written);
  }

  /**
   * The client's answer once the closing event's commit is known. Data whose event is not in the file is not
   * released [IEC 62443-3-3 SR 2.10]. A forwarded write was executed and its decision is in the file
   * (write-ahead): the PLC's answer stands. `continue` keeps serving.
   */
  private answer(
    req: PipelineRequest,
    progress: Progress,
    outcome: Outcome,
    pdu: Buffer,
    committed: boolean,
  ): PipelineResult {
    const verdict = progress.verdict as Verdict;
    // Any answer, a denial's too, waits for its event; only a forwarded write's stands (its decision is in the file).
    if (!mayAnswer(this.deps, committed) && progress.decisionSeq === null && outcome !== 'audit-unavailable') {
      return {
        outcome: 'audit-unavailable',
        pdu: answerFor(req.classified.fc, 'audit-unavailable'),
        code: 'audit-unavailable',
        reason: 'audit-unavailable',
        ruleId: verdict.ruleId,
      };
    }
    return { outcome, pdu, code: verdict.code, reason: verdict.reason, ruleId: verdict.ruleId };
  }

  /**
   * A failure outside `handle()` (decode, classify, route in a front door): answered, logged, counted and
   * audited like one inside (request-refusals.ts). Resolves with the client's answer (0x04, or 0x06 when its
   * event is not in the file under fail-closed); never rejects.
   */
  failed(session: Session, frame: RefusedFrame, err: unknown): Promise<FailureResult> {
    return requestFailed(this.deps, session, frame, err);
  }

  /**
   * A request refused before policy (no route, invalid PDU): audited and counted (request-refusals.ts).
   * Resolves with what the client is answered once the event's commit is known: `answer`, or 0x06 when the
   * event is not in the file under fail-closed.
   */
  refused(
    session: Session,
    frame: RefusedFrame,
    outcome: 'no-route' | 'invalid-request',
    reason: string,
    answer: Buffer,
  ): Promise<Buffer> {
    return requestRefused(this.deps, session, frame, outcome, reason, answer);
  }

  private count(device: string, fc: number, outcome: Outcome, latencyMs: number): void {
    this.deps.metrics.countRequest(device, fc, outcome, latencyMs / 1000);
  }
}
