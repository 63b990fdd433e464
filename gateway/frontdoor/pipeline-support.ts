/**
 * What the Modbus request pipeline and the PROFINET record pipeline share: the write-ahead append
 * [IEC 62443-3-3 SR 2.10], the dispatch re-check handed to the upstream, who an event names, and the
 * never-throwing reporting of internal failures. One copy, so both data paths keep the same guarantees.
 */
import type { AppendResult, AuditEventInput, AuditSink } from '../audit/audit-events.js';
import { NOT_COMMITTED } from '../audit/audit-batch.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { Session } from './session.js';

/**
 * The audit log as both pipelines use it. `committed(seq)`: the log writes the events of one event-loop turn
 * together (group commit, group-commit.ts); this resolves true once event `seq` is in the file, false if it did
 * not get there. Call it in the same turn as the append.
 */
export interface PipelineAudit extends AuditSink {
  healthy(): boolean;
  committed(seq: number | null): Promise<boolean>;
}

/**
 * What both pipelines are built from: `Policy` the enforced policy (swapped as one reference on reload), `Gate`
 * the runtime gates (locks, JIT, rate, trust), `Shadow` what a shadow rule's match reports.
 */
export interface PipelineDepsBase<Policy, Gate, Shadow> {
  readonly policy: () => Policy;
  readonly gate: Gate;
  readonly audit: PipelineAudit;
  readonly metrics: GatewayMetrics;
  readonly now: () => number;
  /**
   * Asked right before a queued request goes onto the device's wire (same turn as the write): false drops it
   * unsent (`aborted`). main.ts checks locks here, so a device lock created while writes wait stops them too.
   */
  readonly dispatchCheck?: (session: Session, device: string) => boolean;
  /** audit.failurePolicy `continue`: a write whose write-ahead event failed is still forwarded (alarm raised). */
  readonly auditContinueOnFailure?: boolean;
  readonly logger?: Logger;
  readonly onShadow?: (e: Shadow) => void;
}

/** What the failure paths of both pipelines use of their deps (request-refusals.ts, record-refusals.ts). */
export type FailureDeps = Pick<
  PipelineDepsBase<{ readonly version: string }, unknown, never>,
  'policy' | 'audit' | 'metrics' | 'now' | 'logger' | 'auditContinueOnFailure'
>;

/**
 * Whether an answer may leave once its event's commit is known: no answer leaves before its event is in the
 * file [IEC 62443-3-3 SR 2.10], unless audit failurePolicy `continue` keeps serving. False: the client is
 * answered `audit-unavailable` instead.
 */
export function mayAnswer(deps: Pick<FailureDeps, 'auditContinueOnFailure'>, committed: boolean): boolean {
  return committed || deps.auditContinueOnFailure === true;
}

/** Resolves once the appended event is committed: true when it is in the file (or was only summarized). */
export function whenCommitted(audit: PipelineAudit, r: AppendResult): Promise<boolean> {
  return r.ok ? audit.committed(r.seq) : NOT_COMMITTED;
}

/**
 * Appends the event `build` makes, on a reporting path that must not fail in turn (internal failures,
 * refusals): a throw while building or appending is swallowed. Resolves once the event is committed (false
 * when it is not in the file), so the answer can follow it.
 */
export function appendReported(audit: PipelineAudit, build: () => AuditEventInput): Promise<boolean> {
  let committed: Promise<boolean> = NOT_COMMITTED;
  guard(() => {
    committed = whenCommitted(audit, audit.append(build()));
  });
  return committed;
}

/** Who an event names [IEC 62443-3-3 SR 2.8]: session, SPIFFE ID, and the role when the SVID carries one. */
export function who(session: Session): { session: string; identity: string; role?: string } {
  return { session: session.id, identity: session.peer.id, ...(session.peer.role ? { role: session.peer.role } : {}) };
}

/** Latency as recorded: milliseconds with microsecond resolution. */
export const roundMs = (latencyMs: number): number => Math.round(latencyMs * 1000) / 1000;

export function errorText(err: unknown): string {
  return errorMessage(err).slice(0, 200);
}

/** Reporting an internal failure must not fail in turn. */
export function guard(fn: () => void): void {
  try {
    fn();
  } catch {
    /* the answer still goes out; nothing more can be done here */
  }
}

/**
 * Appends the write-ahead decision of a request that may change a device and waits until it is in the file
 * (its turn's group commit), BEFORE the request is handed to the upstream. Resolves false when the event is not
 * (durably) in the log, so the request must not be sent; with audit failurePolicy `continue` it is forwarded
 * anyway (true: the log raised its alarm). `progress.decisionSeq` becomes the decision's seq, for the
 * `request.outcome` that follows, or stays null when there is none. `context` names the request in the warning.
 */
export async function appendWriteAhead(
  deps: Pick<PipelineDepsBase<unknown, unknown, never>, 'audit' | 'auditContinueOnFailure' | 'logger'>,
  progress: { decisionSeq: number | null },
  event: AuditEventInput,
  context: object,
): Promise<boolean> {
  const r = deps.audit.append(event);
  if (r.ok && (await deps.audit.committed(r.seq))) {
    progress.decisionSeq = r.seq;
    return true;
  }
  const forward = deps.auditContinueOnFailure === true;
  (deps.logger ?? nullLogger).warn(
    { ...context, error: r.ok ? 'not committed: the batch write failed' : r.error },
    forward
      ? 'write-ahead audit event failed; forwarded anyway (audit failurePolicy continue)'
      : 'write-ahead audit event failed; write refused',
  );
  return forward;
}

/**
 * Asked by the upstream right before the request goes onto the wire (same turn as the send): the session is
 * still open and `check` (main.ts: no lock on identity, role or device) still agrees. A lock created while
 * writes wait in a device queue stops them unsent.
 */
export function stillAllowedFor(
  session: Session,
  device: string,
  check: ((session: Session, device: string) => boolean) | undefined,
): () => boolean {
  return () => session.isOpen && (check === undefined || check(session, device));
}

/** One record request counted (outcome, device, access) and its latency observed: handled or failed alike. */
export function countRecord(
  metrics: Pick<GatewayMetrics, 'recordRequests' | 'latency'>,
  device: string,
  access: string,
  outcome: string,
  latencyMs: number,
): void {
  metrics.recordRequests.inc({ outcome, device, access });
  metrics.latency.observe({ device }, latencyMs / 1000);
}
