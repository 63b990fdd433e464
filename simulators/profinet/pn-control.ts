/**
 * HTTP control channel of the PROFINET simulator on 127.0.0.1 (never on the device address), the same
 * shape as the Modbus simulator's:
 *   GET  /state                       scenario, station, ports, fault, ARs
 *   GET  /counters                    PnSimCounters      POST /counters/reset
 *   POST /fault    {"mode":"none|silent|drop-answers|slow|garbage|status", "delayMs"?, "variant"?, "status"?}
 *   POST /restart  {"downMs"?: n}
 *   GET  /records?api=0&slot=1&subslot=1&index=0x0100   current record bytes as hex
 *   GET  /ars                         the device-access ARs held
 *   GET  /diagnosis                   POST /diagnosis {slot, subslot, errorType, …}   DELETE /diagnosis[?slot=&subslot=]
 *   GET  /logbook                     POST /logbook {"status"?: "hex8", "detail"?: n}
 * JSON in and out; bad input answers 400 with {"error": "..."}.
 */
import type { IncomingMessage, Server } from 'node:http';
import { Ajv } from 'ajv';
import type { DiagnosisEntry, LogEntry, RecordAddress } from '../../protocols/profinet/index.js';
import { readJson, serveControl } from '../control-server.js';
import type { ArInfo } from './ar-table.js';
import type { PnSimCounters } from './pn-counters.js';
import { parsePnFault, type PnFault } from './pn-fault.js';
import { diagnosisSchema, type DiagnosisSpec } from './pn-scenario.js';

export interface PnControlTarget {
  state(): object;
  counters(): PnSimCounters;
  resetCounters(): void;
  setFault(f: PnFault): void;
  restart(downMs: number): Promise<void>;
  readRecord(a: RecordAddress): Buffer | undefined;
  ars(): ArInfo[];
  diagnosis(): readonly DiagnosisEntry[];
  addDiagnosis(d: DiagnosisSpec): DiagnosisEntry;
  clearDiagnosis(where?: { slot: number; subslot: number }): number;
  logbook(): readonly LogEntry[];
  addLogEntry(statusHex: string, detail: number): LogEntry;
}

const validDiagnosis = new Ajv({ allErrors: true }).compile(diagnosisSchema);

export async function startPnControlServer(t: PnControlTarget, port: number): Promise<Server> {
  return serveControl((req) => route(t, req), port);
}

type Answer = [number, unknown];

async function route(t: PnControlTarget, req: IncomingMessage): Promise<Answer> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const q = url.searchParams;
  switch (`${req.method ?? 'GET'} ${url.pathname}`) {
    case 'GET /state':
      return [200, t.state()];
    case 'GET /counters':
      return [200, t.counters()];
    case 'POST /counters/reset':
      t.resetCounters();
      return [200, t.counters()];
    case 'POST /fault':
      return withBody(req, (v) => setFault(t, v));
    case 'POST /restart':
      return restart(t, req);
    case 'GET /records':
      return readRecord(t, q);
    case 'GET /ars':
      return [200, t.ars()];
    case 'GET /diagnosis':
      return [200, t.diagnosis()];
    case 'POST /diagnosis':
      return withBody(req, (v) => addDiagnosis(t, v));
    case 'DELETE /diagnosis':
      return [200, { removed: t.clearDiagnosis(diagnosisWhere(q)) }];
    case 'GET /logbook':
      return [200, t.logbook()];
    case 'POST /logbook':
      return withBody(req, (v) => addLogEntry(t, v));
    default:
      return [404, { error: `no route ${req.method ?? 'GET'} ${url.pathname}` }];
  }
}

function setFault(t: PnControlTarget, v: unknown): Answer {
  const f = parsePnFault(v);
  if (!f.ok) return [400, { error: f.reason }];
  t.setFault(f.value);
  return [200, { fault: f.value }];
}

/** A power cycle of at most a minute: the HTTP answer waits for the device to be back. */
async function restart(t: PnControlTarget, req: IncomingMessage): Promise<Answer> {
  const body = await readJson(req);
  if (!body.ok) return [400, { error: body.reason }];
  const downMs = (body.value as { downMs?: unknown } | null)?.downMs ?? 0;
  if (typeof downMs !== 'number' || downMs < 0 || downMs > 60_000) return [400, { error: 'downMs must be 0..60000' }];
  await t.restart(downMs);
  return [200, { restarted: true }];
}

/** `api` defaults to 0; slot, subslot and index are required u32s (decimal or 0x…). */
function readRecord(t: PnControlTarget, q: URLSearchParams): Answer {
  const [api, slot, subslot, index] = ['api', 'slot', 'subslot', 'index'].map((k) =>
    Number(q.get(k) ?? (k === 'api' ? '0' : 'x')),
  ) as [number, number, number, number];
  if (![api, slot, subslot, index].every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff)) {
    return [400, { error: 'api, slot, subslot, index must be non-negative integers (0x… allowed)' }];
  }
  const data = t.readRecord({ api, slot, subslot, index });
  return data ? [200, { api, slot, subslot, index, hex: data.toString('hex') }] : [404, { error: 'no such record' }];
}

function addDiagnosis(t: PnControlTarget, v: unknown): Answer {
  return validDiagnosis(v)
    ? [200, t.addDiagnosis(v)]
    : [400, { error: `diagnosis entry: ${JSON.stringify(validDiagnosis.errors)}` }];
}

/** Both `slot` and `subslot` name one submodule's entries; otherwise all entries go. */
function diagnosisWhere(q: URLSearchParams): { slot: number; subslot: number } | undefined {
  const slot = q.get('slot');
  const subslot = q.get('subslot');
  return slot !== null && subslot !== null ? { slot: Number(slot), subslot: Number(subslot) } : undefined;
}

function addLogEntry(t: PnControlTarget, v: unknown): Answer {
  const o = (v ?? {}) as { status?: unknown; detail?: unknown };
  const status = o.status ?? '00000000';
  const detail = o.detail ?? 0;
  if (typeof status !== 'string' || !/^[0-9a-f]{8}$/i.test(status))
    return [400, { error: 'status must be 8 hex digits' }];
  if (typeof detail !== 'number' || !Number.isInteger(detail) || detail < 0 || detail > 0xffff_ffff)
    return [400, { error: 'detail must be a u32' }];
  return [200, t.addLogEntry(status, detail)];
}

async function withBody(req: IncomingMessage, use: (v: unknown) => Answer): Promise<Answer> {
  const body = await readJson(req);
  return body.ok ? use(body.value) : [400, { error: body.reason }];
}
