/**
 * End to end: a trust bundle change ends the live sessions whose chain no longer verifies, on both TLS front
 * doors, instead of leaving them open until their SVID's NotAfter (gateway/frontdoor/live-chains.ts). The gateway
 * follows a Workload API this test runs (the dev issuer) that federates other.org; the test then drops that
 * federation: the other.org sessions (Modbus/TCP Security and gRPC) are closed and audited `bundle-revoked`, the
 * plant.example session keeps being served. An SVID rotation alone (same bundles) rechecks nothing.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { DevIssuer } from '../../gateway/identity/dev-issuer.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';
import { readAuditEvents } from '../helpers/handshake-clients.js';
import { when } from '../helpers/when.js';

const TD = 'plant.example';
const OTHER = 'other.org';
const sockDir = mkdtempSync(join(tmpdir(), 'vg-wl-'));
t.teardown(() => rmSync(sockDir, { recursive: true, force: true }));
const socketPath = join(sockDir, 'agent.sock');
const [ca, otherCa] = await Promise.all([DevCa.create({ trustDomain: TD }), DevCa.create({ trustDomain: OTHER })]);
const issuer = await DevIssuer.start({
  socketPath,
  ca,
  spiffeId: `spiffe://${TD}/verigate`,
  federatedBundles: { [`spiffe://${OTHER}`]: otherCa.bundleDer() },
});
const logs: { msg?: string; revoked?: { identity: string; reason: string }[] }[] = [];
const h = await startHarness({
  policy: `version: 1\ntrustDomain: ${TD}\nrules:\n  - id: r\n    principals: [spiffe://${TD}/hmi/line1]\n    devices: [turbine-1]\n    allow:\n      - { access: read, tables: [holding], addresses: 0-99 }\n`,
  identityYaml: `identity: { source: workload-api, socket: "unix://${socketPath}", startupTimeout: 10s }`,
  ca,
  auditYaml: 'audit: { dir: audit, fsync: never, values: include, throttle: { perKey: 1000000, perClass: 1000000 } }',
  logLevel: 'info',
  logSink: (line) => logs.push(JSON.parse(line) as never),
});
t.teardown(async () => {
  await h.stop();
  await issuer.close();
});
const sessions = h.gateway.sessions;
const source = h.gateway.identity.source;
const read = encodeRequest({ type: 'read-registers', fc: 3, address: 0, quantity: 1 });
const PARTNER = `spiffe://${OTHER}/scada/1`;
const partnerSvid = await otherCa.mintX509Svid({ spiffeId: PARTNER, ttlSeconds: 3600 });
const partner = {
  cert: partnerSvid.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''),
  key: derToPem(partnerSvid.keyDer, 'PRIVATE KEY'),
  ca: ca.bundlePem(),
};
const bundleLogs = (): typeof logs => logs.filter((l) => l.msg?.startsWith('trust bundles changed') === true);

/** A gRPC-port TLS connection (ALPN h2): the session opens at the handshake, before any HTTP/2. */
function grpcConnection(): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port: h.gateway.endpoints.grpc?.port ?? 0,
      ...partner,
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    s.once('secureConnect', () => resolve(s));
    s.resume(); // read, so the gateway's close is seen
    s.once('error', reject);
  });
}

t.test('dropping a federated trust domain closes its live sessions on both listeners', async (t) => {
  const local = await TestMbapsClient.connect(h.port, await h.mint(`spiffe://${TD}/hmi/line1`));
  const mbaps = await TestMbapsClient.connect(h.port, partner);
  const grpc = await grpcConnection();
  const grpcClosed = new Promise<void>((r) => grpc.once('close', () => r()));
  grpc.on('error', () => undefined);
  await when(sessions, 'added', () => sessions.countFor(PARTNER) === 2);
  t.same([...((await local.request(1, read)) ?? [])].slice(0, 2), [3, 2], 'served before');

  const rotated = when(source, 'update', () => true);
  await issuer.rotateNow(); // a new SVID, the same bundles
  await rotated;
  await new Promise((r) => setImmediate(r));
  t.same(bundleLogs(), [], 'an SVID rotation alone rechecks nothing');

  const partnerIds: string[] = [...sessions.all()].filter((s) => s.peer.id === PARTNER).map((s) => s.id);
  await issuer.setFederatedBundles({}); // other.org is no longer trusted
  await Promise.all([mbaps.closed, grpcClosed]);
  await when(sessions, 'removed', () => sessions.countFor(PARTNER) === 0);
  t.pass('both other.org connections closed by the gateway');

  t.same([...((await local.request(1, read)) ?? [])].slice(0, 2), [3, 2], 'the plant.example session is still served');
  h.gateway.audit.head(); // writes the staged events
  const closes = readAuditEvents(join(h.dir, 'audit')).filter(
    (e) => e.type === 'session.close' && partnerIds.includes(String(e['session'])),
  );
  t.match(
    closes.map((e) => ({ identity: e['identity'], reason: e['reason'] })),
    [
      { identity: PARTNER, reason: 'bundle-revoked' },
      { identity: PARTNER, reason: 'bundle-revoked' },
    ],
    'each audited as session.close, reason bundle-revoked',
  );
  t.match(bundleLogs(), [{ revoked: [{ identity: PARTNER, reason: 'no-bundle-for-trust-domain' }] }]);
  local.socket.destroy();
});
