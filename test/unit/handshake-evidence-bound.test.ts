/**
 * `handshake.rejected` evidence must survive the audit rate bound (issue 9 items 2 and 6a): a refused client
 * chooses the SPIFFE ID its leaf claims (up to 2048 bytes, [SPIFFE-ID 2.3]). Copied whole into the event, a
 * long claimed ID made the event larger than `audit.throttle.maxEventBytes`, so it was only counted in the
 * summary — an attacker could strip every one of its attempts of the fingerprint an investigator needs.
 * The gatekeeper with a real AuditThrottle (default knobs) and a fake socket refused by verification.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import type { AuditEventInput, WriteResult } from '../../gateway/audit/audit-events.js';
import { AuditThrottle } from '../../gateway/audit/audit-throttle.js';
import { HandshakeSlots } from '../../gateway/frontdoor/handshake-slots.js';
import { LiveChains } from '../../gateway/frontdoor/live-chains.js';
import { SessionGatekeeper } from '../../gateway/frontdoor/session-gatekeeper.js';
import { GatewayMetrics } from '../../gateway/observability/metrics.js';
import { leaf } from '../helpers/bad-certs.js';

const written: AuditEventInput[] = [];
let seq = 0;
const log = {
  append: (e: AuditEventInput): WriteResult => {
    written.push(e);
    return { ok: true, seq: ++seq };
  },
  healthy: () => true,
  reserveReached: () => false,
  committed: () => Promise.resolve(true),
};
// The gateway's defaults (gateway-config.ts): maxEventBytes 1536.
const throttle = new AuditThrottle({
  log,
  now: () => 0,
  options: { intervalMs: 60_000, perKey: 5, perClass: 20, maxEventBytes: 1536, maxKeys: 1024, summaryEntries: 32 },
});

const gatekeeper = new SessionGatekeeper('mbaps', {
  verifyPeer: () => ({ ok: false, reason: 'untrusted-chain', detail: 'no path to a trust anchor' }),
  tlsErrorReason: () => 'tls-error',
  gate: { admit: () => ({ ok: true }) } as never,
  sessions: {} as never,
  chains: new LiveChains(),
  audit: throttle,
  metrics: new GatewayMetrics(),
  now: () => 0,
  handshake: { slots: new HandshakeSlots({ maxPending: 8, maxPendingPerSource: 8 }), timeoutMs: 1000 },
});

function refusedWith(cert: X509Certificate): tls.TLSSocket {
  return {
    remoteAddress: '192.0.2.9',
    remotePort: 40000,
    on: () => undefined,
    destroy: () => undefined,
    getPeerX509Certificate: () => cert,
  } as unknown as tls.TLSSocket;
}

t.test(
  'a forged leaf claiming a 2000-character SPIFFE ID still leaves its own event with the fingerprint',
  async (t) => {
    const longId = `spiffe://plant.example/${'a'.repeat(2000 - 'spiffe://plant.example/'.length)}`;
    const m = await leaf(null, { uris: [longId] });
    const cert = new X509Certificate(m.chainDer[0] as Buffer);
    t.equal(gatekeeper.open(refusedWith(cert), '192.0.2.9:40000'), null, 'refused');
    const ev = written.find((e) => e.type === 'handshake.rejected') as Record<string, unknown> | undefined;
    t.ok(ev, 'written individually, not only counted in a summary');
    t.equal(ev?.['fingerprint'], cert.fingerprint256, 'the exact certificate is named');
    t.equal(ev?.['idVerified'], false);
    const claimed = String(ev?.['spiffeId']);
    t.ok(
      claimed.startsWith('spiffe://plant.example/aaa') && claimed.length <= 256,
      `the claimed ID is kept, clipped (${claimed.length} chars)`,
    );
    t.ok(Buffer.byteLength(JSON.stringify(ev)) <= 1536 - 512, 'the event leaves room under maxEventBytes');
  },
);

t.test('a normal claimed ID is reported unchanged', async (t) => {
  written.length = 0;
  const m = await leaf(null, { uris: ['spiffe://plant.example/hmi/line1'] });
  const cert = new X509Certificate(m.chainDer[0] as Buffer);
  gatekeeper.open(refusedWith(cert), '192.0.2.9:40001');
  t.match(
    written.find((e) => e.type === 'handshake.rejected'),
    { spiffeId: 'spiffe://plant.example/hmi/line1', idVerified: false, fingerprint: cert.fingerprint256 },
  );
});
