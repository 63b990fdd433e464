/**
 * fleet-config/*.conf cannot drift from the code: scripts/render-fleet-config.mjs (gateway/fleet/fleet-config-render.ts,
 * the renderer the fleet lab runs) renders into a temp dir and every committed config must equal its output byte
 * for byte, with no file more or less. And nats-server v2.15.2 (the version docker-compose.fleet.yml pins) accepts
 * each committed config (`-t`) once its TLS directory holds the files `spire-agent api fetch x509 -write` writes.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireNatsServer } from '../fleet/nats-process.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { REPO_ROOT } from '../helpers/tools.js';

const SAMPLES = join(REPO_ROOT, 'fleet-config');
const confs = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.conf'))
    .sort();

t.test('the committed fleet-config/*.conf are what the renderer produces now', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'fleet-render-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/render-fleet-config.mjs', '--out', out], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  t.equal(r.status, 0, `render-fleet-config.mjs exits 0: ${r.stderr}`);
  t.same(confs(SAMPLES), confs(out), 'the same set of files');
  t.ok(confs(out).length >= 5, 'three hub nodes and the leaves');
  for (const f of confs(out)) {
    const fresh = readFileSync(join(out, f), 'utf8');
    const committed = readFileSync(join(SAMPLES, f), 'utf8');
    t.ok(
      fresh === committed,
      `fleet-config/${f} is up to date (else: node --import tsx scripts/render-fleet-config.mjs)`,
    );
  }
});

t.test('nats-server 2.15.2 accepts every committed config with SVID files in its TLS directory', async (t) => {
  const bin = requireNatsServer();
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  t.match(version.stdout, /v2\.15\.2\b/, 'the nats-server version the compose file pins');
  const dir = mkdtempSync(join(tmpdir(), 'fleet-conf-check-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await DevCa.loadOrCreate(join(dir, 'ca'), 'plant.example');
  const svid = await ca.mintX509Svid({ spiffeId: 'spiffe://plant.example/fleet/hub/1', dnsNames: ['hub-1'] });
  writeFileSync(join(dir, 'svid.0.pem'), svid.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''));
  writeFileSync(join(dir, 'svid.0.key'), derToPem(svid.keyDer, 'PRIVATE KEY'), { mode: 0o600 });
  writeFileSync(join(dir, 'bundle.0.pem'), ca.bundlePem());
  for (const f of confs(SAMPLES)) {
    const text = readFileSync(join(SAMPLES, f), 'utf8');
    t.match(text, /cert_file: "\/etc\/nats\/tls\/svid\.0\.pem"/, `${f} reads the fetched SVID`);
    const mapped = text.split('/etc/nats/tls/').join(`${dir}/`).split('/var/lib/nats').join(join(dir, 'store'));
    writeFileSync(join(dir, f), mapped);
    const r = spawnSync(bin, ['-c', join(dir, f), '-t'], { encoding: 'utf8', timeout: 10_000 });
    t.equal(r.status, 0, `nats-server -t ${f}: ${r.stdout}${r.stderr}`);
  }
  writeFileSync(join(dir, 'broken.conf'), 'port: 4222\ntls {\n');
  const bad = spawnSync(bin, ['-c', join(dir, 'broken.conf'), '-t'], { encoding: 'utf8', timeout: 10_000 });
  t.not(bad.status, 0, 'and -t does refuse a broken config');
});
