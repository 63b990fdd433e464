/**
 * The gateway's own certificate work per mTLS handshake (issue 12 item 3), apart from OpenSSL's handshake:
 * `node --import tsx bench/x509-parse.ts [handshakes]`. Not part of `npm run bench`; run it alone on an idle
 * machine. It prints:
 *  - per certificate: the DER extension reader (cert-fields.ts), OpenSSL's parse (`new X509Certificate`), the
 *    leaf fingerprint and one ECDSA P-256 signature check — the pieces a verification is made of;
 *  - per handshake, over real loopback mTLS handshakes: the time the server spends from 'secureConnection' to
 *    the SPIFFE verdict (peer-chain.ts + PeerVerifier + the evidence leaf), for a client reconnecting with the
 *    same SVID (verified-chain cache hits) and for a new SVID every time (misses: full verification).
 * Timing only; nothing is asserted.
 */
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { readCertFields } from '../gateway/identity/cert-fields.js';
import { PeerVerifier, type PeerIdentity } from '../gateway/identity/peer-verifier.js';
import { peerLeafCertificate } from '../gateway/identity/peer-chain.js';
import { clientTlsOptions, peerIdentityFromSocket, serverTlsOptions } from '../gateway/identity/tls-options.js';
import { VerifiedChainCache } from '../gateway/identity/verified-chain-cache.js';
import type { X509Svid } from '../gateway/identity/x509-svid.js';
import { makePki, TD } from '../test/helpers/pki.js';

const HANDSHAKES = Number(process.argv[2] ?? 400);

function perCall(n: number, fn: () => unknown): number {
  for (let i = 0; i < Math.min(n, 200); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1000 / n;
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

const pki = await makePki();
const gw = await pki.mint(`spiffe://${TD}/gateway`);
const client = await pki.mint(`spiffe://${TD}/hmi/line1`, { role: 'operator' });
const leafDer = client.chainDer[0] as Buffer;
const leaf = new X509Certificate(leafDer);
const caKey = pki.ca.caCertificate().publicKey;

console.log(`node ${process.version}, ${HANDSHAKES} handshakes per row\n`);
console.log('per certificate (µs)');
console.log(`  DER extension reader (cert-fields)   ${perCall(20_000, () => readCertFields(leafDer)).toFixed(1)}`);
console.log(`  new X509Certificate(der) (OpenSSL)   ${perCall(5_000, () => new X509Certificate(leafDer)).toFixed(1)}`);
console.log(
  `  fingerprint256 (fresh object)        ${perCall(5_000, () => new X509Certificate(leafDer).fingerprint256).toFixed(1)}`,
);
console.log(`  ECDSA P-256 signature check          ${perCall(2_000, () => leaf.verify(caKey)).toFixed(1)}`);

/** Handshakes against a gateway-shaped server; returns the server-side certificate work per handshake (µs). */
async function handshakes(
  svidFor: (i: number) => X509Svid,
  n: number,
): Promise<{ us: number[]; cpuPerHandshake: number; cache: VerifiedChainCache<PeerIdentity> }> {
  const verifier = new PeerVerifier(new VerifiedChainCache());
  const cache = verifier.cache;
  const us: number[] = [];
  let cpuUs = 0;
  const server = tls.createServer(serverTlsOptions(gw));
  server.on('secureConnection', (sock) => {
    sock.on('error', () => {});
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    peerLeafCertificate(sock); // the handshake guard's evidence capture
    const r = peerIdentityFromSocket(sock, pki.bundles, new Date(), verifier);
    peerLeafCertificate(sock); // the gatekeeper's evidence leaf
    us.push(Number(process.hrtime.bigint() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpuUs += c.user + c.system;
    if (!r.ok) throw new Error(`bench: refused ${r.reason}`);
    sock.end();
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const port = (server.address() as AddressInfo).port;
  for (let i = 0; i < n; i++) {
    await new Promise<void>((res, rej) => {
      const c = tls.connect({
        ...clientTlsOptions(svidFor(i), pki.bundles),
        host: '127.0.0.1',
        port,
        maxVersion: 'TLSv1.2',
      });
      c.on('data', () => {});
      c.on('error', rej);
      c.on('close', () => res());
    });
  }
  await new Promise<void>((res) => server.close(() => res()));
  return { us: us.sort((a, b) => a - b), cpuPerHandshake: cpuUs / Math.max(1, us.length), cache };
}

const fresh = await Promise.all(Array.from({ length: HANDSHAKES }, (_, i) => pki.mint(`spiffe://${TD}/hmi/c${i}`)));
console.log(
  '\nper handshake, server side, from secureConnection to verdict (µs)   wall median    p99   CPU mean   cache hits/misses',
);
for (const [name, pick] of [
  ['same SVID every time', () => client],
  ['new SVID every time', (i: number) => fresh[i] as X509Svid],
] as const) {
  const { us, cpuPerHandshake, cache } = await handshakes(pick, HANDSHAKES);
  const s = cache.stats();
  console.log(
    `  ${name.padEnd(62)} ${quantile(us, 0.5).toFixed(1).padStart(11)} ${quantile(us, 0.99).toFixed(1).padStart(6)} ${cpuPerHandshake.toFixed(1).padStart(10)}   ${s.hits}/${s.misses}`,
  );
}
