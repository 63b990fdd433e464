/**
 * HTTP control channel on 127.0.0.1 (never on the Modbus address): lets tests and operators switch faults at
 * run time and read what the PLC saw.
 *   GET  /state                         scenario, ports, fault, units, connections
 *   GET  /counters                      SimCounters
 *   POST /counters/reset                zero the counters
 *   POST /fault     {"mode":"none|silent|close|exception|slow|noise", "code"?: n, "delayMs"?: n, "kind"?: "crc|truncate", "every"?: n}
 *   POST /restart   {"downMs"?: n}      power cycle: drop connections, reset memory, listen again
 *   GET  /registers?unit=U&table=T&address=A&count=N
 * Responses are JSON; bad input answers 400 with {"error": "..."}.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Table } from '../protocols/modbus/types.js';
import { parseFault, type Fault } from './fault.js';
import type { SimCounters } from './sim-counters.js';

export interface ControlTarget {
  state(): object;
  counters(): SimCounters;
  resetCounters(): void;
  setFault(f: Fault): void;
  restart(downMs: number): Promise<void>;
  readRegisters(unit: number, table: Table, address: number, count: number): number[] | undefined;
}

const TABLES = new Set<string>(['coils', 'discrete', 'holding', 'input']);
const MAX_BODY = 4096;

export async function startControlServer(target: ControlTarget, port: number): Promise<Server> {
  return serveControl((req) => route(target, req), port);
}

/** A control channel on 127.0.0.1:port (0 = ephemeral) answering JSON from `route`; shared by both simulators. */
export async function serveControl(
  route: (req: IncomingMessage) => Promise<[number, unknown]>,
  port: number,
): Promise<Server> {
  const server = createServer((req, res) => {
    route(req)
      .then(([status, body]) => reply(res, status, body))
      .catch((err: unknown) => reply(res, 500, { error: String(err) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function controlPortOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

async function route(t: ControlTarget, req: IncomingMessage): Promise<[number, unknown]> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const key = `${req.method ?? 'GET'} ${url.pathname}`;
  switch (key) {
    case 'GET /state':
      return [200, t.state()];
    case 'GET /counters':
      return [200, t.counters()];
    case 'POST /counters/reset':
      t.resetCounters();
      return [200, t.counters()];
    case 'POST /fault': {
      const body = await readJson(req);
      if (!body.ok) return [400, { error: body.reason }];
      const fault = parseFault(body.value);
      if (!fault.ok) return [400, { error: fault.reason }];
      t.setFault(fault.value);
      return [200, { fault: fault.value }];
    }
    case 'POST /restart': {
      const body = await readJson(req);
      if (!body.ok) return [400, { error: body.reason }];
      const downMs = (body.value as { downMs?: unknown } | null)?.downMs ?? 0;
      if (typeof downMs !== 'number' || downMs < 0 || downMs > 60_000)
        return [400, { error: 'downMs must be 0..60000' }];
      await t.restart(downMs);
      return [200, { restarted: true }];
    }
    case 'GET /registers':
      return registers(t, url.searchParams);
    default:
      return [404, { error: `no route ${key}` }];
  }
}

function registers(t: ControlTarget, q: URLSearchParams): [number, unknown] {
  const table = q.get('table') ?? 'holding';
  const [unit, address, count] = [q.get('unit') ?? '255', q.get('address') ?? '0', q.get('count') ?? '1'].map(Number);
  if (!TABLES.has(table)) return [400, { error: 'table must be coils, discrete, holding or input' }];
  if (![unit, address, count].every((n) => Number.isInteger(n)))
    return [400, { error: 'unit, address, count must be integers' }];
  const values = t.readRegisters(unit as number, table as Table, address as number, count as number);
  return values ? [200, { unit, table, address, values }] : [404, { error: 'no such unit or range' }];
}

export async function readJson(
  req: IncomingMessage,
): Promise<{ ok: true; value: unknown } | { ok: false; reason: string }> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_BODY) return { ok: false, reason: 'body too large' };
  }
  if (text.trim() === '') return { ok: true, value: null };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
}

export function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
