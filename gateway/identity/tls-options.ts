/**
 * TLS wiring for SPIFFE mTLS [X509-SVID 5; MB-TCP-SEC]: TLS 1.2+ only, ECDHE + AEAD suites, a required
 * client certificate. No hostname check: SPIFFE authenticates the ID in the URI SAN.
 *
 * Server side, the SPIFFE verifier is the one check of the client's chain, as in go-spiffe (whose servers ask
 * Go's TLS for any client certificate and verify it with the SPIFFE verifier): OpenSSL is given no trust store
 * (`ca: []`, `rejectUnauthorized: false`) and `peerIdentityFromSocket` validates the chain against the bundle of
 * the peer ID's OWN trust domain (`verifyPeerChain`, RFC 5280 path validation) on 'secureConnection', before a
 * byte is read; the front door destroys a refused socket. OpenSSL still proves the client holds the leaf's key
 * (CertificateVerify) and refuses a handshake without it. Why not OpenSSL first, as before: it could only check
 * against the union of every trusted bundle (which the SPIFFE pass had to narrow anyway); with a store, OpenSSL
 * also appended our own CA certificate to the chain we send (its auto-chain: Node has no SSL_MODE_NO_AUTO_CHAIN),
 * which every client then had to decode — measured in bench row 6 as ~180 µs of client CPU per handshake (OpenSSL
 * 3's decoder), the whole gap to haproxy; and a refused chain's evidence could only be captured through the
 * 'keylog' event, which surfaced every session's TLS secrets into JavaScript.
 *
 * How refusals surface in Node 20 (measured, see test/integration/identity-tls.test.ts):
 * - no client certificate, unknown CA, expired, not yet valid, not an SVID: the handshake completes, then the
 *   verdict on 'secureConnection' refuses it and the socket is destroyed (the client sees the connection close:
 *   with a store, OpenSSL's own verdict also came after the handshake — Node's verify callback always continues
 *   — except for a missing certificate, which got a certificate_required alert);
 * - a client that cannot prove the leaf's key, or no shared cipher / protocol: OpenSSL fails the handshake and
 *   the server emits 'tlsClientError' → `reasonFromTlsError(err, socket)`.
 */
import { constants, type X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import { peerChain, peerLeafDer } from './peer-chain.js';
import {
  REJECT_REASONS,
  verifyPeerChain,
  type PeerVerifier,
  type PeerVerifyResult,
  type RejectReason,
} from './peer-verifier.js';
import type { Authorizer } from './authorizers.js';
import type { BundleSet } from './bundle-set.js';
import { svidPem, type X509Svid } from './x509-svid.js';

/** TLS 1.3 AEAD suites, then TLS 1.2 ECDHE with AEAD only [MB-TCP-SEC R-06..R-08: ECDHE-ECDSA-AES128-GCM-SHA256 first]. */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
export const ECDH_CURVES = 'X25519:P-256:P-384';

export interface ServerTlsExtras {
  readonly handshakeTimeoutMs?: number;
  /**
   * TLS session resumption (default off). Off: no session tickets are issued (`SSL_OP_NO_TICKET`) and, with
   * Node's server cache disabled, no session id is resumable either, so every connection presents its
   * certificate chain and is verified against the current bundles. It is also cheaper: OpenSSL's two TLS 1.3
   * tickets per connection cost about a quarter of a full handshake's server CPU and about 13 KB held per live
   * session (measured, bench/README.md "Profiles"). On: tickets valid `sessionTimeoutSec`; a resumed session
   * keeps the role it was verified with [MB-TCP-SEC] and its chain is checked again (`verifyPresented`).
   */
  readonly resumption?: boolean;
  readonly sessionTimeoutSec?: number;
}

function common(svid: X509Svid): tls.SecureContextOptions & { minVersion: tls.SecureVersion } {
  const { certPem, keyPem } = svidPem(svid);
  return {
    cert: certPem,
    key: keyPem,
    minVersion: 'TLSv1.2',
    ciphers: CIPHERS,
    ecdhCurve: ECDH_CURVES,
  };
}

/**
 * Also usable with `server.setSecureContext()` after an SVID rotation (live sessions keep their context). No
 * bundles: the SPIFFE verifier is the one chain check (header), so OpenSSL gets no trust store and neither verifies
 * the client's chain against the union of all bundles nor appends our own CA certificate to the chain we send.
 */
export function serverTlsOptions(svid: X509Svid, opts: ServerTlsExtras = {}): tls.TlsOptions {
  return {
    ...common(svid),
    ca: [],
    honorCipherOrder: true,
    requestCert: true, // [MB-TCP-SEC] mutual authentication is mandatory
    rejectUnauthorized: false,
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
    sessionTimeout: opts.sessionTimeoutSec ?? 300,
    // TLS 1.2 renegotiation adds nothing here and has a history of DoS and confusion bugs.
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | (opts.resumption === true ? 0 : constants.SSL_OP_NO_TICKET),
  };
}

/**
 * Client side: OpenSSL verifies the chain against all authorities, then `checkServerIdentity` (called by
 * Node with the detailed peer certificate) runs the SPIFFE verification and the optional authorizer
 * instead of a hostname check.
 */
export function clientTlsOptions(
  svid: X509Svid,
  bundles: BundleSet,
  opts: { authorizer?: Authorizer; now?: () => Date } = {},
): tls.ConnectionOptions {
  const now = opts.now ?? (() => new Date());
  return {
    ...common(svid),
    ca: bundles.allAuthoritiesPem(),
    rejectUnauthorized: true,
    checkServerIdentity: (_host, cert) => {
      const r = verifyPeerChain(chainFromPeerCertificate(cert), bundles, now());
      if (!r.ok) return spiffeError(r.reason, r.detail);
      const a = opts.authorizer?.(r.peer.id);
      if (a !== undefined && !a.ok) return spiffeError('unauthorized', a.reason);
      return undefined;
    },
  };
}

function spiffeError(reason: string, detail: string): Error {
  return Object.assign(new Error(`SPIFFE peer verification failed (${reason}): ${detail}`), {
    code: 'ERR_SPIFFE_PEER',
    reason,
  });
}

/** The DER chain the peer sent, leaf first (Node may append issuers it found in our `ca` store: harmless). */
export function chainFromPeerCertificate(
  cert: tls.PeerCertificate | tls.DetailedPeerCertificate | null | undefined,
): Buffer[] {
  const out: Buffer[] = [];
  let cur: tls.DetailedPeerCertificate | undefined = cert as tls.DetailedPeerCertificate | undefined;
  while (cur?.raw !== undefined && out.length < 10) {
    out.push(cur.raw);
    const next: tls.DetailedPeerCertificate | undefined = cur.issuerCertificate;
    if (next === undefined || next === cur || next.raw === undefined || next.raw.equals(cur.raw)) break;
    cur = next;
  }
  return out;
}

/**
 * Server side, on 'secureConnection': the SPIFFE verdict on the client's chain (peer-chain.ts reads it once, as
 * OpenSSL parsed it). After a full handshake a leaf verified before under the same bundles is answered by its DER
 * alone (VerifiedChainCache.getByLeaf): a path from that very leaf to its own trust domain's bundle was validated,
 * within whose validity `now` still lies, and the handshake proved the client holds the leaf's key, so the
 * intermediates sent this time change nothing [RFC 5280 6.1]. On a resumed TLS session OpenSSL keeps only the
 * peer's leaf, not the intermediates it sent, so the chain verified at the full handshake stands in for it (the
 * verifier's cache, within the resumption window) and is verified again under the current bundles.
 */
export function peerIdentityFromSocket(
  socket: tls.TLSSocket,
  bundles: BundleSet,
  now: Date,
  verifier: PeerVerifier,
): PeerVerifyResult {
  return verifySocketPeer(socket, bundles, now, verifier).result;
}

/** The verdict, and the chain it was reached on (leaf first): what a live session's re-verification takes. */
export interface SocketVerification {
  readonly result: PeerVerifyResult;
  readonly chain: readonly X509Certificate[];
}

/** `peerIdentityFromSocket`, also naming the verified chain (on a leaf hit, the one verified for that leaf). */
export function verifySocketPeer(
  socket: tls.TLSSocket,
  bundles: BundleSet,
  now: Date,
  verifier: PeerVerifier,
): SocketVerification {
  const resumed = socket.isSessionReused();
  // A full handshake proved the key of the presented leaf: one verified before needs no chain read.
  const leafDer = resumed ? null : peerLeafDer(socket);
  const known = leafDer === null ? undefined : verifier.knownChain(leafDer, bundles, now);
  if (known !== undefined) return { result: { ok: true, peer: known.verdict }, chain: known.chain };
  return verifyPresented(socket, bundles, now, verifier, resumed);
}

function verifyPresented(
  socket: tls.TLSSocket,
  bundles: BundleSet,
  now: Date,
  verifier: PeerVerifier,
  resumed: boolean,
): SocketVerification {
  const sent = peerChain(socket);
  if (sent.length === 0)
    return { result: { ok: false, reason: 'no-certificate', detail: 'the peer sent no certificate' }, chain: [] };
  const chain = resumed ? verifier.cache.chainForResumption(sent, now.getTime()) : sent;
  return { result: verifier.verify(chain, bundles, now), chain };
}

const CODE_REASONS: Readonly<Record<string, RejectReason>> = {
  CERT_HAS_EXPIRED: 'expired',
  ERR_TLS_CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted-chain',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted-chain',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted-chain',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted-chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted-chain',
  CERT_SIGNATURE_FAILURE: 'untrusted-chain',
  CERT_UNTRUSTED: 'untrusted-chain',
  CERT_CHAIN_TOO_LONG: 'untrusted-chain',
  INVALID_CA: 'untrusted-chain',
  PATH_LENGTH_EXCEEDED: 'untrusted-chain',
  // OpenSSL checks EKU/keyUsage purpose (sslclient/sslserver) before we do.
  INVALID_PURPOSE: 'bad-extended-key-usage',
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: 'no-certificate',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'no-certificate',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED: 'expired',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'untrusted-chain',
};

/** The certificate-verification reason an OpenSSL / Node error code stands for, if it is one. */
export function certificateReasonForCode(code: string): RejectReason | undefined {
  return Object.hasOwn(CODE_REASONS, code) ? CODE_REASONS[code] : undefined;
}

/**
 * Maps a TLS error (client 'error', server 'tlsClientError') to a RejectReason. Pass the server-side
 * socket too: after a verify failure Node keeps the OpenSSL code in `socket.authorizationError`.
 * Unknown errors map to 'untrusted-chain' (the peer was not authenticated).
 */
export function reasonFromTlsError(err: unknown, socket?: { authorizationError?: unknown }): RejectReason {
  const authz = socket?.authorizationError;
  if (typeof authz === 'string' && authz !== '') {
    const byAuthz = CODE_REASONS[authz];
    if (byAuthz !== undefined) return byAuthz;
  }
  const spiffeReason = (err as { reason?: unknown } | null)?.reason;
  if (typeof spiffeReason === 'string' && isRejectReason(spiffeReason)) return spiffeReason;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    const byCode = CODE_REASONS[code];
    if (byCode !== undefined) return byCode;
  }
  const msg = err instanceof Error ? err.message : '';
  if (/peer did not return a certificate|certificate required/i.test(msg)) return 'no-certificate';
  if (/certificate has expired|certificate expired/i.test(msg)) return 'expired';
  if (/not yet valid/i.test(msg)) return 'not-yet-valid';
  return 'untrusted-chain';
}

const REASONS: ReadonlySet<string> = new Set(REJECT_REASONS);

export function isRejectReason(s: string): s is RejectReason {
  return REASONS.has(s);
}
