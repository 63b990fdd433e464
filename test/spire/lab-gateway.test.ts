/**
 * `verigate lab --identity spire`: the whole lab on a REAL SPIRE server + agent. The gateway takes its SVID
 * from the agent over the Workload API; clients hold SVIDs minted by the SPIRE server; stock third-party
 * clients (pymodbus, the Go tcp+tls client) read through the gateway and are refused with 0x01 where the
 * sample policy says no.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { findSpireBinaries, BUILD_HINT } from '../../gateway/cli/spire-lab.js';
import { startLab, type LabJson } from '../../gateway/cli/lab.js';
import { runPymodbus } from '../helpers/pymodbus.js';
import { requireTool } from '../helpers/tools.js';

if (!findSpireBinaries()) throw new Error(`SPIRE binaries missing: ${BUILD_HINT}`);
// Short path: unix socket paths are limited to 107 bytes.
const dir = mkdtempSync(join(tmpdir(), 'vgl-'));
const lab = await startLab({
  dir,
  identity: 'spire',
  ports: { mbaps: 0, grpc: 0, metrics: 0 },
  scanDelayMs: 0,
  logger: pino({ level: 'silent' }),
});
t.teardown(() => lab.stop());
const json = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as LabJson;
const port = json.endpoints.mbaps.port;
const creds = (name: string): { cert: string; key: string; ca: string } => {
  const c = json.clients[name];
  if (!c) throw new Error(`no client ${name}`);
  return { cert: c.cert, key: c.key, ca: c.bundle };
};

t.test('the gateway holds a SPIRE-issued SVID', async (t) => {
  t.equal(json.identitySource, 'spire');
  const svid = lab.gateway.identity.source.getX509Svid();
  t.equal(svid.id.toString(), 'spiffe://plant.example/verigate');
  const life = svid.notAfter.getTime() - Date.now();
  t.ok(life > 20 * 3600_000 && life <= 24 * 3600_000 + 60_000, '24 h SVID from the agent');
  t.match(
    svid.chain[0]?.subjectAltName ?? '',
    /DNS:localhost/,
    'registered with a DNS SAN for hostname-checking clients',
  );
});

t.test('pymodbus with SPIRE-minted SVIDs through the gateway', async (t) => {
  const hist = await runPymodbus(
    '127.0.0.1',
    port,
    [
      { op: 'read_input', address: 0, count: 2, unit: 1 },
      { op: 'write_register', address: 100, value: 10, unit: 1 },
    ],
    30_000,
    creds('historian'),
  );
  t.equal(hist[0]?.values?.length, 2);
  t.equal(hist[1]?.exception, 1);
  const stranger = await runPymodbus(
    '127.0.0.1',
    port,
    [{ op: 'read_input', address: 0, count: 1, unit: 1 }],
    30_000,
    creds('stranger'),
  );
  t.equal(stranger[0]?.exception, 1);
});

t.test('the Go tcp+tls client with a SPIRE-minted SVID', async (t) => {
  const c = creds('hmi');
  const out = await new Promise<string>((resolve) => {
    execFile(
      requireTool('go-mbaps-client'),
      [
        '-url',
        `tcp+tls://localhost:${port}`,
        '-cert',
        c.cert,
        '-key',
        c.key,
        '-ca',
        c.ca,
        '-unit',
        '1',
        '-op',
        'write-register',
        '-addr',
        '100',
        '-value',
        '1200',
      ],
      { timeout: 20_000 },
      (_e, stdout) => resolve(stdout),
    );
  });
  t.match(JSON.parse(out.trim()), { ok: true });
  t.equal(lab.simulators.turbine?.counters().writes['holding:255:100'], 1);
});
