/**
 * gRPC status for every outcome of a PROFINET record service (gateway.proto, service `Profinet`), with the
 * same trailing metadata as the Modbus service (grpc-status.ts: `verigate-outcome`, `verigate-reason`,
 * `verigate-rule-id`) plus the device's own error, so clients never parse messages:
 * `verigate-pnio-status` (8 hex digits, ErrorCode first [IEC 61158-6-10 PNIOStatus]) and
 * `verigate-pnio-meaning` (the codec's name for it, pnio-status.ts).
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { grpcError, META_OUTCOME, META_REASON, META_RULE_ID, printable } from './grpc-status.js';
import type { RecordOutcome, RecordPipelineResult } from './record-pipeline.js';

export const META_PNIO_STATUS = 'verigate-pnio-status';
export const META_PNIO_MEANING = 'verigate-pnio-meaning';

type Failure = Exclude<RecordOutcome, 'ok'>;

/** Status code and the human text for each outcome; the machine-readable facts go in metadata. */
const OUTCOME_STATUS: Readonly<Record<Failure, readonly [status, string]>> = {
  denied: [status.PERMISSION_DENIED, 'denied'],
  'invalid-request': [status.INVALID_ARGUMENT, 'invalid record request; nothing was sent'],
  'pnio-error': [status.FAILED_PRECONDITION, 'the device refused the record service'],
  timeout: [status.DEADLINE_EXCEEDED, 'the device did not answer in time'],
  // Sent, fate unknown (like Modbus 0x0B): UNKNOWN, never UNAVAILABLE, which gRPC retry policies and service
  // meshes retry by default — a replayed write. The gateway itself never sends a write twice.
  'write-lost': [
    status.UNKNOWN,
    'the write was sent but its answer was lost: it may have been executed; it was not repeated',
  ],
  unavailable: [status.UNAVAILABLE, 'no path to the device'],
  'malformed-answer': [
    status.UNKNOWN,
    'the request was sent and the device answered something that is not a valid answer to it: it may have been executed; it was not repeated',
  ],
  'rpc-fault': [
    status.UNKNOWN,
    'the request was sent and the device answered an RPC fault: it may have been executed; it was not repeated',
  ],
  'queue-full': [status.UNAVAILABLE, 'the device queue is full; nothing was sent'],
  // Only a read can be stopped after it was sent (profinet-results.ts): a write aborted here never left.
  aborted: [
    status.UNAVAILABLE,
    'the session ended or a lock landed before the request completed: a write was not sent; a read may have reached the device',
  ],
  // IEC 62443-3-3 SR 2.10: nothing is served that cannot be recorded; a retry may succeed later.
  'audit-unavailable': [
    status.UNAVAILABLE,
    'audit log unavailable: requests are refused until it recovers; nothing was sent',
  ],
  'internal-error': [status.INTERNAL, 'internal gateway failure; it is logged and audited'],
};

/** The status for a record pipeline result that is not `ok`; `access` is the request's. */
export function recordError(r: RecordPipelineResult, access?: 'read' | 'write'): ServiceError {
  const outcome = r.outcome === 'ok' ? 'internal-error' : r.outcome;
  const [code, text] = OUTCOME_STATUS[outcome] ?? OUTCOME_STATUS['internal-error'];
  const meta: Record<string, string> = { [META_OUTCOME]: outcome, [META_REASON]: printable(r.reason) };
  if (r.ruleId) meta[META_RULE_ID] = printable(r.ruleId);
  // Data of another length than the policy's record length is a malformed write for this record: judged,
  // audited as denied and never sent, but answered as the bad argument it is.
  if (outcome === 'denied' && r.code === 'length-not-allowed' && access === 'write') {
    return grpcError(
      status.INVALID_ARGUMENT,
      `the record takes another length: ${r.reason}${r.ruleId ? ` (rule ${r.ruleId})` : ''}`,
      meta,
    );
  }
  if (outcome === 'denied') return grpcError(code, `denied: ${r.reason}${r.ruleId ? ` (rule ${r.ruleId})` : ''}`, meta);
  if (outcome === 'pnio-error' && r.pnioStatus) {
    meta[META_PNIO_STATUS] = printable(r.pnioStatus);
    if (r.pnioMeaning) meta[META_PNIO_MEANING] = printable(r.pnioMeaning);
    return grpcError(
      code,
      `the device answered PNIOStatus ${r.pnioStatus}${r.pnioMeaning ? ` (${r.pnioMeaning})` : ''}`,
      meta,
    );
  }
  return grpcError(code, r.reason ? `${text}: ${r.reason}` : text, meta);
}

/** A bad argument caught before the pipeline: INVALID_ARGUMENT, nothing sent, nothing audited. */
export function invalidRecordArgument(reason: string): ServiceError {
  return grpcError(status.INVALID_ARGUMENT, reason, {
    [META_OUTCOME]: 'invalid-request',
    [META_REASON]: printable(reason),
  });
}

/**
 * A record the device answered `ok` whose bytes do not parse as that record: the client cannot use it. The
 * `malformed-answer` row's status (UNKNOWN): one outcome, one code.
 */
export function undecodableRecord(what: string, detail: string): ServiceError {
  const reason = `${what}: ${detail}`;
  return grpcError(OUTCOME_STATUS['malformed-answer'][0], `the device's ${reason}`, {
    [META_OUTCOME]: 'malformed-answer',
    [META_REASON]: printable(reason),
  });
}
