/**
 * The per-record checks of the PROFINET record evaluator (evaluate-record.ts), shared with the judging of the
 * inner writes of a container record (record-container.ts): does an entry name a record, does an allow entry's
 * length and value limits let it through, does a deny entry hit it. Pure and synchronous.
 */
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import type { CompiledRecordEntry, CompiledRule, RuleSetView } from './compiled-policy.js';
import { readRecordValue } from './compile-record-entry.js';
import type { PolicyReason } from '../reasons.js';
import { inIntervals } from './ranges.js';

export interface RecordCtx {
  readonly nowMs: number;
  readonly ignoreSchedules: boolean;
}

const hex4 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** `api 0 slot 1 subslot 0x0001 index 0xaff0`: how reasons and `policy explain` name a record. */
export function recordLabel(req: Pick<RecordRequest, 'api' | 'slot' | 'subslot' | 'index'>): string {
  return `api ${req.api} slot ${req.slot} subslot ${hex4(req.subslot)} index ${hex4(req.index)}`;
}

export function active(rule: CompiledRule, ctx: RecordCtx): boolean {
  return rule.schedule === null || ctx.ignoreSchedules || rule.schedule.contains(ctx.nowMs);
}

function names(e: CompiledRecordEntry, req: RecordRequest): boolean {
  return (
    e.access === req.access &&
    (e.api === null || e.api === req.api) &&
    inIntervals(e.indices, req.index) &&
    inIntervals(e.slots, req.slot) &&
    inIntervals(e.subslots, req.subslot)
  );
}

/** The granting rule, or the deny reason. */
export const isRefusal = (r: CompiledRule | PolicyReason): r is PolicyReason => 'code' in r;

/** The first active allow entry (preference order) that names the record and whose limits it keeps. */
export function allowScan(view: RuleSetView, req: RecordRequest, ctx: RecordCtx): CompiledRule | PolicyReason {
  let named: CompiledRecordEntry | null = null;
  let failure: PolicyReason | null = null;
  for (const e of view.records) {
    if (!names(e, req)) continue;
    named ??= e;
    if (!active(e.rule, ctx)) continue;
    const f = limits(e, req);
    if (f === null) return e.rule;
    failure ??= f;
  }
  if (named === null) return { code: 'index-not-allowed', detail: `${req.access} ${recordLabel(req)}` };
  return failure ?? { code: 'outside-schedule', detail: named.rule.id };
}

/** Length and value limits of an allow entry that names the record; null = fine. */
function limits(e: CompiledRecordEntry, req: RecordRequest): PolicyReason | null {
  if (req.access === 'read') {
    return e.length !== null && req.length > e.length
      ? { code: 'length-not-allowed', detail: `read ${recordLabel(req)} length ${req.length} (max ${e.length})` }
      : null;
  }
  if (e.length !== null && req.length !== e.length)
    return {
      code: 'length-not-allowed',
      detail: `write ${recordLabel(req)} length ${req.length} (exactly ${e.length})`,
    };
  const data = req.data as Buffer; // validated: a write carries `length` bytes
  if (e.bytes !== null && !data.equals(e.bytes))
    return { code: 'value-not-allowed', detail: `${recordLabel(req)} bytes ${data.toString('hex')}` };
  for (const v of e.values ?? []) {
    if (v.offset + v.size > data.length)
      return { code: 'value-not-allowed', detail: `${recordLabel(req)} @${v.offset} ${v.type}=?` };
    const x = readRecordValue(data, v);
    if (!inIntervals(v.allowed, x))
      return { code: 'value-not-allowed', detail: `${recordLabel(req)} @${v.offset} ${v.type}=${x}` };
  }
  return null;
}

/** The deny rule hitting the record (a deny-everything rule, or a deny entry naming it), with the detail. */
export function denyHit(
  view: RuleSetView,
  req: RecordRequest,
  ctx: RecordCtx,
): { rule: CompiledRule; detail: string } | null {
  if (view.all.length === 0 && view.records.length === 0) return null;
  for (const r of view.all) if (active(r, ctx)) return { rule: r, detail: 'all' };
  for (const e of view.records) {
    if (names(e, req) && active(e.rule, ctx) && denies(e, req))
      return { rule: e.rule, detail: `${req.access} ${recordLabel(req)}` };
  }
  return null;
}

/** A deny entry naming the record: reads always hit; writes when its length, bytes and values say so. */
function denies(e: CompiledRecordEntry, req: RecordRequest): boolean {
  if (req.access === 'read') return true;
  const data = req.data as Buffer;
  if (e.length !== null && req.length !== e.length) return false;
  if (e.bytes !== null && !data.equals(e.bytes)) return false;
  if (e.values === null) return true;
  return e.values.some((v) => v.offset + v.size <= data.length && inIntervals(v.allowed, readRecordValue(data, v)));
}
