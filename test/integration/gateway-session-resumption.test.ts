/**
 * `listeners.mbaps.sessionResumption` end to end: off (the default), a client that offers the session it was
 * given gets a full handshake and presents its chain again; on, it resumes, keeps its identity [MB-TCP-SEC]
 * and is still served. Both TLS 1.2 and 1.3; `listeners.grpc.sessionResumption` likewise at the TLS level. The unit-level proof is in identity-tls.test.ts.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { eventually } from '../helpers/eventually.js';
import { startHarness, TestMbapsClient, TD } from '../helpers/gateway-harness.js';

const POLICY = readFileSync('gateway/config/samples/policy.yaml', 'utf8');
const READ = encodeRequest({ type: 'read-registers', fc: 3, address: 100, quantity: 1 });

/** Two connections, the second offering the session the first was given; whether each resumed and was served. */
async function twice(
  port: number,
  creds: { cert: string; key: string; ca: string },
  maxVersion: tls.SecureVersion,
): Promise<{ offered: boolean; reused: [boolean, boolean]; answered: [number, number] }> {
  const first = await TestMbapsClient.connect(port, creds, { maxVersion });
  const a = await first.request(1, READ);
  // TLS 1.3 tickets follow the handshake: wait (bounded) for the one the server sends
  const session = await eventually('the server to offer a session', () => first.session);
  const firstReused = first.socket.isSessionReused(); // null once closed
  first.close();
  const second = await TestMbapsClient.connect(port, creds, { maxVersion, session });
  const b = await second.request(1, READ);
  const reused: [boolean, boolean] = [firstReused, second.socket.isSessionReused()];
  second.close();
  return { offered: session.length > 0, reused, answered: [a?.[0] ?? -1, b?.[0] ?? -1] };
}

/** The gRPC listener at the TLS level (ALPN h2, no HTTP/2 spoken): whether a second connection resumes. */
async function grpcResumes(port: number, creds: { cert: string; key: string; ca: string }): Promise<boolean> {
  const open = (session?: Buffer): Promise<{ socket: tls.TLSSocket; session: () => Buffer | undefined }> =>
    new Promise((resolve, reject) => {
      let got: Buffer | undefined;
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        ...creds,
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
        ...(session ? { session } : {}),
      });
      socket.on('session', (s: Buffer) => (got = s));
      socket.once('secureConnect', () => resolve({ socket, session: () => got }));
      socket.once('error', reject);
    });
  const first = await open();
  const session = await eventually('the gRPC listener to offer a session', () => first.session());
  first.socket.destroy();
  const second = await open(session);
  const reused = second.socket.isSessionReused();
  second.socket.destroy();
  return reused;
}

t.test('default: an offered session is not resumed; every connection is verified and served', async (t) => {
  const h = await startHarness({ policy: POLICY });
  t.teardown(() => h.stop());
  t.equal(h.gateway.config.listeners.mbaps.sessionResumption, false, 'off unless configured');
  const creds = await h.mint(`spiffe://${TD}/hmi/line1`, { role: 'operator' });
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const r = await twice(h.port, creds, v);
    t.ok(r.offered, `${v}: the client offered a session`);
    t.same(r.reused, [false, false], `${v}: both connections did a full handshake`);
    t.same(r.answered, [3, 3], `${v}: both served (FC3)`);
  }
  t.equal(await grpcResumes(h.gateway.endpoints.grpc?.port ?? 0, creds), false, 'gRPC listener: full handshake');
});

t.test('sessionResumption: true — the second connection resumes and is served', async (t) => {
  const h = await startHarness({
    policy: POLICY,
    listeners: { mbaps: 'sessionResumption: true', grpc: 'sessionResumption: true' },
  });
  t.teardown(() => h.stop());
  t.equal(h.gateway.config.listeners.mbaps.sessionResumption, true);
  const creds = await h.mint(`spiffe://${TD}/hmi/line1`, { role: 'operator' });
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    const r = await twice(h.port, creds, v);
    t.same(r.reused, [false, true], `${v}: resumed`);
    t.same(r.answered, [3, 3], `${v}: both served (FC3)`);
  }
  t.equal(await grpcResumes(h.gateway.endpoints.grpc?.port ?? 0, creds), true, 'gRPC listener: resumed');
});
