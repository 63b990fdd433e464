/**
 * The Modbus request pipeline's failure paths (request-pipeline.ts): a bug inside `handle()`, a failure outside
 * it in a front door, a request refused before policy. Each is answered, logged, counted and audited like a
 * handled request, on a path that must not fail in turn. Apart from `handle()`, so the one path every request
 * takes reads on its own; none of this runs for a request that is handled.
 */
import { nullLogger } from '../logger.js';
import {
  answerFor,
  decisionEvent,
  outcomeEvent,
  refusal,
  requestFacts,
  type Progress,
  type RequestFacts,
  type RoutedRequest,
  type Verdict,
} from './request-events.js';
import { appendReported, errorText, guard, mayAnswer, whenCommitted, type FailureDeps } from './pipeline-support.js';
import type { Session } from './session.js';

/** Where a request refused before policy came from (the frame as the front door read it). */
export interface RefusedFrame {
  readonly unit: number;
  readonly fc: number;
  readonly transactionId?: number;
}

/**
 * The answer to a request that failed inside or around `handle()` (a PipelineResult): `internal-error` (0x04),
 * or `audit-unavailable` (0x06) when its event did not reach the file under fail-closed.
 */
export interface FailureResult {
  readonly outcome: 'internal-error' | 'audit-unavailable';
  readonly pdu: Buffer;
  readonly code: 'internal-error' | 'audit-unavailable';
  readonly reason: string;
  readonly ruleId: string | null;
}

/** An internal failure answered as such once its event is in the file; else, fail-closed, audit-unavailable. */
function failureResult(answerable: boolean, fc: number, reason: string, ruleId: string | null): FailureResult {
  return answerable
    ? { outcome: 'internal-error', pdu: answerFor(fc, 'internal-error'), code: 'internal-error', reason, ruleId }
    : {
        outcome: 'audit-unavailable',
        pdu: answerFor(fc, 'audit-unavailable'),
        code: 'audit-unavailable',
        reason: 'audit-unavailable',
        ruleId,
      };
}

/**
 * An exception thrown anywhere in `handle()` (a bug): the client gets 0x04 through the outcome table, and
 * the failure is logged with the error, counted and audited instead of vanishing. Never throws itself. Under
 * fail-closed an event that did not reach the file turns the answer into 0x06, unless a forwarded write's
 * decision is already there (write-ahead) — as for a handled request (request-pipeline.ts `answer()`).
 */
export async function requestInternalError(
  deps: FailureDeps,
  req: RoutedRequest,
  started: number,
  progress: Progress,
  err: unknown,
): Promise<FailureResult> {
  const fc = req.classified.fc;
  const pdu = answerFor(fc, 'internal-error');
  const reason = `internal-error: ${errorText(err)}`;
  const verdict: Verdict = {
    ...refusal('internal-error', reason, progress.verdict?.ruleId ?? null),
    // an allowed request that failed later stays an allow in its decision
    effect: progress.verdict?.effect ?? 'deny',
  };
  guard(() =>
    (deps.logger ?? nullLogger).error(
      {
        err,
        session: req.session.id,
        identity: req.session.peer.id,
        device: req.device.config.name,
        fc,
        decisionSeq: progress.decisionSeq,
      },
      'request pipeline failed: answered 0x04',
    ),
  );
  guard(() => deps.metrics.countRequest(req.device.config.name, fc, 'internal-error', (deps.now() - started) / 1000));
  const latency = deps.now() - started;
  // answered once its event is in the file, like every other answer
  const committed = await appendReported(deps.audit, () =>
    progress.decisionSeq !== null
      ? outcomeEvent(requestFacts(req), progress.decisionSeq, 'internal-error', pdu, latency)
      : decisionEvent(requestFacts(req), verdict, 'internal-error', pdu, latency, progress.policyVersion),
  );
  return failureResult(progress.decisionSeq !== null || mayAnswer(deps, committed), fc, reason, verdict.ruleId);
}

/**
 * A failure outside `handle()` (decode, classify, route in a front door): answered, logged, counted and
 * audited like one inside. Resolves with the client's answer once its event is committed (audit-unavailable when
 * it is not in the file, under fail-closed); never rejects.
 */
export async function requestFailed(
  deps: FailureDeps,
  session: Session,
  frame: RefusedFrame,
  err: unknown,
): Promise<FailureResult> {
  const reason = `internal-error: ${errorText(err)}`;
  guard(() =>
    (deps.logger ?? nullLogger).error(
      { err, session: session.id, identity: session.peer.id, unit: frame.unit, fc: frame.fc },
      'request handling failed: answered 0x04',
    ),
  );
  let answerable: Promise<boolean> = Promise.resolve(mayAnswer(deps, false));
  guard(() => {
    answerable = refusalRecorded(deps, session, frame, 'internal-error', reason);
  });
  return failureResult(await answerable, frame.fc, reason, null);
}

/**
 * A request refused before policy (no device for its unit id, or a structurally invalid PDU) is still a
 * request: audited and counted, so probing unit ids or fuzzing leaves a trail. Its `request.decision` comes
 * from the same builder as a handled request's (device '', no ranges). Resolves, once its event is committed,
 * with the client's answer: `answer`, or the audit-unavailable exception (0x06) when the event is not in the
 * file under fail-closed [IEC 62443-3-3 SR 2.10]. Never rejects.
 */
export function requestRefused(
  deps: FailureDeps,
  session: Session,
  frame: RefusedFrame,
  outcome: 'no-route' | 'invalid-request',
  reason: string,
  answer: Buffer,
): Promise<Buffer> {
  return refusalRecorded(deps, session, frame, outcome, reason).then((answerable) =>
    answerable ? answer : answerFor(frame.fc, 'audit-unavailable'),
  );
}

/** Notes, counts and audits a refusal; resolves once its event is committed: true when it may be answered. */
function refusalRecorded(
  deps: FailureDeps,
  session: Session,
  frame: RefusedFrame,
  outcome: 'no-route' | 'invalid-request' | 'internal-error',
  reason: string,
): Promise<boolean> {
  session.noteRequest(null, false, true, deps.now());
  deps.metrics.countRequest('', frame.fc, outcome, null);
  const facts: RequestFacts = {
    session,
    device: '',
    classified: { unit: frame.unit, fc: frame.fc, reads: [], writes: [] },
    ...(frame.transactionId !== undefined ? { transactionId: frame.transactionId } : {}),
  };
  const verdict = refusal(outcome, reason);
  const written = deps.audit.append(decisionEvent(facts, verdict, outcome, null, 0, deps.policy().version));
  return whenCommitted(deps.audit, written).then((committed) => mayAnswer(deps, committed));
}
