/**
 * Evidence about the certificate a refused client presented [IEC 62443-3-3 SR 2.8: who]: the SPIFFE ID its
 * leaf CLAIMS and the leaf's SHA-256 fingerprint. For a refused chain the ID is unauthenticated — it is what
 * the attacker wrote — so the event also says whether it was verified; the fingerprint identifies the exact
 * certificate for the investigation (and for blocking it) either way.
 * Hostile input: a malformed leaf yields the fingerprint only; never throws.
 */
import type { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import { readCertFields } from '../identity/cert-fields.js';
import { peerLeafCertificate } from '../identity/peer-chain.js';
import { tryParseSpiffeId } from '../identity/spiffe-id.js';

/**
 * A claimed ID is clipped to this many characters (the last one `~`, never part of a SPIFFE ID): the client
 * chooses it (up to 2048 bytes, [SPIFFE-ID 2.3]), and whole it would push the event past
 * `audit.throttle.maxEventBytes`, so it would only be counted in a summary and lose its fingerprint.
 */
export const MAX_CLAIMED_ID_CHARS = 256;

export interface PresentedCertificate {
  /** The first URI SAN that is a syntactically valid SPIFFE ID, as presented (not necessarily verified), clipped. */
  readonly spiffeId?: string;
  /** SHA-256 of the leaf DER, colon-separated upper-case hex (node:crypto's `fingerprint256`). */
  readonly fingerprint: string;
}

export function presentedCertificate(leaf: X509Certificate | null | undefined): PresentedCertificate | null {
  if (!leaf) return null;
  let fingerprint: string;
  try {
    fingerprint = leaf.fingerprint256;
  } catch {
    return null;
  }
  const uris = readCertFields(leaf.raw)?.uriSans ?? [];
  const spiffeId = uris.find((u) => tryParseSpiffeId(u).ok);
  if (spiffeId === undefined) return { fingerprint };
  return {
    spiffeId: spiffeId.length <= MAX_CLAIMED_ID_CHARS ? spiffeId : `${spiffeId.slice(0, MAX_CLAIMED_ID_CHARS - 1)}~`,
    fingerprint,
  };
}

/**
 * The leaf a live TLS socket's peer presented, or null (none, or the TLS state is already gone). Read through
 * identity/peer-chain.ts, which reads the peer's certificates once per socket (Node 20 hands the intermediates
 * over only once).
 */
export function peerLeaf(socket: tls.TLSSocket): X509Certificate | null {
  return peerLeafCertificate(socket);
}
