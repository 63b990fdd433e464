/**
 * Proves the SPIRE lab harness against real spire-server + spire-agent: the committed configs are valid,
 * the agent serves 24 h SVIDs for a unix:uid entry (checked with SPIRE's own `api fetch x509`), the server
 * mints client SVIDs, the agent survives a restart, and stop() leaves no process behind.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createPrivateKey, createPublicKey, type X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findSpireBinaries, startSpireLab } from '../../gateway/cli/spire-lab.js';
import { findProjectRoot } from '../../gateway/cli/spire-paths.js';
import { runCommand } from '../../gateway/cli/spire-process.js';
import {
  fetchX509ViaCli,
  pidsMentioning,
  readPemCerts,
  startTestLab,
  uidSelector,
  uriSans,
  TRUST_DOMAIN,
} from '../helpers/spire.js';

const lab = await startTestLab(t);
const GW_ID = `spiffe://${TRUST_DOMAIN}/verigate/gateway`;

function spkiOfKey(keyPem: string): string {
  return createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }).toString('hex');
}
function spkiOfCert(cert: X509Certificate): string {
  return cert.publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
}

t.test('the committed server.conf and agent.conf are valid SPIRE configs (-expandEnv)', async (t) => {
  const root = findProjectRoot();
  t.ok(root, 'project root found');
  const env = { ...process.env, SPIRE_LAB_DIR: lab.dir, SPIRE_TRUST_DOMAIN: TRUST_DOMAIN, SPIRE_SERVER_PORT: '8081' };
  for (const [bin, file] of [
    [lab.binaries.server, 'server.conf'],
    [lab.binaries.agent, 'agent.conf'],
  ] as const) {
    const args = ['validate', '-config', join(root ?? '.', 'spire-config', file), '-expandEnv'];
    const r = await new Promise<{ code: number; out: string }>((res) => {
      execFile(bin, args, { env, timeout: 15_000 }, (err, so, se) => res({ code: err ? 1 : 0, out: so + se }));
    });
    t.equal(r.code, 0, `${file} validates: ${r.out.trim()}`);
  }
  const rendered = await readFile(join(lab.dir, 'server.conf'), 'utf8');
  t.match(rendered, /default_x509_svid_ttl = "24h"/, 'lab server.conf keeps 24 h SVIDs');
  t.notMatch(rendered, /\$\{/, 'lab server.conf has no unexpanded variables');
});

t.test('the bootstrap bundle is the CA of plant.example', async (t) => {
  const [ca, ...rest] = readPemCerts(await readFile(lab.bundlePath, 'utf8'));
  t.ok(ca, 'one CA certificate');
  t.equal(rest.length, 0, 'exactly one');
  t.ok(ca?.ca, 'basicConstraints cA=true');
  t.same(ca ? uriSans(ca) : [], [`spiffe://${TRUST_DOMAIN}`], 'CA carries the trust domain ID');
  const hours = ca ? (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / 3_600_000 : 0;
  t.ok(hours >= 144, `ca_ttl >= 144h (6 x 24 h SVIDs), got ${hours.toFixed(1)} h`);
});

t.test('the agent serves a 24 h SVID for a unix:uid entry', async (t) => {
  await lab.createEntry({ spiffeId: GW_ID, selectors: [uidSelector()] });
  const svid = await fetchX509ViaCli(lab, join(lab.dir, 'fetch-1'));
  t.same(uriSans(svid.cert), [GW_ID], 'exactly one URI SAN: the gateway ID');
  t.equal(svid.cert.ca, false, 'leaf, not a CA');
  const ca = svid.bundle[0];
  t.ok(ca && svid.cert.verify(ca.publicKey), 'signed by the bundle CA');
  t.equal(spkiOfKey(svid.keyPem), spkiOfCert(svid.cert), 'the key matches the certificate');
  const hours = (Date.parse(svid.cert.validTo) - Date.parse(svid.cert.validFrom)) / 3_600_000;
  // NotBefore is backdated ~10 s [docs/architecture.md "SPIRE facts"]; the default TTL comes from server.conf.
  t.ok(hours > 23.9 && hours < 24.1, `default_x509_svid_ttl = 24h, got ${hours.toFixed(3)} h`);
});

t.test('createEntry rejects an entry without selectors', async (t) => {
  await t.rejects(lab.createEntry({ spiffeId: `spiffe://${TRUST_DOMAIN}/x`, selectors: [] }), {
    code: 'GW_ERR_SPIRE_LAB',
  });
});

t.test('mintX509 writes an SVID of the trust domain with the asked TTL', async (t) => {
  const id = `spiffe://${TRUST_DOMAIN}/hmi/panel-1`;
  const m = await lab.mintX509(id, 600, join(lab.dir, 'mint'));
  const [cert] = readPemCerts(await readFile(m.certPath, 'utf8'));
  const [ca] = readPemCerts(await readFile(m.bundlePath, 'utf8'));
  t.ok(cert && ca, 'cert and bundle written');
  if (!cert || !ca) return;
  t.same(uriSans(cert), [id]);
  t.ok(cert.verify(ca.publicKey), 'signed by the lab CA');
  t.equal(spkiOfKey(await readFile(m.keyPath, 'utf8')), spkiOfCert(cert), 'key matches');
  const secs = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 1000;
  t.ok(secs >= 600 && secs <= 620, `~600 s lifetime (+ backdate), got ${secs}`);
});

t.test('the agent restarts with its stored SVID and serves again', async (t) => {
  await lab.restartAgent();
  const svid = await fetchX509ViaCli(lab, join(lab.dir, 'fetch-2'));
  t.same(uriSans(svid.cert), [GW_ID]);
});

t.test('stop() is bounded, idempotent and leaves no SPIRE process', async (t) => {
  await lab.stop();
  await lab.stop();
  const health = await runCommand(lab.binaries.server, ['healthcheck', '-socketPath', lab.serverSocket], 5000);
  t.not(health.code, 0, 'server no longer answers');
  t.same(await pidsMentioning(lab.dir), [], 'no process still runs from the lab dir');
  await t.rejects(lab.restartAgent(), { code: 'GW_ERR_SPIRE_LAB' }, 'restart after stop is refused');
});

t.test('missing binaries: findSpireBinaries → null and startSpireLab names the build script', async (t) => {
  t.ok(findSpireBinaries(), 'the real binaries are found');
  t.equal(findSpireBinaries(join(lab.dir, 'no-such-bin')), null);
  await t.rejects(startSpireLab({ dir: join(lab.dir, 'x'), binDir: join(lab.dir, 'no-such-bin') }), {
    code: 'GW_ERR_SPIRE_LAB',
    message: /build-spire\.sh/,
  });
});
