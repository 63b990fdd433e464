/**
 * A client whose SVID chains to the bundle through an intermediate CA (leaf + intermediate sent in the
 * handshake) is admitted by the whole gateway, with the handshake guard's evidence capture installed — and
 * again when it reconnects (the verified-chain cache answers). Node 20's `getPeerX509Certificate()` hands the
 * intermediates over only once, so every server-side reader goes through identity/peer-chain.ts.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { intermediate, leaf } from '../helpers/bad-certs.js';
import { startHarness, TestMbapsClient, TD } from '../helpers/gateway-harness.js';

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
