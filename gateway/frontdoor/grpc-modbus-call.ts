/**
 * One typed gRPC data-plane request taken through the SAME path as a Modbus/TCP Security frame
 * [docs/architecture.md "Request path": the gRPC front door differs only in steps 1 and 3–4]: the message
 * becomes a `ModbusRequest`, is encoded to a PDU, re-decoded with the codec's own limits (quantity, range →
 * INVALID_ARGUMENT, as Modbus 0x02/0x03 would be), classified, routed by device name and handed to the
 * request pipeline (policy → runtime gates → upstream → audit). The answer PDU is decoded against the request.
 * A request refused before the pipeline (unknown device, invalid request) is audited as a `request.decision`
 * (`no-route` / `invalid-request`) before its status, as the Modbus/TCP Security front door does.
 */
import type { ServiceError } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import {
  ADDRESS_SPACE,
  classify,
  decodeRequest,
  decodeResponse,
  encodeRequest,
  type ModbusRequest,
  type ModbusResponse,
} from '../../protocols/modbus/index.js';
import { errorMessage } from '../errors.js';
import { grpcError, invalidRequest, META_OUTCOME, META_REASON, pipelineError, printable } from './grpc-status.js';
import { answerFor } from './request-events.js';
import type { PipelineRequest, PipelineResult, RequestPipeline } from './request-pipeline.js';
import type { FailureResult, RefusedFrame } from './request-refusals.js';
import type { Session } from './session.js';
import { clipName } from './client-text.js';

export interface ModbusCallDeps {
  readonly router: { named(name: string): PipelineRequest['device'] | undefined };
  readonly pipeline: {
    handle(req: PipelineRequest): Promise<PipelineResult>;
    /**
     * Logs, counts and audits a failure outside handle(); resolves with its answer (request-pipeline.ts):
     * internal-error, or audit-unavailable when its event is not in the file under fail-closed.
     */
    failed?(session: Session, frame: RefusedFrame, err: unknown): Promise<FailureResult>;
    /**
     * Counts and audits a request refused before policy (unknown device, invalid request), as for a Modbus/TCP
     * Security frame; resolves with `answer` once its event is committed, or the 0x06 answer when it is not in the
     * file under fail-closed (request-pipeline.ts).
     */
    refused?: RequestPipeline['refused'];
  };
}

export type CallResult =
  { readonly ok: true; readonly response: ModbusResponse } | { readonly ok: false; readonly error: ServiceError };

/** A request refused before the pipeline: the client's status, and what its `request.decision` records. */
export interface CallRefusal {
  readonly outcome: 'no-route' | 'invalid-request';
  /** The audit reason, `<outcome> <detail>` as for a Modbus/TCP Security frame. */
  readonly reason: string;
  readonly unit: number;
  readonly fc: number;
  readonly error: ServiceError;
}

export type Prepared =
  { readonly ok: true; readonly call: PreparedCall } | { readonly ok: false; readonly refusal: CallRefusal };

/** A request checked, routed and classified: ready for the pipeline (and reusable by Watch on every poll). */
export interface PreparedCall {
  readonly device: PipelineRequest['device'];
  readonly request: ModbusRequest;
  readonly pdu: Buffer;
  readonly classified: PipelineRequest['classified'];
}

const U16_MAX = ADDRESS_SPACE - 1;

/** Encoding masks to 16 bits, so out-of-range numbers are refused before they could wrap around. */
function outOfRange(req: ModbusRequest): string | null {
  const addr = 'address' in req ? req.address : 0;
  if (!Number.isInteger(addr) || addr < 0 || addr > U16_MAX) return `address ${addr} is outside 0..${U16_MAX}`;
  if ('quantity' in req && req.quantity > U16_MAX) return `count ${req.quantity} is too large`;
  if (req.type === 'write-single-register' && req.value > U16_MAX)
    return `value ${req.value} does not fit a register (0..65535)`;
  if (req.type === 'write-multiple-registers') {
    const bad = req.values.find((v) => v > U16_MAX);
    if (bad !== undefined) return `value ${bad} does not fit a register (0..65535)`;
  }
  return null;
}

export function prepareCall(deps: ModbusCallDeps, deviceName: string, built: ModbusRequest): Prepared {
  const device = deps.router.named(deviceName);
  const unit = device?.config.targetUnitId ?? 0;
  const invalid = (detail: string, exception?: number): Prepared => {
    const reason = `invalid-request ${detail}`;
    return {
      ok: false,
      refusal: { outcome: 'invalid-request', reason, unit, fc: built.fc, error: invalidRequest(detail, exception) },
    };
  };
  const range = outOfRange(built);
  if (range) return invalid(range);
  const pdu = encodeRequest(built);
  // The codec's request limits are the one source of truth [MB-APP 6.x: quantity 03, address range 02].
  const decoded = decodeRequest(pdu);
  if (!decoded.ok) return invalid(decoded.reason, decoded.exception);
  if (!device) {
    const name = clipName(deviceName);
    const reason = `no-route device ${name}`;
    const error = grpcError(status.NOT_FOUND, `unknown device "${name}"`, {
      [META_OUTCOME]: 'no-route',
      [META_REASON]: printable(reason),
    });
    return { ok: false, refusal: { outcome: 'no-route', reason, unit, fc: built.fc, error } };
  }
  const classified = classify(decoded.value, device.config.targetUnitId);
  return { ok: true, call: { device, request: decoded.value, pdu, classified } };
}

/**
 * A request refused before policy is still a request: counted and audited like a refused Modbus/TCP Security
 * frame (request-refusals.ts), so probing device names or field widths over gRPC leaves a trail. Answered
 * with its status once that event is in the file; UNAVAILABLE audit-unavailable when it is not, under
 * fail-closed [IEC 62443-3-3 SR 2.10]. Never rejects.
 */
export async function refuseCall(deps: ModbusCallDeps, session: Session, r: CallRefusal): Promise<ServiceError> {
  const pipeline = deps.pipeline;
  if (!pipeline.refused) return r.error;
  // `refused` resolves with this very buffer when the event is committed, with the 0x06 answer when it is not
  const asRefused = answerFor(r.fc, r.outcome);
  let answer: Buffer;
  try {
    answer = await pipeline.refused(session, { unit: r.unit, fc: r.fc }, r.outcome, r.reason, asRefused);
  } catch (err) {
    const failed = await internalFailure(deps, session, r.unit, r.fc, err);
    return failed.ok ? r.error : failed.error;
  }
  if (answer === asRefused) return r.error;
  return pipelineError({
    outcome: 'audit-unavailable',
    pdu: answer,
    code: 'audit-unavailable',
    reason: 'audit-unavailable',
    ruleId: null,
  });
}

export async function runPrepared(deps: ModbusCallDeps, session: Session, call: PreparedCall): Promise<CallResult> {
  try {
    const r = await deps.pipeline.handle({ session, device: call.device, classified: call.classified, pdu: call.pdu });
    if (r.outcome !== 'ok') return { ok: false, error: pipelineError(r) };
    const decoded = decodeResponse(r.pdu, call.request);
    // The upstream already checked the response (response-check.ts); this guards the typed mapping only. The PLC
    // answered, so the request may have been executed: UNKNOWN, which retry policies do not repeat (a write).
    if (!decoded.ok)
      return {
        ok: false,
        error: grpcError(
          status.UNKNOWN,
          `invalid response from the PLC: ${decoded.reason}; the request may have been executed and was not repeated`,
        ),
      };
    return { ok: true, response: decoded.value };
  } catch (err) {
    return internalFailure(deps, session, call.classified.unit, call.request.fc, err);
  }
}

/**
 * Never rejects: a call's handler does `void runCall(...).then(...)`, so a rejection would vanish (or crash).
 * Not `async`: it hands back runPrepared's own promise instead of wrapping it in one more.
 */
export function runCall(
  deps: ModbusCallDeps,
  session: Session,
  deviceName: string,
  built: ModbusRequest,
): Promise<CallResult> {
  let prepared: Prepared;
  try {
    prepared = prepareCall(deps, deviceName, built);
  } catch (err) {
    return internalFailure(deps, session, 0, built.fc, err);
  }
  if (!prepared.ok) return refuseCall(deps, session, prepared.refusal).then((error) => ({ ok: false, error }));
  return runPrepared(deps, session, prepared.call);
}

/**
 * A failure inside the gateway: INTERNAL (Modbus 0x04), logged, counted and audited by the pipeline; UNAVAILABLE
 * `audit-unavailable` when that event did not reach the file under fail-closed [IEC 62443-3-3 SR 2.10].
 */
async function internalFailure(
  deps: ModbusCallDeps,
  session: Session,
  unit: number,
  fc: number,
  err: unknown,
): Promise<CallResult> {
  const reason = `internal-error: ${errorMessage(err)}`.slice(0, 200);
  let r: PipelineResult = {
    outcome: 'internal-error',
    pdu: answerFor(fc, 'internal-error'),
    code: 'internal-error',
    reason,
    ruleId: null,
  };
  try {
    r = (await deps.pipeline.failed?.(session, { unit, fc }, err)) ?? r;
  } catch {
    /* reporting failed too; the caller still gets its status */
  }
  return { ok: false, error: pipelineError(r) };
}

/** Values of a read response as numbers (bits as 0/1), for Watch and the bit/register responses. */
export function responseValues(r: ModbusResponse): number[] | null {
  if (r.type === 'read-bits') return r.values.map((b) => (b ? 1 : 0));
  if (r.type === 'read-registers') return [...r.values];
  return null;
}
