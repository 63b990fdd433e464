/**
 * Issue 9 item 6a — `handshake.rejected` is evidence an investigator can use [IEC 62443-3-3 SR 2.8]: real
 * handshakes against a running gateway that fail for each reason produce an event with the client's real
 * `address:port` (never `?:0`, also when OpenSSL refused), a reason code that separates protocol version,
 * cipher, plaintext on the TLS port, missing certificate and timeout from chain failures (`untrusted-chain`
 * stays the alert for forged chains), and — when a certificate was presented — its SPIFFE ID (marked
 * unverified unless it was) and SHA-256 fingerprint.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { encodeAdu, encodeRequest } from '../../protocols/modbus/index.js';
import { leaf } from '../helpers/bad-certs.js';
import { startHarness } from '../helpers/gateway-harness.js';
import { readAuditEvents, type AuditEvent } from '../helpers/handshake-clients.js';
import type { Minted } from '../helpers/pki.js';
import { when } from '../helpers/when.js';

const TD = 'plant.example';
const HOUR = 3_600_000;
const h = await startHarness({
  policy: `version: 1\ntrustDomain: ${TD}\nrules:\n  - id: r\n    principals: [spiffe://${TD}/hmi/line1]\n    devices: [turbine-1]\n    allow:\n      - { access: read, tables: [holding], addresses: 0-99 }\n`,
  listeners: { mbaps: 'handshakeTimeout: 500ms', grpc: 'handshakeTimeout: 500ms' },
  auditYaml: 'audit: { dir: audit, fsync: never, values: include, throttle: { perKey: 1000000, perClass: 1000000 } }',
});
t.teardown(() => h.stop());
/** 'event' each time an audit event is in the file (the log's subscribers see it once written). */
const audited = new EventEmitter();
t.teardown(h.gateway.audit.subscribe({ event: () => audited.emit('event') }));
const ports = { mbaps: h.port, grpc: h.gateway.endpoints.grpc?.port ?? 0 };
const good = await h.mint(`spiffe://${TD}/hmi/line1`);
const ca = h.ca.bundlePem();

const pem = (m: Minted): { cert: string; key: string } => ({
  cert: m.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''),
  key: derToPem(m.keyDer, 'PRIVATE KEY'),
});
const fingerprintOf = (m: Minted): string => new X509Certificate(m.chainDer[0] as Buffer).fingerprint256;

/** One TLS attempt; resolves with the client's local port once the gateway has closed the connection. */
function tlsAttempt(port: number, opts: tls.ConnectionOptions): Promise<number> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, checkServerIdentity: () => undefined, ...opts });
    let local = -1;
    s.once('connect', () => (local = s.localPort ?? -1));
    s.once('secureConnect', () =>
      s.write(encodeAdu(1, 1, encodeRequest({ type: 'read-registers', fc: 3, address: 0, quantity: 1 }))),
    );
    s.on('error', () => {});
    s.once('close', () => resolve(local));
  });
}

/** Raw bytes (or nothing) on the TLS port; resolves with the local port once the gateway closed it. */
function rawAttempt(port: number, bytes: Buffer | null): Promise<number> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let local = -1;
    s.once('connect', () => {
      local = s.localPort ?? -1;
      if (bytes) s.write(bytes);
    });
    s.on('error', () => {});
    s.once('close', () => resolve(local));
  });
}

/** The one handshake.rejected event naming this client port on this listener. */
async function eventFor(transport: 'mbaps' | 'grpc', localPort: number): Promise<AuditEvent | undefined> {
  const peer = `127.0.0.1:${localPort}`;
  // The client saw the close; the gateway writes the event on its own side of the loopback connection.
  const hits = await when(audited, 'event', () => {
    const found = readAuditEvents(join(h.dir, 'audit')).filter(
      (e) => e.type === 'handshake.rejected' && e.peer === peer && e.transport === transport,
    );
    return found.length > 0 ? found : null;
  });
  return hits.length === 1 ? hits[0] : undefined;
}

interface Case {
  readonly name: string;
  readonly transport: 'mbaps' | 'grpc';
  readonly attempt: (port: number) => Promise<number>;
  readonly code: string;
  /** The certificate the client presented, when the event must name it. */
  readonly presented?: { cert: Minted; spiffeId?: string; verified: boolean };
}

const rogue = await (await DevCa.create({ trustDomain: TD })).mintX509Svid({ spiffeId: `spiffe://${TD}/hmi/line1` });
const expired = await leaf(h.ca.issuerForTests(), {
  uris: [`spiffe://${TD}/hmi/line1`],
  notBefore: new Date(Date.now() - 2 * HOUR),
  notAfter: new Date(Date.now() - HOUR),
});
const twoIds = await leaf(h.ca.issuerForTests(), { uris: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] });
const goodMinted: Minted = { chainDer: [Buffer.from(new X509Certificate(good.cert).raw)], keyDer: Buffer.alloc(0) };

const cases: Case[] = [
  {
    name: 'a TLS 1.1-only client',
    transport: 'mbaps',
    code: 'tls-version',
    attempt: (p) =>
      tlsAttempt(p, { ...good, ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
  },
  {
    name: 'no cipher suite in common (RSA key exchange, CBC)',
    transport: 'mbaps',
    code: 'no-shared-cipher',
    attempt: (p) => tlsAttempt(p, { ...good, ca, maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA' }),
  },
  {
    name: 'plain Modbus/TCP bytes on the TLS port',
    transport: 'mbaps',
    code: 'not-tls',
    attempt: (p) => rawAttempt(p, encodeAdu(1, 1, Buffer.from([3, 0, 0, 0, 1]))),
  },
  {
    name: 'an HTTP request on the TLS port',
    transport: 'grpc',
    code: 'not-tls',
    attempt: (p) => rawAttempt(p, Buffer.from('GET / HTTP/1.1\r\nHost: gw\r\n\r\n')),
  },
  {
    name: 'TLS 1.2 without a client certificate',
    transport: 'mbaps',
    code: 'no-certificate',
    attempt: (p) => tlsAttempt(p, { ca, maxVersion: 'TLSv1.2' }),
  },
  {
    name: 'TLS 1.3 without a client certificate',
    transport: 'grpc',
    code: 'no-certificate',
    attempt: (p) => tlsAttempt(p, { ca, minVersion: 'TLSv1.3', ALPNProtocols: ['h2'] }),
  },
  {
    name: 'a connection that never speaks',
    transport: 'mbaps',
    code: 'handshake-timeout',
    attempt: (p) => rawAttempt(p, null),
  },
  {
    name: 'a connection that never speaks (gRPC)',
    transport: 'grpc',
    code: 'handshake-timeout',
    attempt: (p) => rawAttempt(p, null),
  },
  {
    name: 'a forged chain: a rogue CA minting our IDs',
    transport: 'mbaps',
    code: 'untrusted-chain',
    presented: { cert: rogue, spiffeId: `spiffe://${TD}/hmi/line1`, verified: false },
    attempt: (p) => tlsAttempt(p, { ...pem(rogue), ca }),
  },
  {
    name: 'a forged chain over TLS 1.3 on the gRPC port',
    transport: 'grpc',
    code: 'untrusted-chain',
    presented: { cert: rogue, spiffeId: `spiffe://${TD}/hmi/line1`, verified: false },
    attempt: (p) => tlsAttempt(p, { ...pem(rogue), ca, minVersion: 'TLSv1.3', ALPNProtocols: ['h2'] }),
  },
  {
    name: 'an expired SVID of our own CA',
    transport: 'mbaps',
    code: 'expired',
    presented: { cert: expired, spiffeId: `spiffe://${TD}/hmi/line1`, verified: false },
    attempt: (p) => tlsAttempt(p, { ...pem(expired), ca }),
  },
  {
    name: 'an SVID with two URI SANs (refused by the SPIFFE verifier after OpenSSL)',
    transport: 'mbaps',
    code: 'multiple-uri-sans',
    presented: { cert: twoIds, spiffeId: `spiffe://${TD}/a`, verified: false },
    attempt: (p) => tlsAttempt(p, { ...pem(twoIds), ca }),
  },
  {
    name: 'a valid SVID without ALPN h2 on the gRPC port (verified, then refused)',
    transport: 'grpc',
    code: 'no-alpn-h2',
    presented: { cert: goodMinted, spiffeId: `spiffe://${TD}/hmi/line1`, verified: true },
    attempt: (p) => tlsAttempt(p, { ...good, ca }),
  },
];

for (const c of cases) {
  t.test(`${c.transport}: ${c.name} → ${c.code}`, async (t) => {
    const localPort = await c.attempt(ports[c.transport]);
    t.ok(localPort > 0, 'connected');
    const e = await eventFor(c.transport, localPort);
    t.ok(e, `exactly one handshake.rejected for 127.0.0.1:${localPort}`);
    if (!e) return;
    t.equal(e.peer, `127.0.0.1:${localPort}`, 'the real address and port, not ?:0');
    t.equal(e.code, c.code);
    if (c.presented) {
      t.equal(e.fingerprint, fingerprintOf(c.presented.cert), 'SHA-256 fingerprint of the presented leaf');
      t.equal(e.spiffeId, c.presented.spiffeId, 'the SPIFFE ID the leaf carries');
      t.equal(
        e.idVerified,
        c.presented.verified,
        c.presented.verified ? 'marked verified' : 'marked as an unverified claim',
      );
    } else {
      t.equal(e.fingerprint, undefined, 'no certificate, no fingerprint');
      t.equal(e.spiffeId, undefined);
    }
  });
}

t.test('a client that distrusts the gateway certificate is not reported as an untrusted client chain', async (t) => {
  const otherCa = await DevCa.create({ trustDomain: TD });
  const localPort = await tlsAttempt(ports.mbaps, { ...good, ca: otherCa.bundlePem() });
  const e = await eventFor('mbaps', localPort);
  t.ok(e, 'audited');
  t.not(e?.code, 'untrusted-chain');
  t.match(e?.code, /^(client-refused-gateway-cert|handshake-aborted)$/);
});

t.test('the reason codes are counted in verigate_handshake_rejections_total', async (t) => {
  const m = await h.gateway.metrics.handshakeRejections.get();
  const count = (reason: string): number => m.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  for (const code of [
    'tls-version',
    'no-shared-cipher',
    'not-tls',
    'no-certificate',
    'handshake-timeout',
    'untrusted-chain',
    'expired',
  ]) {
    t.ok(count(code) >= 1, `${code}: ${count(code)}`);
  }
  t.equal(count('untrusted-chain'), 2, 'untrusted-chain counts the two forged chains only');
});
