/**
 * SPIFFE mTLS over REAL TLS handshakes on 127.0.0.1: the rejection matrix, a good client, client-side
 * verification of the server, and a setSecureContext() hot swap.
 */
import t from 'tap';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  clientTlsOptions,
  peerIdentityFromSocket,
  reasonFromTlsError,
  serverTlsOptions,
  type ServerTlsExtras,
} from '../../gateway/identity/tls-options.js';
import type { BundleSet } from '../../gateway/identity/bundle-set.js';
import { peerChain, releasePeerChain } from '../../gateway/identity/peer-chain.js';
import { PeerVerifier } from '../../gateway/identity/peer-verifier.js';
import { VerifiedChainCache } from '../../gateway/identity/verified-chain-cache.js';
import type { X509Svid } from '../../gateway/identity/x509-svid.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { authorizeId } from '../../gateway/identity/authorizers.js';
import { intermediate, leaf, tlsMatrix, verifierOnly } from '../helpers/bad-certs.js';
import { makePki, TD, type Minted } from '../helpers/pki.js';

type Outcome = { ok: true; id: string; role: string | null } | { ok: false; reason: string; detail: string };

interface TestServer {
  server: tls.Server;
  port: number;
  next(): Promise<Outcome>;
  close(): Promise<void>;
}

/** A gateway-shaped server: verify before reading a byte, destroy on failure, echo otherwise. */
async function startServer(
  svid: X509Svid,
  bundles: BundleSet,
  extras: ServerTlsExtras = { handshakeTimeoutMs: 5_000, resumption: true },
): Promise<TestServer> {
  const outcomes: Outcome[] = [];
  const waiters: Array<(o: Outcome) => void> = [];
  const push = (o: Outcome) => {
    const w = waiters.shift();
    if (w) w(o);
    else outcomes.push(o);
  };
  const server = tls.createServer(serverTlsOptions(svid, extras));
  const verifier = new PeerVerifier(new VerifiedChainCache());
  const live = new Set<tls.TLSSocket>();
  server.on('secureConnection', (sock) => {
    live.add(sock);
    sock.on('close', () => live.delete(sock));
    sock.on('error', () => {});
    const r = peerIdentityFromSocket(sock, bundles, new Date(), verifier);
    if (!r.ok) {
      push({ ok: false, reason: r.reason, detail: r.detail });
      sock.destroy();
      return;
    }
    push({ ok: true, id: r.peer.id.toString(), role: r.peer.role });
    sock.on('data', (d) => sock.write(`echo:${String(d)}`));
  });
  server.on('tlsClientError', (err, sock) =>
    push({ ok: false, reason: reasonFromTlsError(err, sock), detail: err.message }),
  );
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    next: () =>
      new Promise<Outcome>((res, rej) => {
        const o = outcomes.shift();
        if (o) return res(o);
        const waiter = (v: Outcome) => {
          clearTimeout(timer);
          res(v);
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          rej(new Error('no server outcome within 5 s'));
        }, 5_000);
        waiters.push(waiter);
      }),
    close: async () => {
      for (const s of live) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
}

function rawClientOptions(m: Minted | null, bundles: BundleSet): tls.ConnectionOptions {
  return {
    ...(m === null
      ? {}
      : { cert: m.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''), key: derToPem(m.keyDer, 'PRIVATE KEY') }),
    ca: bundles.allAuthoritiesPem(),
    checkServerIdentity: () => undefined,
  };
}

/** Connects, sends one line when secure, resolves with what came back (or the error) once closed/answered. */
function attempt(
  port: number,
  opts: tls.ConnectionOptions,
): Promise<{ data: string; error: (Error & { code?: string; reason?: string }) | null; socket: tls.TLSSocket }> {
  return new Promise((res) => {
    let data = '';
    let error: (Error & { code?: string }) | null = null;
    const socket = tls.connect({ host: '127.0.0.1', port, ...opts });
    const timer = setTimeout(() => socket.destroy(new Error('client timeout')), 5_000);
    socket.on('secureConnect', () => socket.write('ping'));
    socket.on('data', (d) => {
      data += String(d);
      if (data.includes('echo:ping')) {
        clearTimeout(timer);
        res({ data, error, socket });
      }
    });
    socket.on('error', (e: Error) => (error = e));
    socket.on('close', () => {
      clearTimeout(timer);
      res({ data, error, socket });
    });
  });
}

const pki = await makePki();
const serverSvid = await pki.mint(`spiffe://${TD}/gateway`);
const clientSvid = await pki.mint(`spiffe://${TD}/hmi/line1`, { role: 'operator' });
const srv = await startServer(serverSvid, pki.bundles);
t.teardown(() => srv.close());

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  t.test(`${version}: a good client is accepted with its SPIFFE ID and role`, async (t) => {
    const r = await attempt(srv.port, {
      ...clientTlsOptions(clientSvid, pki.bundles, { authorizer: authorizeId(`spiffe://${TD}/gateway`) }),
      maxVersion: version,
    });
    t.equal(r.error, null);
    t.equal(r.data, 'echo:ping');
    t.equal(r.socket.getProtocol(), version);
    t.match(r.socket.getCipher().name, /GCM|CHACHA20/, 'AEAD suite');
    t.same(await srv.next(), { ok: true, id: `spiffe://${TD}/hmi/line1`, role: 'operator' });
    r.socket.destroy();
  });

  t.test(`${version}: no client certificate → no-certificate, refused before a byte is read`, async (t) => {
    const r = await attempt(srv.port, { ...rawClientOptions(null, pki.bundles), maxVersion: version });
    t.equal(r.data, '', 'no application data reaches the client: it sees the connection close');
    t.match(await srv.next(), { ok: false, reason: 'no-certificate' });
  });

  t.test(`${version}: the server sends its SVID chain, not the CA it chains to`, async (t) => {
    // no `ca` on this client: Node would complete the chain it shows from the client's own store
    const { ca: _ca, ...noStore } = rawClientOptions(clientSvid, pki.bundles);
    const r = await attempt(srv.port, { ...noStore, rejectUnauthorized: false, maxVersion: version });
    t.equal(r.data, 'echo:ping');
    const sent = r.socket.getPeerCertificate(true);
    t.equal(sent.raw.equals(serverSvid.chainDer[0]!), true, 'the leaf');
    t.ok(
      sent.issuerCertificate === undefined || sent.issuerCertificate === sent || !sent.issuerCertificate.raw,
      'nothing after it: OpenSSL has no store to append our CA from',
    );
    await srv.next();
    r.socket.destroy();
  });

  for (const c of [...tlsMatrix, ...verifierOnly]) {
    t.test(`${version}: ${c.name} → ${c.reason}`, async (t) => {
      const m = await c.build(pki);
      const r = await attempt(srv.port, { ...rawClientOptions(m, pki.bundles), maxVersion: version });
      t.equal(r.data, '', 'no application data reaches the client');
      t.match(await srv.next(), { ok: false, reason: c.reason }, `refused with ${c.reason}`);
    });
  }
}

t.test('TLS 1.1 is refused', async (t) => {
  const r = await attempt(srv.port, {
    ...clientTlsOptions(clientSvid, pki.bundles),
    minVersion: 'TLSv1',
    maxVersion: 'TLSv1.1',
    ciphers: 'DEFAULT:@SECLEVEL=0',
  });
  t.equal(r.data, '');
  t.ok(r.error);
  await srv.next(); // the server logs the failed handshake too
});

t.test('the client verifies the server by SPIFFE rules, not hostname', async (t) => {
  // A server holding an SVID for our ID minted by the federated CA: OpenSSL trusts it (union), SPIFFE does not.
  const forged = await leaf(pki.otherCa.issuerForTests(), { uris: [`spiffe://${TD}/gateway`] });
  const { parseX509Svid } = await import('../../gateway/identity/x509-svid.js');
  const evil = await startServer(parseX509Svid(Buffer.concat(forged.chainDer), forged.keyDer), pki.bundles);
  t.teardown(() => evil.close());
  const r = await attempt(evil.port, clientTlsOptions(clientSvid, pki.bundles));
  t.equal(r.data, '');
  t.match(r.error, { code: 'ERR_SPIFFE_PEER', reason: 'untrusted-chain' });
  t.equal(reasonFromTlsError(r.error), 'untrusted-chain');

  const wrongId = await attempt(
    srv.port,
    clientTlsOptions(clientSvid, pki.bundles, { authorizer: authorizeId(`spiffe://${TD}/someone-else`) }),
  );
  t.equal(wrongId.data, '');
  t.match(wrongId.error, { code: 'ERR_SPIFFE_PEER', message: /unexpected ID/ });
  // servername is irrelevant: any name is accepted when the SPIFFE ID verifies
  const named = await attempt(srv.port, {
    ...clientTlsOptions(clientSvid, pki.bundles),
    servername: 'not-the-host.example',
  });
  t.equal(named.data, 'echo:ping');
  named.socket.destroy();
  // Drain the servers' view of these connections (srv saw the last two, the forged server the first).
  // Whether a server logs them as accepted or aborted depends on how far the handshake got before the
  // client refused, so only their arrival is awaited.
  await srv.next();
  await srv.next();
  await evil.next();
});

t.test('client side: an expired server certificate maps to expired', async (t) => {
  const old = await leaf(pki.ca.issuerForTests(), {
    uris: [`spiffe://${TD}/gateway`],
    notBefore: new Date(Date.now() - 7200_000),
    notAfter: new Date(Date.now() - 3600_000),
  });
  const { parseX509Svid } = await import('../../gateway/identity/x509-svid.js');
  const s = await startServer(parseX509Svid(Buffer.concat(old.chainDer), old.keyDer), pki.bundles);
  t.teardown(() => s.close());
  const r = await attempt(s.port, clientTlsOptions(clientSvid, pki.bundles));
  t.match(r.error, { code: 'CERT_HAS_EXPIRED' });
  t.equal(reasonFromTlsError(r.error), 'expired');
});

t.test('setSecureContext() hot swap: an open session survives, new handshakes see the new SVID', async (t) => {
  const a = await pki.mint(`spiffe://${TD}/gateway`);
  const b = await pki.mint(`spiffe://${TD}/gateway`);
  const s = await startServer(a, pki.bundles);
  t.teardown(() => s.close());
  const first = await attempt(s.port, clientTlsOptions(clientSvid, pki.bundles));
  t.equal(first.data, 'echo:ping');
  t.equal(first.socket.getPeerX509Certificate()?.fingerprint256, a.chain[0]!.fingerprint256, 'old session on SVID A');
  await s.next();

  s.server.setSecureContext(serverTlsOptions(b));

  const second = await attempt(s.port, clientTlsOptions(clientSvid, pki.bundles));
  t.equal(second.data, 'echo:ping');
  t.equal(
    second.socket.getPeerX509Certificate()?.fingerprint256,
    b.chain[0]!.fingerprint256,
    'new handshake on SVID B',
  );
  t.same(await s.next(), { ok: true, id: `spiffe://${TD}/hmi/line1`, role: 'operator' });

  const again = await new Promise<string>((res, rej) => {
    first.socket.once('data', (d) => res(String(d)));
    first.socket.once('close', () => rej(new Error('old session closed')));
    first.socket.write('still-there');
  });
  t.equal(again, 'echo:still-there', 'the session opened before the swap keeps working');
  t.equal(first.socket.destroyed, false, 'still open');
  first.socket.destroy();
  second.socket.destroy();
});

/**
 * One connection that writes a byte and waits for the echo, offering `session` when given; whether it resumed,
 * and the session the server gave it (the next round offers that).
 */
function echoOnce(
  port: number,
  opts: tls.ConnectionOptions,
  version: tls.SecureVersion,
  session: Buffer | undefined,
): Promise<{ reused: boolean; session: Buffer | undefined }> {
  return new Promise((res, rej) => {
    let given: Buffer | undefined;
    const sock = tls.connect({
      host: '127.0.0.1',
      port,
      ...opts,
      maxVersion: version,
      ...(session ? { session } : {}),
    });
    sock.on('session', (s: Buffer) => (given = s));
    sock.on('data', () => {
      const reused = sock.isSessionReused();
      sock.end();
      res({ reused, session: given ?? session });
    });
    sock.on('secureConnect', () => sock.write('x'));
    sock.on('error', rej);
  });
}

t.test('a resumed TLS session keeps its SPIFFE ID and role [MB-TCP-SEC]', async (t) => {
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    let session: Buffer | undefined;
    for (const round of [0, 1]) {
      const r = await echoOnce(srv.port, clientTlsOptions(clientSvid, pki.bundles), version, session);
      session = r.session;
      t.equal(r.reused, round === 1, `${version} round ${round}: reused=${r.reused}`);
      t.same(await srv.next(), { ok: true, id: `spiffe://${TD}/hmi/line1`, role: 'operator' });
    }
  }
});

t.test('resumption is off by default: an offered session gets a full handshake, verified again', async (t) => {
  const plain = await startServer(serverSvid, pki.bundles, { handshakeTimeoutMs: 5_000 });
  t.teardown(() => plain.close());
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    let session: Buffer | undefined;
    for (const round of [0, 1]) {
      const offered = session !== undefined;
      const r = await echoOnce(plain.port, clientTlsOptions(clientSvid, pki.bundles), version, session);
      session = r.session;
      t.equal(offered, round === 1, `${version} round ${round}: the client offers its session on the second round`);
      t.equal(r.reused, false, `${version} round ${round}: full handshake`);
      t.same(await plain.next(), { ok: true, id: `spiffe://${TD}/hmi/line1`, role: 'operator' });
    }
  }
});

t.test('a resumed session re-verifies a chain with an intermediate (OpenSSL keeps only the leaf)', async (t) => {
  const int = await intermediate(pki.ca.issuerForTests());
  const viaInt = await leaf(int.issuer, { uris: [`spiffe://${TD}/plc-gw/7`] });
  const opts: tls.ConnectionOptions = {
    cert: [...viaInt.chainDer, int.der].map((d) => derToPem(d, 'CERTIFICATE')).join(''),
    key: derToPem(viaInt.keyDer, 'PRIVATE KEY'),
    ca: pki.bundles.allAuthoritiesPem(),
    checkServerIdentity: () => undefined,
  };
  for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
    let session: Buffer | undefined;
    for (const round of [0, 1]) {
      const r = await echoOnce(srv.port, opts, version, session);
      session = r.session;
      t.equal(r.reused, round === 1, `${version} round ${round}`);
      t.same(
        await srv.next(),
        { ok: true, id: `spiffe://${TD}/plc-gw/7`, role: null },
        `${version} round ${round} verified`,
      );
    }
  }
});

t.test('releasePeerChain drops the memo: the decided socket no longer holds its parsed chain', async (t) => {
  const int = await intermediate(pki.ca.issuerForTests());
  const viaInt = await leaf(int.issuer, { uris: [`spiffe://${TD}/plc-gw/8`] });
  const server = tls.createServer(serverTlsOptions(serverSvid));
  const seen = new Promise<{ first: number; again: number; after: number }>((res) =>
    server.once('secureConnection', (sock) => {
      const first = peerChain(sock).length;
      const again = peerChain(sock).length;
      releasePeerChain(sock);
      // Node hands the intermediates over once: a read after the release sees the leaf alone
      res({ first, again, after: peerChain(sock).length });
      sock.destroy();
    }),
  );
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  t.teardown(() => new Promise<void>((res) => server.close(() => res())));
  const opts = {
    cert: [...viaInt.chainDer, int.der].map((d) => derToPem(d, 'CERTIFICATE')).join(''),
    key: derToPem(viaInt.keyDer, 'PRIVATE KEY'),
    ca: pki.bundles.allAuthoritiesPem(),
    checkServerIdentity: () => undefined,
  };
  const sock = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ...opts });
  sock.on('error', () => {});
  t.teardown(() => sock.destroy());
  const r = await seen;
  t.ok(r.first >= 2, `leaf and intermediate read once (${r.first})`);
  t.equal(r.again, r.first, 'remembered while undecided');
  t.equal(r.after, 1, 'released: only the leaf is left to read');
});

t.test('after a full handshake a leaf verified before is answered by its DER: the chain is not read', async (t) => {
  const int = await intermediate(pki.ca.issuerForTests());
  const viaInt = await leaf(int.issuer, { uris: [`spiffe://${TD}/plc-gw/9`] });
  const verifier = new PeerVerifier(new VerifiedChainCache());
  const server = tls.createServer(serverTlsOptions(serverSvid));
  const results: { ok: boolean; unread: number }[] = [];
  server.on('secureConnection', (sock) => {
    const r = peerIdentityFromSocket(sock, pki.bundles, new Date(), verifier);
    // read only now: a chain read during verification would leave the leaf alone after the release
    releasePeerChain(sock);
    results.push({ ok: r.ok, unread: peerChain(sock).length });
    sock.end();
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  t.teardown(() => new Promise<void>((res) => server.close(() => res())));
  const opts = {
    host: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    cert: [...viaInt.chainDer, int.der].map((d) => derToPem(d, 'CERTIFICATE')).join(''),
    key: derToPem(viaInt.keyDer, 'PRIVATE KEY'),
    ca: pki.bundles.allAuthoritiesPem(),
    checkServerIdentity: () => undefined,
  };
  for (let i = 0; i < 2; i++)
    await new Promise<void>((res) => {
      const c = tls.connect(opts);
      c.on('error', () => res());
      c.on('close', () => res());
      c.resume();
    });
  t.same(results, [
    { ok: true, unread: 1 },
    { ok: true, unread: 2 },
  ]);
  t.match(verifier.cache.stats(), { hits: 1, misses: 1 }, 'first verified in full, then known by its leaf');
});

t.test('reasonFromTlsError mapping', async (t) => {
  const table: Array<[unknown, { authorizationError?: unknown } | undefined, string]> = [
    [
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      { authorizationError: 'CERT_HAS_EXPIRED' },
      'expired',
    ],
    [
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      { authorizationError: 'CERT_NOT_YET_VALID' },
      'not-yet-valid',
    ],
    [
      Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      { authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
      'untrusted-chain',
    ],
    [Object.assign(new Error('x'), { code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }), undefined, 'untrusted-chain'],
    [Object.assign(new Error('x'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), undefined, 'untrusted-chain'],
    [Object.assign(new Error('x'), { code: 'CERT_HAS_EXPIRED' }), undefined, 'expired'],
    [Object.assign(new Error('x'), { code: 'CERT_NOT_YET_VALID' }), undefined, 'not-yet-valid'],
    [Object.assign(new Error('x'), { code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' }), undefined, 'no-certificate'],
    [Object.assign(new Error('x'), { code: 'ERR_SPIFFE_PEER', reason: 'leaf-is-ca' }), undefined, 'leaf-is-ca'],
    [new Error('tlsv13 alert certificate required'), undefined, 'no-certificate'],
    [new Error('something else'), undefined, 'untrusted-chain'],
    [null, undefined, 'untrusted-chain'],
  ];
  for (const [err, sock, want] of table)
    t.equal(
      reasonFromTlsError(err, sock),
      want,
      `${(err as Error | null)?.message ?? 'null'} ${JSON.stringify(sock)} → ${want}`,
    );
});
