/**
 * A client whose SVID chains to the bundle through an intermediate CA (leaf + intermediate sent in the
 * handshake) is admitted by the whole gateway, with the handshake guard's evidence capture installed — and
 * again when it reconnects (the verified-chain cache answers). Node 20's `getPeerX509Certificate()` hands the
 * intermediates over only once, so every server-side reader goes through identity/peer-chain.ts.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { intermediate, leaf } from '../helpers/bad-certs.js';
import { startHarness, TestMbapsClient, TD } from '../helpers/gateway-harness.js';
import { readAuditEvents } from '../helpers/handshake-clients.js';

const h = await startHarness({ policy: readFileSync('gateway/config/samples/policy.yaml', 'utf8') });
t.teardown(() => h.stop());

t.test('leaf + intermediate: admitted on every connection', async (t) => {
  const int = await intermediate(h.ca.issuerForTests());
  const m = await leaf(int.issuer, { uris: [`spiffe://${TD}/hmi/line1`] });
  const creds = {
    cert: [...m.chainDer, int.der].map((d) => derToPem(d, 'CERTIFICATE')).join(''),
    key: derToPem(m.keyDer, 'PRIVATE KEY'),
    ca: h.ca.bundlePem(),
  };
  const read = encodeRequest({ type: 'read-registers', fc: 3, address: 100, quantity: 1 });
  for (const round of [1, 2]) {
    const c = await TestMbapsClient.connect(h.port, creds);
    const res = await c.request(1, read);
    c.close();
    t.equal(res?.[0], 3, `round ${round}: FC3 answered by the PLC, not refused`);
  }
});

t.test('a chain OpenSSL refuses is still audited with the presented leaf (the guard reads it only then)', async (t) => {
  const stranger = await DevCa.create({ trustDomain: TD }); // same trust domain name, not in the bundle
  const m = await stranger.mintX509Svid({ spiffeId: `spiffe://${TD}/hmi/impostor` });
  const fingerprint = new X509Certificate(m.chainDer[0] as Buffer).fingerprint256;
  await new Promise<void>((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port: h.port,
      cert: derToPem(m.chainDer[0] as Buffer, 'CERTIFICATE'),
      key: derToPem(m.keyDer, 'PRIVATE KEY'),
      ca: h.ca.bundlePem(),
      checkServerIdentity: () => undefined,
    });
    s.on('secureConnect', () => s.write(Buffer.from([0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1])));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
  let rejected: Record<string, unknown> | undefined;
  for (let i = 0; i < 50 && rejected === undefined; i++) {
    rejected = readAuditEvents(join(h.dir, 'audit')).find(
      (e) => e.type === 'handshake.rejected' && e.fingerprint === fingerprint,
    );
    if (rejected === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  t.match(
    rejected,
    { code: 'untrusted-chain', spiffeId: `spiffe://${TD}/hmi/impostor`, idVerified: false, fingerprint },
    'refused by OpenSSL, with the claimed ID and the fingerprint as evidence',
  );
});
