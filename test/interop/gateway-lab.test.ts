/**
 * The lab (`verigate lab`, dev identity) driven only by clients no one here wrote, holding the lab's SVIDs from
 * lab.json: pymodbus's stock ModbusTlsClient (PyPI) and simonvetter/modbus's `tcp+tls` client (Go module proxy).
 * Allowed reads and writes succeed; each policy denial answers exception 0x01. The lab's PROFINET IO device
 * rio-1 answers `verigate profinet identity --lab DIR --as historian` (the CLI as a process, as an operator
 * runs it) with the decoded I&M0, and refuses the stranger.
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
const lab = await startLab({
  dir,
  identity: 'dev',
  ports: { mbaps: 0, grpc: 0, metrics: 0 },
  scanDelayMs: 0,
  logger: pino({ level: 'silent' }),
});
t.teardown(() => lab.stop());
const json = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabJson;
const { port } = json.endpoints.mbaps;

function creds(name: string): PyTls {
  const c = json.clients[name];
  if (!c) throw new Error(`lab.json has no client ${name}`);
  return { cert: c.cert, key: c.key, ca: c.bundle };
}

/** The Go client's one-line JSON answer (test/interop/go-mbaps-client). */
type GoAnswer = { ok: boolean; values?: number[]; exception?: number; error?: string };

function goClient(name: string, args: string[]): Promise<GoAnswer> {
  const bin = requireTool('go-mbaps-client');
  const c = creds(name);
  // Go's crypto/tls checks a hostname: the gateway's SVID carries DNS SAN `localhost` beside its SPIFFE ID.
  const all = ['-url', `tcp+tls://localhost:${port}`, '-cert', c.cert, '-key', c.key, '-ca', c.ca, ...args];
  return new Promise((resolve, reject) => {
    execFile(bin, all, { timeout: 20_000 }, (err, stdout) => {
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as GoAnswer);
      } catch {
        reject(err ?? new Error(`go client printed ${stdout}`));
      }
    });
  });
}

function verigate(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'gateway/cli/verigate.ts', ...args],
      { timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: stdout, err: stderr });
      },
    );
  });
}

t.test('lab.json describes endpoints, devices and clients with their grants', async (t) => {
  t.equal(json.trustDomain, 'plant.example');
  t.same(
    json.devices.map((d) => [d.name, d.unitId]),
    [
      ['turbine-1', 1],
      ['tank-1', 2],
    ],
  );
  t.match(json.profinetDevices, [
    { name: 'rio-1', stationName: 'rio-1', scenario: 'remote-io', device: { host: '127.0.0.1', port: Number } },
  ]);
  t.equal(
    json.profinetDevices[0]?.device.port,
    lab.profinetSimulators['rio-1']?.port,
    'the UDP endpoint of the running simulator',
  );
  t.match(json.clients.historian?.grants, [
    { rule: 'historian-reads' },
    {
      rule: 'historian-pn-reads',
      devices: ['rio-1'],
      profinet: [{ access: 'read', indices: [0xaff0, 0xf000] }, { access: 'read' }],
    },
  ]);
  t.match(json.clients.engineer?.grants, [
    {},
    {},
    { rule: 'eng-pn-reads' },
    {
      rule: 'eng-pn-input-delay',
      jit: { approvers: ['spiffe://plant.example/ops/shift-lead'] },
      profinet: [{ access: 'write', length: 2 }],
    },
  ]);
  t.match(
    readFileSync(json.gatewayConfig, 'utf8'),
    /profinetDevices:\n {2}- name: rio-1/,
    'the lab gateway.yaml lists rio-1',
  );
  t.ok(json.clients.historian && json.clients.hmi && json.clients.stranger);
  t.same(json.clients.stranger?.grants, [], 'the stranger is granted nothing');
  t.match(json.clients.hmi?.grants, [{ rule: 'hmi-reads' }, { rule: 'hmi-setpoint' }]);
});

t.test('pymodbus ModbusTlsClient through the gateway', async (t) => {
  const hist = await runPymodbus(
    '127.0.0.1',
    port,
    [
      { op: 'read_input', address: 0, count: 3, unit: 1 },
      { op: 'write_register', address: 100, value: 1500, unit: 1 },
      { op: 'read_holding', address: 0, count: 2, unit: 2 },
    ],
    30_000,
    creds('historian'),
  );
  t.equal(hist[0]?.values?.length, 3, 'historian reads turbine speed and temperatures');
  t.equal(hist[1]?.exception, 1, 'historian write refused with 0x01');
  t.equal(hist[2]?.values?.length, 2, 'same session still reads the tank');
  const hmi = await runPymodbus(
    '127.0.0.1',
    port,
    [
      { op: 'write_register', address: 100, value: 1500, unit: 1 },
      { op: 'read_holding', address: 100, count: 1, unit: 1 },
      { op: 'write_register', address: 100, value: 9000, unit: 1 },
    ],
    30_000,
    creds('hmi'),
  );
  t.same(hmi[0], { ok: true }, 'hmi sets the speed setpoint');
  t.same(hmi[1]?.values, [1500]);
  t.equal(hmi[2]?.exception, 1, 'out-of-range setpoint refused with 0x01');
  const stranger = await runPymodbus(
    '127.0.0.1',
    port,
    [{ op: 'read_holding', address: 0, count: 1, unit: 1 }],
    30_000,
    creds('stranger'),
  );
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

t.test('verigate profinet identity --lab --as historian prints the decoded I&M0 of rio-1', async (t) => {
  const sim = lab.profinetSimulators['rio-1'];
  sim?.resetCounters();
  const r = await verigate(['profinet', 'identity', '--lab', dir, '--as', 'historian', '--device', 'rio-1']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^rio-1\nI&M0\n/);
  t.match(r.out, /vendor id +0x0fee/);
  t.match(r.out, /order id +VG-RIO-ET16/);
  t.match(r.out, /serial number +S-RIO1-000123/);
  t.match(r.out, /software revision +V2\.4\.1/);
  t.match(r.out, /api 0 slot 3 module 0x00000401/, 'the module list from 0xF000');
  t.equal(sim?.counters().reads['0/0/1/0xaff0'], 1, 'I&M0 was read from the device once');
  const denied = await verigate(['profinet', 'identity', '--lab', dir, '--as', 'stranger', '--device', 'rio-1']);
  t.equal(denied.code, 1, 'the stranger is refused');
  t.match(denied.out + denied.err, /PERMISSION_DENIED/);
  t.equal(sim?.counters().reads['0/0/1/0xaff0'], 1, 'and nothing of it reached the device');
});
