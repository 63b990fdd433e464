/**
 * A request as the audit trail recorded it, turned back into what the policy judges: a `request.decision`
 * event carries the identity, role, device, unit, function code, sub-function and the register ranges with
 * the written values (with `audit.values: include`; with `hash` only their SHA-256 is stored, so the values
 * are unknown), and the time. `record.decision` events (PROFINET records) carry api/slot/subslot/index,
 * length and the data (hex) or its hash. See docs/reference.md "Audit events".
 */
import { isSerialDiagnosticFc, isUserDefinedFc } from '../../protocols/modbus/function-codes.js';
import type { ClassifiedRequest, ReadRange, RequestKind, Table, WriteRange } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';

/** What the gateway decided, as recorded: `learn` = allowed by commissioning mode (the policy would deny). */
export type RecordedDecision = 'allow' | 'deny' | 'learn';

interface RecordedCommon {
  readonly seq: number;
  /** Epoch ms of the event (the decision was made at most `latencyMs` before). */
  readonly timeMs: number;
  /** Epoch ms the request arrived and was judged: the event time less its `latencyMs` (receipt to event). */
  readonly decidedMs: number;
  readonly time: string;
  readonly identity: string;
  readonly role: string | null;
  readonly device: string;
  readonly decision: RecordedDecision;
  readonly ruleId: string | null;
  readonly reason: string;
  readonly outcome: string;
}

export interface RecordedModbus extends RecordedCommon {
  readonly kind: 'modbus';
  readonly request: ClassifiedRequest;
  /** Some written values were stored as a hash (`audit.values: hash`): they are unknown here. */
  readonly valuesHidden: boolean;
}

export interface RecordedRecord extends RecordedCommon {
  readonly kind: 'record';
  readonly request: RecordRequest;
  /** A write's data was stored as a hash: the bytes are unknown here. */
  readonly valuesHidden: boolean;
}

export type RecordedRequest = RecordedModbus | RecordedRecord;

const TABLES: ReadonlySet<string> = new Set(['holding', 'input', 'coils', 'discrete']);

/** The request kind of a function code, as protocols/modbus/classify.ts assigns it [MB-APP 5.1, 6]. */
export function kindOfFc(fc: number, subFunction: number | undefined): RequestKind {
  if (fc >= 1 && fc <= 4) return 'read';
  if (fc === 5 || fc === 6 || fc === 15 || fc === 16 || fc === 22) return 'write';
  if (fc === 23) return 'read-write';
  if (fc === 24) return 'fifo';
  if (fc === 20 || fc === 21) return 'file-record';
  if (fc === 43) return subFunction === 14 ? 'device-id' : 'unknown';
  if (fc === 8 || isSerialDiagnosticFc(fc)) return 'diagnostic';
  if (isUserDefinedFc(fc)) return 'user-defined';
  return 'unknown';
}

/**
 * The request of a `request.decision` or `record.decision` event, or null for every other event and for
 * requests refused before policy (no route, invalid PDU: device `""`), which no policy judges.
 */
export function recordedRequest(e: Readonly<Record<string, unknown>>): RecordedRequest | null {
  const type = e['type'];
  if (type !== 'request.decision' && type !== 'record.decision') return null;
  const device = e['device'];
  const identity = e['identity'];
  if (typeof device !== 'string' || device === '' || typeof identity !== 'string') return null;
  const time = typeof e['time'] === 'string' ? e['time'] : '';
  const timeMs = Date.parse(time);
  const latency = typeof e['latencyMs'] === 'number' && e['latencyMs'] >= 0 ? e['latencyMs'] : 0;
  const common: RecordedCommon = {
    seq: e['seq'] as number,
    time,
    timeMs,
    decidedMs: timeMs - Math.round(latency),
    identity,
    role: typeof e['role'] === 'string' ? e['role'] : null,
    device,
    decision: e['decision'] === 'allow' || e['decision'] === 'learn' ? e['decision'] : 'deny',
    ruleId: typeof e['ruleId'] === 'string' ? e['ruleId'] : null,
    reason: typeof e['reason'] === 'string' ? e['reason'] : '',
    outcome: typeof e['outcome'] === 'string' ? e['outcome'] : '',
  };
  return type === 'request.decision' ? modbus(e, common) : record(e, common);
}

function modbus(e: Readonly<Record<string, unknown>>, common: RecordedCommon): RecordedModbus | null {
  const fc = e['fc'];
  const unit = e['unit'];
  if (typeof fc !== 'number' || typeof unit !== 'number') return null;
  const sub = typeof e['subFunction'] === 'number' ? e['subFunction'] : undefined;
  const reads: ReadRange[] = [];
  for (const r of arrayOf(e['reads'])) {
    if (!isRange(r)) return null;
    reads.push({ table: r['table'] as Table, start: r['start'] as number, count: r['count'] as number });
  }
  let valuesHidden = false;
  const writes: WriteRange[] = [];
  for (const w of arrayOf(e['writes'])) {
    if (!isRange(w)) return null;
    const values = Array.isArray(w['values']) ? (w['values'] as number[]) : null;
    if (values === null && w['valuesSha256'] !== undefined) valuesHidden = true;
    writes.push({ table: w['table'] as Table, start: w['start'] as number, count: w['count'] as number, values });
  }
  const request: ClassifiedRequest = {
    fc,
    unit,
    kind: kindOfFc(fc, sub),
    reads,
    writes,
    ...(sub !== undefined ? { subFunction: sub } : {}),
  };
  return { ...common, kind: 'modbus', request, valuesHidden };
}

function record(e: Readonly<Record<string, unknown>>, common: RecordedCommon): RecordedRecord | null {
  const access = e['access'];
  if (access !== 'read' && access !== 'write') return null;
  const num = (k: string): number => (typeof e[k] === 'number' ? e[k] : NaN);
  const data = typeof e['data'] === 'string' ? Buffer.from(e['data'], 'hex') : undefined;
  const request: RecordRequest = {
    access,
    api: num('api'),
    slot: num('slot'),
    subslot: num('subslot'),
    index: num('index'),
    length: num('length'),
    ...(access === 'write' ? { data: data ?? Buffer.alloc(Math.max(0, num('length'))) } : {}),
  };
  return { ...common, kind: 'record', request, valuesHidden: access === 'write' && data === undefined };
}

function arrayOf(v: unknown): readonly Record<string, unknown>[] {
  return Array.isArray(v) ? (v as Record<string, unknown>[]) : [];
}

function isRange(r: Record<string, unknown>): boolean {
  return (
    r !== null &&
    typeof r === 'object' &&
    TABLES.has(r['table'] as string) &&
    Number.isInteger(r['start']) &&
    Number.isInteger(r['count'])
  );
}
