/**
 * "Why was this denied?": build the request a client would send, run it through the real codec (encode →
 * decode → classify, exactly what the data path sees) and evaluate it. Used by `verigate policy explain` and by
 * the tests inside a policy file.
 */
import { classify, decodeRequest, encodeRequest } from '../../protocols/modbus/index.js';
import type { ClassifiedRequest, ModbusRequest } from '../../protocols/modbus/index.js';
import { GatewayError } from '../errors.js';
import { denyDecision, type CompiledPolicy, type Decision } from './compiled-policy.js';
import { evaluate } from './evaluate.js';
import type { PolicyRequestSpec } from './policy-source.js';

/** The request to explain: the same shape a test inside the policy file describes. */
export type ExplainQuery = PolicyRequestSpec;

export interface ExplainResult {
  readonly decision: Decision;
  readonly request: ClassifiedRequest;
}

export interface ExplainOptions {
  readonly now?: Date;
  /** Schedules count as open when the query gives no `at` (policy tests). */
  readonly ignoreSchedulesWithoutAt?: boolean;
}

/** Throws GW_ERR_USAGE when the query cannot describe a request (e.g. FC6 without a value). */
export function explain(policy: CompiledPolicy, query: ExplainQuery, opts: ExplainOptions = {}): ExplainResult {
  const built = buildRequest(query);
  if (!built.ok) throw new GatewayError('GW_ERR_USAGE', `policy: explain: ${built.error}`);
  const unit = query.unit ?? 1;
  const decoded = decodeRequest(encodeRequest(built.request));
  if (!decoded.ok) {
    // The gateway answers a malformed request with the codec's exception before policy is asked.
    const decision = denyDecision(null, { code: 'malformed-request', detail: decoded.reason });
    return { decision, request: classify(built.request, unit) };
  }
  const request = classify(decoded.value, unit);
  const now = query.at !== undefined ? new Date(query.at) : (opts.now ?? new Date());
  if (Number.isNaN(now.getTime()))
    throw new GatewayError('GW_ERR_USAGE', `policy: explain: bad time ${JSON.stringify(query.at)}`);
  const peer = { id: query.id, role: query.role ?? null };
  const ignoreSchedules = query.at === undefined && opts.ignoreSchedulesWithoutAt === true;
  return { decision: evaluate(policy, peer, query.device, request, now, { ignoreSchedules }), request };
}

type Built = { ok: true; request: ModbusRequest } | { ok: false; error: string };

function written(q: ExplainQuery): readonly number[] | null {
  if (q.values !== undefined) return q.values;
  if (q.value !== undefined) return new Array<number>(q.count ?? 1).fill(q.value);
  return null;
}

/** The request a client would send for this query. */
export function buildRequest(q: ExplainQuery): Built {
  switch (q.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 22:
    case 24:
      return q.address === undefined ? need(q, 'an address') : addressedRequest(q.fc, q.address, q.count ?? 1);
    case 5:
    case 6:
      return singleWriteRequest(q, q.fc);
    case 15:
    case 16:
    case 23:
      return multipleWriteRequest(q, q.fc);
    case 20:
    case 21:
      return fileRecordRequest(q, q.fc);
    case 43:
      return meiRequest(q.subFunction ?? 14);
    case 8:
      return diagnosticsRequest(q);
    case 7:
    case 11:
    case 12:
    case 17:
      return { ok: true, request: { type: 'serial-diagnostic', fc: q.fc, data: Buffer.alloc(0) } };
    default:
      return { ok: true, request: { type: 'other', fc: q.fc, data: Buffer.alloc(0) } };
  }
}

function need(q: ExplainQuery, what: string): Built {
  return { ok: false, error: `FC${q.fc} needs ${what}` };
}

/** The requests that need only an address (and a count). */
function addressedRequest(fc: 1 | 2 | 3 | 4 | 22 | 24, address: number, quantity: number): Built {
  switch (fc) {
    case 1:
    case 2:
      return { ok: true, request: { type: 'read-bits', fc, address, quantity } };
    case 3:
    case 4:
      return { ok: true, request: { type: 'read-registers', fc, address, quantity } };
    case 22:
      // Masks do not matter to policy: the result is unknown whatever they are [MB-APP 6.16].
      return { ok: true, request: { type: 'mask-write-register', fc: 22, address, andMask: 0xffff, orMask: 0 } };
    case 24:
      return { ok: true, request: { type: 'read-fifo', fc: 24, address } };
  }
}

function singleWriteRequest(q: ExplainQuery, fc: 5 | 6): Built {
  const { address, value } = q;
  if (address === undefined || value === undefined) return need(q, 'an address and a value');
  return fc === 5
    ? { ok: true, request: { type: 'write-single-coil', fc: 5, address, value: value !== 0 } }
    : { ok: true, request: { type: 'write-single-register', fc: 6, address, value } };
}

function multipleWriteRequest(q: ExplainQuery, fc: 15 | 16 | 23): Built {
  const address = q.address;
  const values = written(q);
  if (fc === 23) {
    if (address === undefined || values === null) return need(q, 'an address and values (plus readAddress/readCount)');
    const readAddress = q.readAddress ?? address;
    const readQuantity = q.readCount ?? q.count ?? 1;
    return {
      ok: true,
      request: { type: 'read-write-registers', fc: 23, readAddress, readQuantity, writeAddress: address, values },
    };
  }
  if (address === undefined || values === null) return need(q, 'an address and values');
  return fc === 15
    ? { ok: true, request: { type: 'write-multiple-coils', fc: 15, address, values: values.map((v) => v !== 0) } }
    : { ok: true, request: { type: 'write-multiple-registers', fc: 16, address, values } };
}

/** One sub-request of file 1; the address is the record number (FC21 writes zeros unless values are given). */
function fileRecordRequest(q: ExplainQuery, fc: 20 | 21): Built {
  const count = q.count ?? 1;
  const sub = {
    fileNumber: 1,
    recordNumber: q.address ?? 0,
    recordLength: count,
    ...(fc === 21 ? { values: written(q) ?? new Array<number>(count).fill(0) } : {}),
  };
  return { ok: true, request: { type: 'file-record', fc, subRequests: [sub] } };
}

/** MEI type 14 is Read Device Identification [MB-APP 6.21]; any other MEI type is passed on as it is. */
function meiRequest(mei: number): Built {
  if (mei === 14)
    return { ok: true, request: { type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 1, objectId: 0 } };
  return { ok: true, request: { type: 'other', fc: 43, data: Buffer.from([mei & 0xff]) } };
}

/** The value is the sub-function's 16-bit data word [MB-APP 6.8]. */
function diagnosticsRequest(q: ExplainQuery): Built {
  const data = Buffer.alloc(2);
  data.writeUInt16BE((q.value ?? 0) & 0xffff, 0);
  return { ok: true, request: { type: 'diagnostics', fc: 8, subFunction: q.subFunction ?? 0, data } };
}
