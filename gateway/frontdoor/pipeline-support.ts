/**
 * What the Modbus request pipeline and the PROFINET record pipeline share: the write-ahead append
 * [IEC 62443-3-3 SR 2.10], the dispatch re-check handed to the upstream, who an event names, and the
 * never-throwing reporting of internal failures. One copy, so both data paths keep the same guarantees.
 */
import type { AppendResult, AuditEventInput } from '../audit/audit-events.js';
import type { Session } from './session.js';

/** pino's Logger fits. */
export interface PipelineLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export const silentLogger: PipelineLogger = { error() {}, warn() {} };

/** Who an event names [IEC 62443-3-3 SR 2.8]: session, SPIFFE ID, and the role when the SVID carries one. */
export function who(session: Session): { session: string; identity: string; role?: string } {
  return { session: session.id, identity: session.peer.id, ...(session.peer.role ? { role: session.peer.role } : {}) };
}

/** Latency as recorded: milliseconds with microsecond resolution. */
export const roundMs = (latencyMs: number): number => Math.round(latencyMs * 1000) / 1000;

export function errorText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).slice(0, 200);
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
 * Appends the write-ahead decision of a request that may change a device, BEFORE it is handed to the
 * upstream. `forward` false: the event is not (durably) in the log, so the request must not be sent; with
 * audit failurePolicy `continue` it is forwarded anyway (the log raised its alarm). `seq`: the decision's seq
 * for the `request.outcome` that follows, or null when there is none.
 */
export function appendWriteAhead(
  audit: { append(e: AuditEventInput): AppendResult },
  event: AuditEventInput,
  opts: { readonly continueOnFailure: boolean; readonly logger: PipelineLogger; readonly context: object },
): { readonly forward: boolean; readonly seq: number | null } {
  const r = audit.append(event);
  if (r.ok) return { forward: true, seq: r.seq };
  opts.logger.warn({ ...opts.context, error: r.error },
    opts.continueOnFailure ? 'write-ahead audit event failed; forwarded anyway (audit failurePolicy continue)' : 'write-ahead audit event failed; write refused');
  return { forward: opts.continueOnFailure, seq: null };
}

/**
 * Asked by the upstream right before the request goes onto the wire (same turn as the send): the session is
 * still open and `check` (main.ts: no lock on identity, role or device) still agrees. A lock created while
 * writes wait in a device queue stops them unsent.
 */
export function stillAllowedFor(session: Session, device: string, check: ((session: Session, device: string) => boolean) | undefined): () => boolean {
  return () => session.isOpen && (check === undefined || check(session, device));
}
