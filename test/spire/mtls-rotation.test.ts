/**
 * SPIFFE mTLS with real SPIRE SVIDs: a TLS server built from `serverTlsOptions(svid)` on the
 * X509Source, swapped with `server.setSecureContext()` on every 'update' [docs/architecture.md "Request path" 1]. A
 * client holding a SPIRE-minted SVID (`spire-server x509 mint`) is verified by `peerIdentityFromSocket`; its open
 * session keeps working across an SVID rotation, and a new handshake presents the rotated certificate.
 */
import t from 'tap';
import tls from 'node:tls';
import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { authorizeId } from '../../gateway/identity/authorizers.js';
import { BundleSet, X509Bundle } from '../../gateway/identity/bundle-set.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { PeerVerifier, type PeerVerifyResult } from '../../gateway/identity/peer-verifier.js';
import { VerifiedChainCache } from '../../gateway/identity/verified-chain-cache.js';
import { clientTlsOptions, peerIdentityFromSocket, serverTlsOptions } from '../../gateway/identity/tls-options.js';
import { X509Source } from '../../gateway/identity/x509-source.js';
import { parseX509Svid, type X509Svid } from '../../gateway/identity/x509-svid.js';
import { readPemCerts, startTestLab, uidSelector, TRUST_DOMAIN } from '../helpers/spire.js';
import { eventually } from '../helpers/eventually.js';
import { when } from '../helpers/when.js';

const lab = await startTestLab(t);
const GW_ID = `spiffe://${TRUST_DOMAIN}/verigate/gateway`;
const HMI_ID = `spiffe://${TRUST_DOMAIN}/hmi/panel-1`;
// Short TTL: the agent rotates the gateway SVID every few seconds [docs/architecture.md "SPIRE facts"].
await lab.createEntry({ spiffeId: GW_ID, selectors: [uidSelector()], x509SvidTtlSeconds: 30 });
const source = await X509Source.create({ address: `unix://${lab.agentSocket}`, timeoutMs: 45_000 });
t.teardown(() => source.close());

// ---- the server: SVID from the source, hot-swapped on rotation, peers verified per connection ----
const verdicts: PeerVerifyResult[] = [];
const verifier = new PeerVerifier(new VerifiedChainCache());
const live = new Set<tls.TLSSocket>();
const server = tls.createServer(serverTlsOptions(source.getX509Svid()), (socket) => {
  live.add(socket);
  socket.once('close', () => live.delete(socket));
  const r = peerIdentityFromSocket(socket, source.getBundleSet(), new Date(), verifier);
  verdicts.push(r);
  if (!r.ok) {
    socket.destroy();
    return;
  }
  const peer = r.peer.id.toString();
  socket.on('data', (d: Buffer) => socket.write(`pong ${peer} ${d.toString().trim()}\n`));
});
server.on('tlsClientError', () => undefined);
const swaps: string[] = [];
source.on('update', (svid) => {
  server.setSecureContext(serverTlsOptions(svid));
  swaps.push(serial(svid));
});
await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
const port = (server.address() as { port: number }).port;
t.teardown(async () => {
  for (const s of live) s.destroy();
  await new Promise<void>((res) => server.close(() => res()));
});

function serial(svid: X509Svid): string {
  return svid.chain[0]?.serialNumber ?? '';
}

// ---- the client: an SVID minted by the SPIRE server (not from the agent, not rotated) ----
const minted = await lab.mintX509(HMI_ID, 600, join(lab.dir, 'hmi'));
const mintedPem = await readFile(minted.certPath, 'utf8');
const clientSvid = parseX509Svid(
  Buffer.concat(readPemCerts(mintedPem).map((c) => c.raw)),
  createPrivateKey(await readFile(minted.keyPath, 'utf8')).export({ type: 'pkcs8', format: 'der' }),
);
const clientBundles = BundleSet.of([X509Bundle.fromPem(TRUST_DOMAIN, await readFile(minted.bundlePath, 'utf8'))]);

async function connect(): Promise<tls.TLSSocket> {
  const opts = clientTlsOptions(clientSvid, clientBundles, { authorizer: authorizeId(GW_ID) });
  return new Promise((res, rej) => {
    const s = tls.connect({ ...opts, host: '127.0.0.1', port }, () => res(s));
    s.once('error', rej);
  });
}

function ask(socket: tls.TLSSocket, msg: string): Promise<string> {
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`no answer to ${msg}`)), 5000);
    socket.once('data', (d: Buffer) => {
      clearTimeout(timer);
      res(d.toString().trim());
    });
    socket.write(`${msg}\n`);
  });
}

t.test('a SPIRE-minted client SVID is verified by peerIdentityFromSocket', async (t) => {
  const a = await connect();
  t.teardown(() => a.destroy());
  t.equal(await ask(a, 'hello'), `pong ${HMI_ID} hello`, 'the server saw the HMI identity');
  const v = verdicts.at(-1);
  t.ok(v?.ok, 'peer verified');
  if (v?.ok) {
    t.equal(v.peer.id.toString(), HMI_ID, 'SPIFFE ID of the minted SVID');
    t.equal(v.peer.id.trustDomain.name, TRUST_DOMAIN);
    t.equal(v.peer.fingerprint256, readPemCerts(mintedPem)[0]?.fingerprint256, 'fingerprint of the minted leaf');
  }
  t.equal(
    a.getPeerCertificate().serialNumber,
    serial(source.getX509Svid()),
    'the server presents the current agent SVID',
  );
});

t.test('an open session survives rotation; a new handshake presents the new certificate', async (t) => {
  const a = await connect();
  t.teardown(() => a.destroy());
  const before = a.getPeerCertificate();
  t.equal(await ask(a, 'one'), `pong ${HMI_ID} one`);
  // Wait until the source rotated AND the server swapped its context to a different certificate.
  await eventually('an SVID rotation', () => swaps.some((s) => s !== before.serialNumber), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  t.ok(!a.destroyed, 'the old session is still open');
  t.equal(await ask(a, 'two'), `pong ${HMI_ID} two`, 'and still carries requests after the rotation');
  t.equal(a.getPeerCertificate().serialNumber, before.serialNumber, 'the live session keeps its certificate');

  const b = await connect();
  t.teardown(() => b.destroy());
  const after = b.getPeerCertificate();
  t.not(after.serialNumber, before.serialNumber, 'new handshake: new serial');
  t.not(after.fingerprint256, before.fingerprint256, 'new handshake: new fingerprint');
  t.equal(after.serialNumber, swaps.at(-1), 'the certificate the server last swapped in');
  t.match(after.subjectaltname ?? '', `URI:${GW_ID}`, 'same gateway identity');
  t.equal(await ask(b, 'three'), `pong ${HMI_ID} three`);
});

t.test('a plant.example SVID from a CA outside the SPIRE bundle is refused', async (t) => {
  // Same trust domain, same ID, but signed by an unrelated CA: only SPIRE's bundle makes an ID genuine.
  const rogue = await DevCa.create({ trustDomain: TRUST_DOMAIN });
  const forged = await rogue.mintX509Svid({ spiffeId: HMI_ID, ttlSeconds: 600 });
  const forgedSvid = parseX509Svid(Buffer.concat(forged.chainDer), forged.keyDer);
  const before = verdicts.length;
  const refused = when(server, 'secureConnection', () => verdicts.length > before); // its own event, not a poll
  const opts = clientTlsOptions(forgedSvid, clientBundles, { authorizer: authorizeId(GW_ID) });
  const outcome = await new Promise<string>((res) => {
    const s = tls.connect({ ...opts, host: '127.0.0.1', port }, () => {
      // The handshake completes (OpenSSL has no store; the SPIFFE verifier is the chain check), then the server
      // refuses the chain before reading a byte and closes.
      s.once('close', () => res('closed-after-connect'));
      s.once('data', () => res('answered'));
      s.write('x\n');
    });
    s.once('error', () => res('error'));
  });
  t.not(outcome, 'answered', `the forged client got no answer (${outcome})`);
  await refused;
  t.match(verdicts.at(-1), { ok: false, reason: 'untrusted-chain' }, 'refused: not issued by the SPIRE bundle');
});
