/**
 * The certificates a TLS peer presented, leaf first, as OpenSSL parsed them during the handshake — read ONCE
 * per socket and remembered for that socket. Why once: in Node 20, `getPeerX509Certificate()` hands over the
 * peer's intermediates destructively (X509Certificate::New deletes them from the SSL's peer chain as it links
 * `issuerCertificate`), so a second call sees the leaf alone and a chain with an intermediate would no longer
 * verify. Everyone on the server side (handshake-guard evidence, peer verification) goes through here.
 * The memo is a WeakMap keyed by the socket; the front door releases it once it has decided on the peer
 * (`releasePeerChain`), so an admitted session does not hold the parsed chain for its whole life (each
 * certificate is an OpenSSL X509 plus its DER copy: a few KB per idle session, measured in bench row 7).
 */
import type { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';

/** Certificates past this many are ignored (the verifier refuses chains longer than 8 anyway). */
const MAX_CERTS = 10;

const read = new WeakMap<tls.TLSSocket, readonly X509Certificate[]>();

export function peerChain(socket: tls.TLSSocket): readonly X509Certificate[] {
  const known = read.get(socket);
  if (known !== undefined) return known;
  const chain: X509Certificate[] = [];
  try {
    for (let c = socket.getPeerX509Certificate(); c !== undefined && chain.length < MAX_CERTS; c = c.issuerCertificate)
      chain.push(c);
  } catch {
    return []; // the TLS state is already gone
  }
  if (chain.length > 0) read.set(socket, chain); // before the handshake there is nothing yet: do not pin "none"
  return chain;
}

/**
 * The presented leaf's DER without reading the chain (null: none, or the TLS state is gone). The abbreviated
 * `getPeerCertificate()` copies the leaf alone and leaves the intermediates in place for a later `peerChain`.
 */
export function peerLeafDer(socket: tls.TLSSocket): Buffer | null {
  const known = read.get(socket);
  if (known !== undefined) return known[0]?.raw ?? null;
  try {
    const raw = socket.getPeerCertificate(false)?.raw as Buffer | undefined;
    return raw !== undefined && raw.length > 0 ? raw : null;
  } catch {
    return null;
  }
}

/**
 * Drops the memo for `socket`: call once nothing will read the chain again (the peer was verified and admitted
 * or refused). A later `peerChain` would see the leaf alone (the intermediates were handed over already).
 */
export function releasePeerChain(socket: tls.TLSSocket): void {
  read.delete(socket);
}

/** The presented leaf, or null. */
export function peerLeafCertificate(socket: tls.TLSSocket): X509Certificate | null {
  return peerChain(socket)[0] ?? null;
}
