/**
 * Issue 9 item 7b — when the gateway's own SVID fails closed (Workload API gone and the last SVID past its
 * NotAfter), the listeners stop offering it: every new connection on both TLS ports is refused at once and
 * audited as `gateway-identity-unavailable` (no handshake is completed with an expired certificate), /readyz
 * answers 503, and service resumes as soon as a fresh SVID arrives. A session opened before keeps running on
 * its own peer's checks (its SVID expiry still ends it).
 * The gateway follows a Workload API this test runs (the dev issuer), stopped and restarted. The gateway runs on
 * fake timers: its SVID expires when the test advances the clock past NotAfter, not after a wait.
 */
import t from 'tap';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { DevIssuer } from '../../gateway/identity/dev-issuer.js';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';
import { grpcUnary, readAuditEvents } from '../helpers/handshake-clients.js';
import { when } from '../helpers/when.js';

const TD = 'plant.example';
const GW = `spiffe://${TD}/verigate`;
const sockDir = mkdtempSync(join(tmpdir(), 'vg-wl-'));
t.teardown(() => rmSync(sockDir, { recursive: true, force: true }));
const socketPath = join(sockDir, 'agent.sock');
const ca = await DevCa.create({ trustDomain: TD });
let issuer = await DevIssuer.start({ socketPath, ca, spiffeId: GW, ttlSeconds: 60 });
const timers = new FakeTimers(Date.now());

const h = await startHarness({
  policy: `version: 1\ntrustDomain: ${TD}\nadmins: [spiffe://${TD}/ops/**]\nrules:\n  - id: r\n    principals: [spiffe://${TD}/hmi/line1]\n    devices: [turbine-1]\n    allow:\n      - { access: read, tables: [holding], addresses: 0-99 }\n`,
  identityYaml: `identity: { source: workload-api, socket: "unix://${socketPath}", startupTimeout: 10s }`,
  ca,
  auditYaml: 'audit: { dir: audit, fsync: never, values: include, throttle: { perKey: 1000000, perClass: 1000000 } }',
  timers,
});
// The agent goes away right after start-up (before its first rotation at half the 60 s life).
await issuer.close();
t.teardown(async () => {
  await h.stop();
  await issuer.close();
});
// Clients' SVIDs outlive any fake time the test advances (the gateway ends a session at its peer's NotAfter).
const hmi = await h.mint(`spiffe://${TD}/hmi/line1`, { ttlSeconds: 86_400 });
const lead = await h.mint(`spiffe://${TD}/ops/lead`, { ttlSeconds: 86_400 });
const grpcPort = h.gateway.endpoints.grpc?.port ?? 0;
const metricsPort = h.gateway.endpoints.metrics?.port ?? 0;
const read = encodeRequest({ type: 'read-registers', fc: 3, address: 0, quantity: 1 });

const readyz = async (): Promise<{
  status: number;
  body: { checks?: { svid?: { ok: boolean; detail?: string } } };
}> => {
  const r = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  return { status: r.status, body: (await r.json()) as never };
};

/**
 * A TLS attempt on `port`: did the handshake complete, and what local port did it use? The client accepts any
 * server certificate (even an expired one), so only the gateway's own refusal keeps it from completing.
 */
function handshake(
  port: number,
  creds: { cert: string; key: string; ca: string },
  alpn?: string[],
): Promise<{ secured: boolean; localPort: number; serverCert: string | null }> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ...creds,
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
    let localPort = -1;
    let secured = false;
    let serverCert: string | null = null;
    s.once('connect', () => (localPort = s.localPort ?? -1));
    s.once('secureConnect', () => {
      secured = true;
      serverCert = s.getPeerX509Certificate()?.validTo ?? null;
      s.destroy();
    });
    s.on('error', () => {});
    s.once('close', () => resolve({ secured, localPort, serverCert }));
  });
}

let live: TestMbapsClient;

t.test('while the SVID is valid: served, ready', async (t) => {
  live = await TestMbapsClient.connect(h.port, hmi);
  t.same([...((await live.request(1, read)) ?? [])].slice(0, 2), [3, 2]);
  t.equal((await readyz()).status, 200);
});

t.test(
  'SVID failed closed: new connections refused on both ports, /readyz 503, a live session keeps its checks',
  async (t) => {
    const source = h.gateway.identity.source;
    await when(source, 'state', () => source.state() === 'stale'); // the watch saw the agent's socket go
    timers.advance(source.getX509Svid().notAfter.getTime() - timers.now() - 1);
    t.equal(source.state(), 'stale', 'served until NotAfter');
    timers.advance(2);
    t.equal(source.state(), 'failed-closed', 'failed closed once past NotAfter');
    const r = await readyz();
    t.equal(r.status, 503);
    t.match(r.body.checks?.svid, { ok: false, detail: 'failed-closed' });

    const mb = await handshake(h.port, hmi);
    t.notOk(mb.secured, 'mbaps: no handshake completed (the expired certificate is never offered)');
    const gr = await handshake(grpcPort, lead, ['h2']);
    t.notOk(gr.secured, 'gRPC: no handshake completed');
    const raw = await new Promise<number>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: h.port });
      let p = -1;
      s.once('connect', () => (p = s.localPort ?? -1));
      s.on('error', () => {});
      s.once('close', () => resolve(p)); // closed by the gateway at once: no data sent, no timer needed
    });
    const events = readAuditEvents(join(h.dir, 'audit')).filter((e) => e.type === 'handshake.rejected');
    for (const [transport, port] of [
      ['mbaps', mb.localPort],
      ['grpc', gr.localPort],
      ['mbaps', raw],
    ] as const) {
      t.match(
        events.filter((e) => e.peer === `127.0.0.1:${port}`),
        [{ code: 'gateway-identity-unavailable', transport }],
        `${transport} 127.0.0.1:${port} audited once`,
      );
    }
    const m = await h.gateway.metrics.handshakeRejections.get();
    t.ok((m.values.find((v) => v.labels.reason === 'gateway-identity-unavailable')?.value ?? 0) >= 3, 'counted');
    t.equal(
      await h.gateway.metrics.pendingHandshakes.get().then((g) => g.values.reduce((a, v) => a + v.value, 0)),
      0,
      'no slot held',
    );

    // The established session was verified with the client's SVID; it is not ended by the gateway's own state.
    t.same([...((await live.request(1, read)) ?? [])].slice(0, 2), [3, 2], 'the session opened before still works');
  },
);

t.test('a fresh SVID arrives: service and readiness resume', async (t) => {
  issuer = await DevIssuer.start({ socketPath, ca, spiffeId: GW, ttlSeconds: 86_400 });
  // The watch reconnects on a retry (linear 1 s steps, at most 30 s of the gateway's fake time): fire the armed
  // one (advance by the cap) and await its outcome — the state turning ok, or the next retry armed after a
  // failure. The gRPC channel under the watch has its own reconnect backoff on real time (grpc-js): until it
  // reconnects, attempts fail fast; the rounds stay well inside the fresh SVID's day of life.
  const source = h.gateway.identity.source;
  while (source.state() !== 'ok') {
    timers.advance(30_000);
    const done = new AbortController();
    await Promise.race([once(source, 'state', { signal: done.signal }), timers.armed()]);
    done.abort();
  }
  t.equal((await readyz()).status, 200, 'ready again');
  const c = await TestMbapsClient.connect(h.port, hmi);
  t.same([...((await c.request(1, read)) ?? [])].slice(0, 2), [3, 2], 'mbaps served again');
  const served = h.gateway.identity.source.getX509Svid().notAfter.getTime();
  t.ok(served > Date.now() + 60_000, 'with the fresh SVID');
  c.close();
  const g = await grpcUnary(grpcPort, lead, '/verigate.v1.Admin/ListSessions', Buffer.alloc(0), '127.0.0.1');
  t.equal(g.status, 0, 'gRPC served again');
  const hs = await handshake(h.port, hmi);
  t.ok(
    hs.secured && hs.serverCert !== null && new Date(hs.serverCert).getTime() > Date.now() + 60_000,
    'the certificate offered is the fresh one',
  );
  live.close();
});
