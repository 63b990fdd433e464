/**
 * gRPC status for every outcome of the data and admin planes, as the proto header fixes it
 * (gateway.proto "Outcomes map to gRPC status codes"). The human text goes in `details`; machine-readable
 * facts go in trailing metadata (`verigate-outcome`, `verigate-reason`, `verigate-rule-id`,
 * `verigate-exception`), so clients never parse messages.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Outcome } from '../errors.js';
import type { PipelineResult } from './request-pipeline.js';
import { wellFormed } from './client-text.js';

export const META_OUTCOME = 'verigate-outcome';
export const META_REASON = 'verigate-reason';
export const META_RULE_ID = 'verigate-rule-id';
export const META_EXCEPTION = 'verigate-exception';

/**
 * grpc-js refuses (throws on) a text metadata value outside printable ASCII [gRPC over HTTP/2, "ASCII-Value"];
 * a reason or rule id is shown, never trusted (it may carry a name the client chose), so anything else becomes
 * `?`, and it is clipped.
 */
export const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 512);

/**
 * A status error as grpc-js expects it from a handler (code + details + metadata). The details may quote a
 * client's text: made well-formed here, once for every status, because grpc-js throws on a lone surrogate
 * while it sends the status (client-text.ts).
 */
export function grpcError(code: status, text: string, meta: Readonly<Record<string, string>> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(meta)) metadata.set(k, v);
  const details = wellFormed(text);
  return Object.assign(new Error(details), { code, details, metadata });
}

const OUTCOME_STATUS: Readonly<Record<Exclude<Outcome, 'ok'>, status>> = {
  denied: status.PERMISSION_DENIED,
  'no-route': status.UNAVAILABLE, // Modbus 0x0A
  'invalid-request': status.INVALID_ARGUMENT, // Modbus 0x02/0x03
  'upstream-unavailable': status.UNAVAILABLE, // Modbus 0x0A
  'queue-full': status.UNAVAILABLE, // Modbus 0x0A
  timeout: status.DEADLINE_EXCEEDED, // Modbus 0x0B
  'timeout-unsent': status.DEADLINE_EXCEEDED, // Modbus 0x0B: the PLC did not take it in time; never sent
  // Modbus 0x0B: sent, then lost or garbled; may have been executed. UNKNOWN, because gRPC retry policies and
  // service meshes retry UNAVAILABLE by default: that would replay the write.
  'no-answer': status.UNKNOWN,
  'plc-exception': status.FAILED_PRECONDITION,
  // IEC 62443-3-3 SR 2.10: nothing is served that cannot be recorded; a retry may succeed later.
  'audit-unavailable': status.UNAVAILABLE,
  aborted: status.UNAVAILABLE, // Modbus 0x0A: the session ended while it was queued; never sent
  'internal-error': status.INTERNAL, // Modbus 0x04: a failure inside the gateway (logged, counted, audited)
};

const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/** The status for a pipeline result that is not `ok`. */
export function pipelineError(r: PipelineResult): ServiceError {
  const outcome = r.outcome as Exclude<Outcome, 'ok'>;
  const code = OUTCOME_STATUS[outcome];
  const meta: Record<string, string> = { [META_OUTCOME]: outcome, [META_REASON]: printable(r.reason) };
  if (r.ruleId) meta[META_RULE_ID] = printable(r.ruleId);
  switch (outcome) {
    case 'denied':
      return grpcError(code, `denied: ${r.reason}${r.ruleId ? ` (rule ${r.ruleId})` : ''}`, meta);
    case 'plc-exception': {
      const exception = r.pdu[1] ?? 0;
      meta[META_EXCEPTION] = hex(exception);
      return grpcError(code, `the PLC answered exception ${hex(exception)}`, meta);
    }
    case 'timeout':
      return grpcError(code, 'the PLC did not answer in time (Modbus 0x0b)', meta);
    case 'timeout-unsent':
      return grpcError(code, 'the PLC did not take the request in time; it was not sent (Modbus 0x0b)', meta);
    case 'no-answer':
      return grpcError(
        code,
        'sent, then no valid answer came (Modbus 0x0b): it may have been executed; not repeated',
        meta,
      );
    case 'audit-unavailable':
      return grpcError(code, 'audit log unavailable: requests are refused until it recovers', meta);
    case 'aborted':
      return grpcError(code, 'the session ended before the request was sent; it was not executed (Modbus 0x0a)', meta);
    case 'internal-error':
      return grpcError(code, 'internal gateway failure (Modbus 0x04); it is logged and audited', meta);
    default:
      return grpcError(code, `no path to the device: ${outcome} (Modbus 0x0a)`, meta);
  }
}

/** A bad request caught before the pipeline (quantity, range, value) [gateway.proto: Modbus 0x02/0x03]. */
export function invalidRequest(reason: string, exception?: number): ServiceError {
  return grpcError(status.INVALID_ARGUMENT, reason, {
    [META_OUTCOME]: 'invalid-request',
    ...(exception !== undefined ? { [META_EXCEPTION]: hex(exception) } : {}),
  });
}
