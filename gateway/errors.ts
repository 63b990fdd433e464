/**
 * The one table of stable error codes (config, startup and programmer errors) and the one mapping of
 * request outcomes to Modbus exceptions. Hostile input never throws: it yields values (DecodeResult,
 * Decision, UpstreamResult); only the cases below throw `GatewayError`.
 * Modelled on undici/fastify: a stable `code`, a module-prefixed message and `cause`.
 */
import { ExceptionCode } from '../protocols/modbus/types.js';

/** Add new codes here, one line each, with the module that raises them. Documented in README "Error codes". */
export const ErrorCodes = {
  GW_ERR_CONFIG_INVALID: 'config: gateway.yaml failed schema or semantic validation',
  GW_ERR_CONFIG_UNREADABLE: 'config: a config file could not be read or parsed',
  GW_ERR_POLICY_INVALID: 'policy: policy file failed schema or compile checks',
  GW_ERR_POLICY_TEST_FAILED: 'policy: a test inside the policy file did not get its expected decision',
  GW_ERR_IDENTITY_UNAVAILABLE: 'identity: no valid X.509-SVID could be obtained in time',
  GW_ERR_IDENTITY_INVALID: 'identity: an SVID, bundle or SPIFFE ID is malformed',
  GW_ERR_WORKLOAD_API: 'identity: the Workload API returned a non-retryable error',
  GW_ERR_ENDPOINT_ADDRESS: 'identity: SPIFFE_ENDPOINT_SOCKET or an explicit address is invalid',
  GW_ERR_LISTEN: 'frontdoor: a listener could not bind',
  GW_ERR_UPSTREAM_CONFIG: 'upstream: a device target is misconfigured',
  GW_ERR_AUDIT_WRITE: 'audit: an audit event could not be written',
  GW_ERR_AUDIT_VERIFY: 'audit: the audit chain or a checkpoint failed verification',
  GW_ERR_STORE: 'trust: a durable store (grants, locks) could not be read or written',
  GW_ERR_USAGE: 'cli: bad command-line usage',
  GW_ERR_SPIRE_LAB: 'cli: the SPIRE lab could not start or run (binaries, config or a SPIRE process)',
  GW_ERR_INTERNAL: 'internal: a programmer error (please report)',
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatewayError';
    this.code = code;
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof GatewayError;
}

/** The message of anything thrown or rejected: an Error's `message`, else its string form (`throw 'x'`, `reject(42)`). */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Outcomes of a request on the data path. Each maps to a Modbus exception (or none) and an audit flag.
 * `denied` must answer 0x01 and keep the session [MB-TCP-SEC R-24].
 */
export const Outcomes = {
  ok: { exception: null, audit: 'ok' },
  // a policy or runtime-gate refusal (reasons.ts), e.g. `fleet-stale`: a strict rule's write while this box's view
  // of the fleet hub is stale — an authorization refusal like any other, so 0x01 and the session stays [MB-TCP-SEC R-24]
  denied: { exception: ExceptionCode.IllegalFunction, audit: 'denied' },
  'no-route': { exception: ExceptionCode.GatewayPathUnavailable, audit: 'no-route' },
  // structurally invalid PDU of a known FC: the decoder's own exception (02/03) is answered
  'invalid-request': { exception: ExceptionCode.IllegalDataValue, audit: 'invalid-request' },
  'upstream-unavailable': { exception: ExceptionCode.GatewayPathUnavailable, audit: 'upstream-unavailable' },
  'queue-full': { exception: ExceptionCode.GatewayPathUnavailable, audit: 'queue-full' },
  // written, then no answer within the device timeout: the PLC may have executed it
  timeout: { exception: ExceptionCode.GatewayTargetFailedToRespond, audit: 'timeout' },
  // the device timeout passed before the request was written (queued or staged behind busy connections): it
  // never left the gateway, and the audit says so; the client gets the same 0x0B as any timeout (the PLC is
  // there, it did not take the request in time)
  'timeout-unsent': { exception: ExceptionCode.GatewayTargetFailedToRespond, audit: 'timeout-unsent' },
  // sent, then the connection died or the answer was garbage: the PLC may have executed it, so 0x0B
  // ("failed to respond", outcome unknown) and never 0x0A ("no path", certainly not executed)
  'no-answer': { exception: ExceptionCode.GatewayTargetFailedToRespond, audit: 'no-answer' },
  'plc-exception': { exception: null, audit: 'plc-exception' },
  'audit-unavailable': { exception: ExceptionCode.ServerDeviceBusy, audit: 'audit-unavailable' },
  // queued, then its session ended (lock, kill, SVID expiry) before it was sent: it never reached the PLC
  aborted: { exception: ExceptionCode.GatewayPathUnavailable, audit: 'aborted' },
  // an exception thrown inside the gateway's pipeline (a bug): answered, logged, counted and audited [MB-APP 7]
  'internal-error': { exception: ExceptionCode.ServerDeviceFailure, audit: 'internal-error' },
} as const satisfies Record<string, { exception: ExceptionCode | null; audit: string }>;

export type Outcome = keyof typeof Outcomes;

export function exceptionFor(outcome: Outcome): ExceptionCode | null {
  return Outcomes[outcome].exception;
}

/**
 * Outcomes of a PROFINET record service (read/write one record, gateway/frontdoor/record-pipeline.ts), as
 * recorded in `record.decision` / `request.outcome` events; the gRPC `Profinet` service maps each to a status
 * (docs/reference.md). `write-lost`: a write was sent and no answer came; the device may have executed it
 * (never resent). `malformed-answer`: the request was sent and what came back is no valid answer to it: it may
 * have been executed. `rpc-fault`: the record request was sent and the device answered a DCE/RPC fault (it
 * failed while executing the call [C706 12.5.3.6]: it may have been executed) or reject. These three are the
 * outcomes whose fate is unknown: never retried by the gateway, and answered with a status clients do not retry
 * (grpc-record-status.ts). `invalid-request`: bad arguments, nothing sent.
 */
export const RECORD_OUTCOMES = [
  'ok',
  'denied',
  'invalid-request',
  'pnio-error',
  'timeout',
  'write-lost',
  'unavailable',
  'malformed-answer',
  'rpc-fault',
  'queue-full',
  'aborted',
  'audit-unavailable',
  'internal-error',
] as const;

export type RecordOutcome = (typeof RECORD_OUTCOMES)[number];
