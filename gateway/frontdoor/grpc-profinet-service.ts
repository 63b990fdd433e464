/**
 * `verigate.v1.Profinet` handlers: ReadRecord, WriteRecord and ReadIdentity of a PROFINET IO device
 * [IEC 61158-6-10 IODReadReq/IODWriteReq]. Every call runs as the verified session of the TLS connection it
 * arrived on (grpc-session-map.ts), its arguments are checked with the codec's own limits
 * (`validateRecordRequest`) and the device is routed by name BEFORE anything reaches the record pipeline
 * (policy → runtime gates → write-ahead audit → upstream): a bad argument answers INVALID_ARGUMENT and nothing
 * is sent or queued; it is still reported to the pipeline's `refused()` (audited and counted, so probing
 * device names or field widths leaves a trail). Outcomes map to status + trailing metadata in grpc-record-status.ts.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  decodeIm0,
  decodeRealIdentification,
  MAX_RECORD_LENGTH,
  RecordIndex,
  validateRecordRequest,
  type Im0,
  type RealIdentification,
  type RecordRequest,
} from '../../protocols/profinet/index.js';
import type {
  DeviceIdentityMessage,
  Im0Message,
  ReadIdentityRequest,
  ReadRecordRequest,
  ReadRecordResponse,
  RecordAddress,
  WriteRecordRequest,
  WriteRecordResponse,
} from './grpc-proto.js';
import { invalidRecordArgument, recordError, undecodableRecord } from './grpc-record-status.js';
import { clipName } from './client-text.js';
import { commitWrite } from './grpc-write-commit.js';
import type { CallSessionLookup } from './grpc-session-map.js';
import type { RecordPipelineRequest, RecordPipelineResult } from './record-pipeline.js';
import type { Session } from './session.js';

export interface ProfinetServiceDeps {
  readonly sessionOf: CallSessionLookup;
  readonly router: { profinet(name: string): RecordPipelineRequest['device'] | undefined };
  readonly pipeline: {
    handle(req: RecordPipelineRequest): Promise<RecordPipelineResult>;
    /**
     * Audits and counts a request refused here, before the pipeline (record-pipeline.ts); resolves false when
     * its event is not in the file under fail-closed.
     */
    refused?(session: Session, device: string, request: RecordRequest, reason: string): Promise<boolean>;
  };
  readonly logger?: Logger | undefined;
}

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;
type Outcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: ServiceError };

/** ReadIdentity reads I&M0 and RealIdentificationData at API 0, slot 0 (the DAP), subslot 1, at most 4096 bytes each. */
const IDENTITY_AT = { api: 0, slot: 0, subslot: 1, length: 4096 } as const;

/** The gRPC field names for the two length checks a client can get wrong (the codec says `length`). */
function lengthProblem(req: RecordRequest): string | null {
  const n = req.length;
  if (req.access === 'write')
    return n >= 1 && n <= MAX_RECORD_LENGTH
      ? null
      : `data of ${n} bytes: a record write carries 1..${MAX_RECORD_LENGTH} bytes`;
  return Number.isInteger(n) && n >= 1 && n <= MAX_RECORD_LENGTH
    ? null
    : `max_length ${n} is outside 1..${MAX_RECORD_LENGTH}`;
}

/** A record request checked and routed: ready for the pipeline. A refusal is audited via `refused()`. */
function prepare(
  deps: ProfinetServiceDeps,
  session: Session,
  a: RecordAddress,
  req: RecordRequest,
): Outcome<RecordPipelineRequest['device']> & { recorded?: Promise<boolean> } {
  const refuse = (reason: string, detail: string): Outcome<never> & { recorded?: Promise<boolean> } => {
    const recorded = deps.pipeline.refused?.(session, a.device, req, reason);
    return { ok: false, error: invalidRecordArgument(detail), ...(recorded ? { recorded } : {}) };
  };
  const length = lengthProblem(req);
  if (length !== null) return refuse(`invalid-request ${length}`, length);
  const valid = validateRecordRequest(req);
  // The codec's widths are the one source of truth: slot/subslot/index ≤ 0xFFFF, length 1..65535.
  if (!valid.ok) return refuse(`invalid-request ${valid.detail}`, valid.detail);
  const device = deps.router.profinet(a.device);
  if (!device) {
    const name = clipName(a.device);
    return refuse(`unknown-device ${name}`, `unknown PROFINET device "${name}"`);
  }
  return { ok: true, value: device };
}

/** Never rejects: a handler does `void run(...).then(...)`, so a rejection would vanish (or crash). */
async function run(
  deps: ProfinetServiceDeps,
  session: Session,
  a: RecordAddress,
  request: RecordRequest,
): Promise<Outcome<RecordPipelineResult>> {
  let r: RecordPipelineResult;
  try {
    const device = prepare(deps, session, a, request);
    if (!device.ok) {
      // the refusal is answered once its event is in the file; one that did not get there is, fail-closed,
      // answered audit-unavailable [IEC 62443-3-3 SR 2.10]
      if ((await device.recorded) === false)
        return {
          ok: false,
          error: recordError({ outcome: 'audit-unavailable', reason: 'audit-unavailable', ruleId: null }),
        };
      return { ok: false, error: device.error };
    }
    r = await deps.pipeline.handle({ session, device: device.value, request });
  } catch (err) {
    // RecordPipeline.handle never rejects by contract; this is a bug in the gateway, reported as such.
    deps.logger?.error(
      { err, device: a.device, index: request.index },
      'PROFINET record call failed inside the gateway',
    );
    const reason = `internal-error: ${errorMessage(err)}`.slice(0, 200);
    return { ok: false, error: recordError({ outcome: 'internal-error', reason, ruleId: null }) };
  }
  return r.outcome === 'ok' ? { ok: true, value: r } : { ok: false, error: recordError(r, request.access) };
}

export function im0Message(v: Im0): Im0Message {
  return {
    vendorId: v.vendorId,
    orderId: v.orderId,
    serialNumber: v.serialNumber,
    hardwareRevision: v.hardwareRevision,
    softwareRevision: `${v.softwareRevisionPrefix}${v.softwareRevision.join('.')}`,
    revisionCounter: v.revisionCounter,
    profileId: v.profileId,
    profileSpecificType: v.profileSpecificType,
    imVersion: v.imVersion.join('.'),
    imSupported: v.imSupported,
  };
}

export function identityMessage(im0: Im0, real: RealIdentification): DeviceIdentityMessage {
  return {
    im0: im0Message(im0),
    modules: real.modules.map((m) => ({
      api: m.api,
      slot: m.slot,
      moduleIdentNumber: m.moduleIdentNumber,
      submodules: m.submodules.map((s) => ({ subslot: s.subslot, submoduleIdentNumber: s.submoduleIdentNumber })),
    })),
  };
}

/** Two reads, one after the other (one call in flight per device anyway); the first failure answers. */
async function readIdentity(
  deps: ProfinetServiceDeps,
  session: Session,
  device: string,
): Promise<Outcome<DeviceIdentityMessage>> {
  const read = (index: number): Promise<Outcome<RecordPipelineResult>> =>
    run(
      deps,
      session,
      { device, api: IDENTITY_AT.api, slot: IDENTITY_AT.slot, subslot: IDENTITY_AT.subslot, index },
      {
        access: 'read',
        api: IDENTITY_AT.api,
        slot: IDENTITY_AT.slot,
        subslot: IDENTITY_AT.subslot,
        index,
        length: IDENTITY_AT.length,
      },
    );
  const im0Read = await read(RecordIndex.IM0);
  if (!im0Read.ok) return im0Read;
  const im0 = decodeIm0(im0Read.value.data ?? Buffer.alloc(0));
  if (!im0.ok) return { ok: false, error: undecodableRecord('I&M0 record (0xaff0)', im0.detail) };
  const realRead = await read(RecordIndex.RealIdentificationData);
  if (!realRead.ok) return realRead;
  const real = decodeRealIdentification(realRead.value.data ?? Buffer.alloc(0));
  if (!real.ok) return { ok: false, error: undecodableRecord('RealIdentificationData record (0xf000)', real.detail) };
  return { ok: true, value: identityMessage(im0.value, real.value) };
}

export function profinetService(deps: ProfinetServiceDeps): grpc.UntypedServiceImplementation {
  const readRecord: Unary<ReadRecordRequest, ReadRecordResponse> = (call, callback) => {
    const found = deps.sessionOf(call);
    if (!found.ok) return callback(found.error);
    const r = call.request;
    const req: RecordRequest = {
      access: 'read',
      api: r.api,
      slot: r.slot,
      subslot: r.subslot,
      index: r.index,
      length: r.maxLength,
    };
    void run(deps, found.session, r, req).then((o) =>
      o.ok ? callback(null, { data: o.value.data ?? Buffer.alloc(0) }) : callback(o.error),
    );
  };
  const writeRecord: Unary<WriteRecordRequest, WriteRecordResponse> = (call, callback) => {
    const found = deps.sessionOf(call);
    if (!found.ok) return callback(found.error);
    commitWrite(call);
    const r = call.request;
    const data = Buffer.isBuffer(r.data) ? r.data : Buffer.from(r.data ?? []);
    const req: RecordRequest = {
      access: 'write',
      api: r.api,
      slot: r.slot,
      subslot: r.subslot,
      index: r.index,
      length: data.length,
      data,
    };
    void run(deps, found.session, r, req).then((o) =>
      o.ok ? callback(null, { length: data.length }) : callback(o.error),
    );
  };
  const identity: Unary<ReadIdentityRequest, DeviceIdentityMessage> = (call, callback) => {
    const found = deps.sessionOf(call);
    if (!found.ok) return callback(found.error);
    void readIdentity(deps, found.session, call.request.device).then((o) =>
      o.ok ? callback(null, o.value) : callback(o.error),
    );
  };
  return { ReadRecord: readRecord, WriteRecord: writeRecord, ReadIdentity: identity };
}
