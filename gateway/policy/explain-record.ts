/**
 * "Why was this record request denied?" for PROFINET: build the `RecordRequest` a client's ReadRecord /
 * WriteRecord call becomes (the same plain data the front door hands to the policy) and evaluate it. Used
 * by `verigate policy explain --profinet` and by the PROFINET tests inside a policy file.
 */
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { GatewayError } from '../errors.js';
import type { CompiledPolicy, Decision } from './compiled-policy.js';
import { evaluateRecord } from './evaluate-record.js';
import type { ExplainOptions } from './explain.js';
import type { PolicyRecordSpec, RecordQuerySource } from './policy-source.js';

/** A read asks for this many bytes unless the query says otherwise (the most a client may ask). */
export const DEFAULT_READ_LENGTH = 65535;

export interface RecordExplainResult {
  readonly decision: Decision;
  readonly request: RecordRequest;
}

type Built = { ok: true; request: RecordRequest } | { ok: false; error: string };

/** The request a client would send for this query (not yet validated: evaluateRecord does that). */
export function buildRecordRequest(q: RecordQuerySource): Built {
  const base = { api: q.api ?? 0, slot: q.slot, subslot: q.subslot, index: q.index };
  if (q.access === 'read') {
    if (q.data !== undefined) return { ok: false, error: 'a read carries no data' };
    return { ok: true, request: { access: 'read', ...base, length: q.length ?? DEFAULT_READ_LENGTH } };
  }
  let data: Buffer;
  if (q.data !== undefined) {
    const hex = q.data.replace(/[\s:]/g, '');
    if (!/^([0-9a-f]{2})*$/i.test(hex)) return { ok: false, error: `bad hex data ${JSON.stringify(q.data)}` };
    data = Buffer.from(hex, 'hex');
  } else if (q.length !== undefined) {
    data = Buffer.alloc(q.length);
  } else {
    return { ok: false, error: 'a write needs data or a length' };
  }
  return { ok: true, request: { access: 'write', ...base, length: q.length ?? data.length, data } };
}

/** Throws GW_ERR_USAGE when the query cannot describe a request (e.g. a write with neither data nor length). */
export function explainRecord(
  policy: CompiledPolicy,
  query: PolicyRecordSpec,
  opts: ExplainOptions = {},
): RecordExplainResult {
  const built = buildRecordRequest(query.profinet);
  if (!built.ok) throw new GatewayError('GW_ERR_USAGE', `policy: explain: ${built.error}`);
  const now = query.at !== undefined ? new Date(query.at) : (opts.now ?? new Date());
  if (Number.isNaN(now.getTime()))
    throw new GatewayError('GW_ERR_USAGE', `policy: explain: bad time ${JSON.stringify(query.at)}`);
  const peer = { id: query.id, role: query.role ?? null };
  const ignoreSchedules = query.at === undefined && opts.ignoreSchedulesWithoutAt === true;
  return {
    decision: evaluateRecord(policy, peer, query.device, built.request, now, { ignoreSchedules }),
    request: built.request,
  };
}

/** `read api 0 slot 1 subslot 0x0001 index 0xaff0 length 65535` (+ `data …` for writes). */
export function describeRecordRequest(req: RecordRequest): string {
  const head = `profinet ${req.access} api ${req.api} slot ${req.slot} subslot 0x${req.subslot.toString(16).padStart(4, '0')} index 0x${req.index.toString(16).padStart(4, '0')} length ${req.length}`;
  return req.data === undefined ? head : `${head} data ${req.data.toString('hex')}`;
}
