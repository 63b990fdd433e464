/**
 * The PROFINET record pipeline's failure paths (record-pipeline.ts): a bug inside `handle()`, and a record
 * request refused before the pipeline (unknown device name in the front door). Each is answered, counted and
 * audited like a handled request, on a path that must not fail in turn. Apart from `handle()`, so the one path
 * every record request takes reads on its own; none of this runs for a request that is handled.
 */
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { nullLogger } from '../logger.js';
import { appendReported, countRecord, errorText, guard, mayAnswer, type FailureDeps } from './pipeline-support.js';
import {
  judgedRecordDecision,
  recordDecisionEvent,
  recordFacts,
  recordOutcomeEvent,
  type Ending,
  type RoutedRecord,
} from './record-events.js';
import { clipName } from './client-text.js';
import { refusal, type Progress } from './request-events.js';
import type { Session } from './session.js';

/**
 * The answer to a record request that failed inside `handle()` (a RecordPipelineResult): `internal-error`, or
 * `audit-unavailable` when its event did not reach the file under fail-closed.
 */
interface InternalErrorResult {
  readonly outcome: 'internal-error' | 'audit-unavailable';
  readonly reason: string;
  readonly ruleId: string | null;
}

/**
 * A bug inside `process()`: answered `internal-error`, logged, counted and audited; never throws itself. Under
 * fail-closed an event that did not reach the file turns the answer into `audit-unavailable`, unless a sent
 * write's decision is already there (write-ahead) — as for a handled request (record-pipeline.ts `finish()`).
 */
export async function recordInternalError(
  deps: FailureDeps,
  req: RoutedRecord,
  started: number,
  progress: Progress,
  err: unknown,
): Promise<InternalErrorResult> {
  const reason = `internal-error: ${errorText(err)}`;
  const ruleId = progress.verdict?.ruleId ?? null;
  // an allowed request that failed later stays an allow in its decision
  progress.verdict = { ...refusal('internal-error', reason, ruleId), effect: progress.verdict?.effect ?? 'deny' };
  const end: Ending = { outcome: 'internal-error' };
  guard(() =>
    (deps.logger ?? nullLogger).error(
      {
        err,
        session: req.session.id,
        identity: req.session.peer.id,
        device: req.device.config.name,
        decisionSeq: progress.decisionSeq,
      },
      'record pipeline failed: answered internal-error',
    ),
  );
  // counted like a handled request
  guard(() =>
    countRecord(
      deps.metrics,
      req.device.config.name,
      String(req.request.access),
      'internal-error',
      deps.now() - started,
    ),
  );
  const latency = deps.now() - started;
  // answered once its event is in the file
  const committed = await appendReported(deps.audit, () =>
    progress.decisionSeq !== null
      ? recordOutcomeEvent(recordFacts(req), progress.decisionSeq, end, latency)
      : judgedRecordDecision(req, progress, end, 'internal-error', latency),
  );
  if (progress.decisionSeq === null && !mayAnswer(deps, committed))
    return { outcome: 'audit-unavailable', reason: 'audit-unavailable', ruleId };
  return { outcome: 'internal-error', reason, ruleId };
}

/**
 * A record request refused before the pipeline (unknown device name in the front door): still a request,
 * audited and counted, so probing device names leaves a trail. `device` is the name the client gave. Its
 * `record.decision` comes from the same builder as a handled request's. Resolves once its event is committed
 * (the refusal is answered after that): true when the refusal may be answered, false when its event is not in
 * the file under fail-closed (the client gets `audit-unavailable`) [IEC 62443-3-3 SR 2.10]. Never rejects.
 */
export function recordRefused(
  deps: FailureDeps,
  session: Session,
  device: string,
  request: RecordRequest,
  reason: string,
): Promise<boolean> {
  guard(() => {
    session.noteRequest(null, false, true, deps.now());
    deps.metrics.recordRequests.inc({
      outcome: 'invalid-request',
      device: '',
      access: request.access === 'write' ? 'write' : 'read',
    });
  });
  return appendReported(deps.audit, () =>
    recordDecisionEvent(
      { session, device: clipName(device), request },
      refusal('invalid-request', reason),
      { outcome: 'invalid-request' },
      'invalid-request',
      { latencyMs: 0, policyVersion: deps.policy().version },
    ),
  ).then((committed) => mayAnswer(deps, committed));
}
