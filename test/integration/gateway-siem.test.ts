/**
 * The gateway's own audit export, end to end: `audit.syslog` in gateway.yaml makes the running gateway ship
 * its decisions to a real rsyslog (Debian, OpenSSL driver) over mutual TLS, presenting its SVID as the client
 * certificate, with RFC 5425 octet counting.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { auditCommand } from '../../gateway/cli/audit-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';
import { makeTestPki, requireRsyslogd, rsyslogReceiver } from '../helpers/rsyslog.js';
import { freePort } from '../helpers/free-port.js';
import { eventually } from '../helpers/eventually.js';

requireRsyslogd();
const root = mkdtempSync(join(tmpdir(), 'vg-siem-'));
const siemPki = await makeTestPki(join(root, 'pki'));
const policy = readFileSync('gateway/config/samples/policy.yaml', 'utf8');

let rs: Awaited<ReturnType<typeof rsyslogReceiver>> | null = null;
const port = await freePort();
const h = await startHarness({
  policy,
  auditYaml: `audit: { dir: audit, fsync: never, values: include, checkpoint: { everyEvents: 2 }, syslog: { address: "localhost:${port}", caFile: ${siemPki.caFile}, spoolDir: spool } }`,
});
t.teardown(async () => {
  await h.stop();
  await rs?.stop();
});
// rsyslog must accept the gateway's SVID (dev CA) as a client certificate: give it both CAs. It starts after the
// gateway, so the first events are spooled and shipped once it is up.
const bothCas = join(root, 'both-cas.pem');
writeFileSync(bothCas, siemPki.caPem + h.ca.bundlePem());
rs = await rsyslogReceiver(join(root, 'rsyslog'), { ...siemPki, caFile: bothCas }, port);
await rs.start();

t.test('decisions and signed checkpoints reach the SIEM over mutual TLS', async (t) => {
  const c = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/historian'));
  t.teardown(() => c.close());
  await c.request(1, encodeRequest({ type: 'read-registers', fc: 4, address: 0, quantity: 1 }));
  await c.request(1, encodeRequest({ type: 'write-single-register', fc: 6, address: 100, value: 1 }));
  const denyAndCheckpoint = (): boolean =>
    rs !== undefined &&
    rs.lines().some((l) => l.startsWith('request.decision') && l.includes('"decision":"deny"')) &&
    rs.lines().some((l) => l.startsWith('audit.checkpoint'));
  await eventually('the denied write and a checkpoint at the SIEM', denyAndCheckpoint, {
    timeoutMs: 20_000,
    intervalMs: 200,
  }).catch(() => undefined); // asserted below
  const lines = rs?.lines() ?? [];
  t.ok(
    lines.some((l) => l.startsWith('session.open')),
    'session.open exported',
  );
  t.ok(
    lines.some((l) => l.startsWith('request.decision') && l.includes('"decision":"allow"')),
    'the allowed read',
  );
  t.ok(
    lines.some((l) => l.startsWith('request.decision') && l.includes('"decision":"deny"')),
    'the denied write',
  );
  t.ok(
    lines.some((l) => l.startsWith('audit.checkpoint')),
    'a signed checkpoint, shipped off the box',
  );
});

t.test('audit verify takes the off-box checkpoints from what rsyslog stored', async (t) => {
  const out = rs?.outFile ?? '';
  const io = memoryIo();
  t.equal(
    await auditCommand(
      ['verify', join(h.dir, 'audit'), '--checkpoint', out, '--signer', 'spiffe://plant.example/verigate'],
      io,
    ),
    0,
    io.stderr.join('\n'),
  );
  t.match(io.stdout[0], /^ok: \d+ events, \d+ checkpoints verified, [1-9]\d* off-box checkpoints matched/);
});
