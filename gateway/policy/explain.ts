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
import type { PolicyRequestSpec } from './policy-schema.js';

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
  const need = (what: string): Built => ({ ok: false, error: `FC${q.fc} needs ${what}` });
  const address = q.address;
  const count = q.count ?? 1;
  const values = written(q);
  switch (q.fc) {
    case 1:
    case 2:
      return address === undefined
        ? need('an address')
        : { ok: true, request: { type: 'read-bits', fc: q.fc, address, quantity: count } };
    case 3:
    case 4:
      return address === undefined
        ? need('an address')
        : { ok: true, request: { type: 'read-registers', fc: q.fc, address, quantity: count } };
    case 5:
      if (address === undefined || q.value === undefined) return need('an address and a value');
      return { ok: true, request: { type: 'write-single-coil', fc: 5, address, value: q.value !== 0 } };
    case 6:
      if (address === undefined || q.value === undefined) return need('an address and a value');
      return { ok: true, request: { type: 'write-single-register', fc: 6, address, value: q.value } };
    case 15:
      if (address === undefined || values === null) return need('an address and values');
      return {
        ok: true,
        request: { type: 'write-multiple-coils', fc: 15, address, values: values.map((v) => v !== 0) },
      };
    case 16:
      if (address === undefined || values === null) return need('an address and values');
      return { ok: true, request: { type: 'write-multiple-registers', fc: 16, address, values } };
    case 22:
      // Masks do not matter to policy: the result is unknown whatever they are [MB-APP 6.16].
      return address === undefined
        ? need('an address')
        : { ok: true, request: { type: 'mask-write-register', fc: 22, address, andMask: 0xffff, orMask: 0 } };
    case 23: {
      if (address === undefined || values === null) return need('an address and values (plus readAddress/readCount)');
      const readAddress = q.readAddress ?? address;
      const readQuantity = q.readCount ?? q.count ?? 1;
      return {
        ok: true,
        request: { type: 'read-write-registers', fc: 23, readAddress, readQuantity, writeAddress: address, values },
      };
    }
    case 24:
      return address === undefined ? need('an address') : { ok: true, request: { type: 'read-fifo', fc: 24, address } };
    case 20:
    case 21: {
      const sub = {
        fileNumber: 1,
        recordNumber: address ?? 0,
        recordLength: count,
        ...(q.fc === 21 ? { values: values ?? new Array<number>(count).fill(0) } : {}),
      };
      return { ok: true, request: { type: 'file-record', fc: q.fc, subRequests: [sub] } };
    }
    case 43: {
      const mei = q.subFunction ?? 14;
      if (mei === 14)
        return { ok: true, request: { type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 1, objectId: 0 } };
      return { ok: true, request: { type: 'other', fc: 43, data: Buffer.from([mei & 0xff]) } };
    }
    case 8: {
      const data = Buffer.alloc(2);
      data.writeUInt16BE((q.value ?? 0) & 0xffff, 0);
      return { ok: true, request: { type: 'diagnostics', fc: 8, subFunction: q.subFunction ?? 0, data } };
    }
    case 7:
    case 11:
    case 12:
    case 17:
      return { ok: true, request: { type: 'serial-diagnostic', fc: q.fc, data: Buffer.alloc(0) } };
    default:
      return { ok: true, request: { type: 'other', fc: q.fc, data: Buffer.alloc(0) } };
  }
}
