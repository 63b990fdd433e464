/**
 * The lab (`verigate lab`, dev identity) driven only by clients no one here wrote, holding the lab's SVIDs from
 * lab.json: pymodbus's stock ModbusTlsClient (PyPI) and simonvetter/modbus's `tcp+tls` client (Go module proxy).
 * Allowed reads and writes succeed; each policy denial answers exception 0x01.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startLab, type LabJson } from '../../gateway/cli/lab.js';
import { runPymodbus, type PyTls } from '../helpers/pymodbus.js';
import { requireTool } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'vg-lab-'));
const lab = await startLab({ dir, identity: 'dev', ports: { mbaps: 0, grpc: 0, metrics: 0 }, scanDelayMs: 0, logger: pino({ level: 'silent' }) });
t.teardown(() => lab.stop());
const json = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabJson;
const { port } = json.endpoints.mbaps;

function creds(name: string): PyTls {
  const c = json.clients[name];
  if (!c) throw new Error(`lab.json has no client ${name}`);
  return { cert: c.cert, key: c.key, ca: c.bundle };
}

function goClient(name: string, args: string[]): Promise<{ ok: boolean; values?: number[]; exception?: number; error?: string }> {
  const bin = requireTool('go-mbaps-client');
  const c = creds(name);
  // Go's crypto/tls checks a hostname: the gateway's SVID carries DNS SAN `localhost` beside its SPIFFE ID.
  const all = ['-url', `tcp+tls://localhost:${port}`, '-cert', c.cert, '-key', c.key, '-ca', c.ca, ...args];
  return new Promise((resolve, reject) => {
    execFile(bin, all, { timeout: 20_000 }, (err, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line));
      } catch {
        reject(err ?? new Error(`go client printed ${stdout}`));
      }
    });
  });
}

t.test('lab.json describes endpoints, devices and clients with their grants', async (t) => {
  t.equal(json.trustDomain, 'plant.example');
  t.same(json.devices.map((d) => [d.name, d.unitId]), [['turbine-1', 1], ['tank-1', 2]]);
  t.ok(json.clients.historian && json.clients.hmi && json.clients.stranger);
  t.same(json.clients.stranger?.grants, [], 'the stranger is granted nothing');
  t.match(json.clients.hmi?.grants, [{ rule: 'hmi-reads' }, { rule: 'hmi-setpoint' }]);
});

t.test('pymodbus ModbusTlsClient through the gateway', async (t) => {
  const hist = await runPymodbus('127.0.0.1', port, [
    { op: 'read_input', address: 0, count: 3, unit: 1 },
    { op: 'write_register', address: 100, value: 1500, unit: 1 },
    { op: 'read_holding', address: 0, count: 2, unit: 2 },
  ], 30_000, creds('historian'));
  t.equal(hist[0]?.values?.length, 3, 'historian reads turbine speed and temperatures');
  t.equal(hist[1]?.exception, 1, 'historian write refused with 0x01');
  t.equal(hist[2]?.values?.length, 2, 'same session still reads the tank');
  const hmi = await runPymodbus('127.0.0.1', port, [
    { op: 'write_register', address: 100, value: 1500, unit: 1 },
    { op: 'read_holding', address: 100, count: 1, unit: 1 },
    { op: 'write_register', address: 100, value: 9000, unit: 1 },
  ], 30_000, creds('hmi'));
  t.same(hmi[0], { ok: true }, 'hmi sets the speed setpoint');
  t.same(hmi[1]?.values, [1500]);
  t.equal(hmi[2]?.exception, 1, 'out-of-range setpoint refused with 0x01');
  const stranger = await runPymodbus('127.0.0.1', port, [{ op: 'read_holding', address: 0, count: 1, unit: 1 }], 30_000, creds('stranger'));
  t.equal(stranger[0]?.exception, 1, 'stranger refused with 0x01');
  t.equal(lab.simulators.turbine?.counters().writes['holding:255:100'], 1, 'exactly one write reached the PLC');
});

t.test('simonvetter/modbus tcp+tls client through the gateway', async (t) => {
  const read = await goClient('historian', ['-unit', '1', '-op', 'read-input', '-addr', '0', '-count', '3']);
  t.equal(read.ok, true, read.error ?? '');
  t.equal(read.values?.length, 3);
  const denied = await goClient('historian', ['-unit', '1', '-op', 'write-register', '-addr', '100', '-value', '1']);
  t.equal(denied.exception, 1, 'write refused with 0x01');
  const write = await goClient('hmi', ['-unit', '1', '-op', 'write-register', '-addr', '101', '-value', '42']);
  t.equal(write.ok, true, write.error ?? '');
  const stranger = await goClient('stranger', ['-unit', '1', '-op', 'read-holding', '-addr', '0']);
  t.equal(stranger.exception, 1, 'stranger refused with 0x01');
});
