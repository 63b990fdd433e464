/**
 * Verifies a peer's X.509-SVID chain [X509-SVID 4, 5], in this order:
 *  1. leaf = chain[0] (the rest are untrusted intermediates)
 *  2. exactly one URI SAN, a valid SPIFFE ID with a non-root path
 *  3. leaf rules: cA=false; keyUsage present with digitalSignature, without keyCertSign/cRLSign;
 *     EKU, if present, has serverAuth and clientAuth; no critical extension left unprocessed [RFC 5280 4.2]
 *  4. the bundle of THAT ID's trust domain (never the union: a federated CA must not mint our IDs)
 *  5. RFC 5280 path validation against that bundle only, at `now`.
 * Authorization of the ID is the caller's step (see authorizers.ts).
 *
 * Each certificate is parsed once: OpenSSL's `X509Certificate` (on the server, the very object OpenSSL parsed
 * during the handshake, from `getPeerX509Certificate()`) for signature, names, validity and fingerprint, and one
 * pass of cert-fields.ts over its DER for the extensions Node does not expose. Path validation is synchronous
 * (it runs inside TLS callbacks): `checkIssued` (names + AKI/SKI + issuer keyUsage, OpenSSL X509_check_issued)
 * and `verify` (signature). On top we check: issuers are CAs with keyCertSign, pathLenConstraint, and validity
 * of every certificate on the path. Not implemented: name constraints and policy processing (SPIRE does not
 * emit them), so a leaf or intermediate that marks such an extension critical is refused, never accepted without
 * it [RFC 5280 4.2]; and revocation (SPIFFE relies on short TTLs). The TLS servers give OpenSSL no trust store
 * (tls-options.ts): this is the one check of a client's chain, as in go-spiffe.
 * `PeerVerifier` adds an injected VerifiedChainCache (verified-chain-cache.ts) in front of all this.
 * Hostile input: never throws, returns a reason.
 */
import { X509Certificate } from 'node:crypto';
import {
  readCertFields,
  unprocessedCriticalExtension,
  OID_EKU_CLIENT_AUTH,
  OID_EKU_SERVER_AUTH,
  type CertFields,
} from './cert-fields.js';
import type { BundleSet } from './bundle-set.js';
import { modbusRoleOf } from './modbus-role.js';
import { tryParseSpiffeId, type SpiffeId } from './spiffe-id.js';
import { MAX_PATH, validatePath, type Parsed } from './path-builder.js';
import type { KnownChain, ValidityWindow, VerifiedChainCache } from './verified-chain-cache.js';

/** Why a peer chain is refused: the one table (handshake.rejected `code`, docs/reference.md). */
export const REJECT_REASONS = [
  'no-certificate',
  'no-uri-san',
  'multiple-uri-sans',
  'invalid-spiffe-id',
  'root-path-id',
  'leaf-is-ca',
  'missing-digital-signature',
  'leaf-key-cert-sign',
  'leaf-crl-sign',
  'bad-extended-key-usage',
  'no-bundle-for-trust-domain',
  'untrusted-chain',
  'expired',
  'not-yet-valid',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export interface PeerIdentity {
  readonly id: SpiffeId;
  /** Modbus/TCP Security role [MB-TCP-SEC], `null` when absent, malformed or duplicated. */
  readonly role: string | null;
  readonly notAfter: Date;
  readonly notBefore: Date;
  /** SHA-256 fingerprint of the leaf, colon-separated upper-case hex (node:crypto format). */
  readonly fingerprint256: string;
}

export type PeerVerifyResult = { ok: true; peer: PeerIdentity } | { ok: false; reason: RejectReason; detail: string };

const reject = (reason: RejectReason, detail: string): PeerVerifyResult & { ok: false } => ({
  ok: false,
  reason,
  detail,
});

/** Verifies DER certificates (leaf first), each parsed once here. No cache: see PeerVerifier. */
export function verifyPeerChain(chainDer: readonly Buffer[], bundles: BundleSet, now: Date): PeerVerifyResult {
  const leafDer = chainDer[0];
  if (leafDer === undefined || leafDer.length === 0) return reject('no-certificate', 'the peer sent no certificate');
  if (chainDer.length > MAX_PATH)
    return reject('untrusted-chain', `chain of ${chainDer.length} certificates is too long`);
  const certs: X509Certificate[] = [];
  for (const der of chainDer) {
    try {
      certs.push(new X509Certificate(der));
    } catch {
      return reject('untrusted-chain', 'a certificate in the chain is malformed');
    }
  }
  return verifyPeerCertificates(certs, bundles, now).result;
}

/** The verdict, and for a success the validity window of the verified path (what a cache may rely on). */
export interface Verification {
  readonly result: PeerVerifyResult;
  readonly window?: ValidityWindow;
}

/** Verifies already-parsed certificates (leaf first). No cache: see PeerVerifier. */
export function verifyPeerCertificates(chain: readonly X509Certificate[], bundles: BundleSet, now: Date): Verification {
  if (chain[0] === undefined) return { result: reject('no-certificate', 'the peer sent no certificate') };
  if (chain.length > MAX_PATH)
    return { result: reject('untrusted-chain', `chain of ${chain.length} certificates is too long`) };
  const parsed = withFields(chain);
  const [leaf, ...intermediates] = parsed ?? [];
  if (leaf === undefined) return { result: reject('untrusted-chain', 'a certificate in the chain is malformed') };

  const idCheck = leafIdentity(leaf.fields);
  if (!idCheck.ok) return { result: idCheck };
  const id = idCheck.id;
  const leafErr = leafRules(leaf.fields);
  if (leafErr !== null) return { result: leafErr };

  const bundle = bundles.get(id.trustDomain);
  if (bundle === undefined || bundle.authorities.length === 0) {
    return { result: reject('no-bundle-for-trust-domain', `no X.509 bundle for trust domain ${id.trustDomain.name}`) };
  }
  const path = validatePath(leaf, intermediates, bundle.authorities, now);
  if (!path.ok) return { result: path };
  const peer: PeerIdentity = {
    id,
    role: modbusRoleOf(leaf.fields.extensions),
    notAfter: new Date(leaf.cert.validTo),
    notBefore: new Date(leaf.cert.validFrom),
    fingerprint256: leaf.cert.fingerprint256,
  };
  return { result: { ok: true, peer }, window: path.window };
}

/**
 * The verifier the TLS front doors use: `verifyPeerCertificates` behind an injected VerifiedChainCache, so a
 * chain verified before under the same bundles is answered from the cache (same verdict, see that file).
 */
export class PeerVerifier {
  constructor(readonly cache: VerifiedChainCache<PeerIdentity>) {}

  verify(chain: readonly X509Certificate[], bundles: BundleSet, now: Date): PeerVerifyResult {
    const t = now.getTime();
    const hit = this.cache.get(chain, bundles, t);
    if (hit !== undefined) return { ok: true, peer: hit };
    const v = verifyPeerCertificates(chain, bundles, now);
    if (v.result.ok && v.window !== undefined) this.cache.set(chain, bundles, v.result.peer, v.window, t);
    return v.result;
  }

  /**
   * The verdict for a leaf (DER) verified before under the same bundles and within its path's validity, or
   * undefined; `knownChain` also gives the chain it was reached on (what a live session stands on). Only for a
   * peer that proved it holds the leaf's key in this very handshake (tls-options.ts).
   */
  knownLeaf(leafDer: Buffer, bundles: BundleSet, now: Date): PeerVerifyResult | undefined {
    const hit = this.knownChain(leafDer, bundles, now);
    return hit === undefined ? undefined : { ok: true, peer: hit.verdict };
  }

  /** `knownLeaf`, with the chain that was verified for that leaf. */
  knownChain(leafDer: Buffer, bundles: BundleSet, now: Date): KnownChain<PeerIdentity> | undefined {
    return this.cache.getByLeaf(leafDer, bundles, now.getTime());
  }
}

/** One pass of the DER reader per certificate; null when any is malformed. */
function withFields(chain: readonly X509Certificate[]): Parsed[] | null {
  const out: Parsed[] = [];
  for (const cert of chain) {
    const fields = readCertFields(cert.raw);
    if (fields === null) return null;
    out.push({ cert, fields });
  }
  return out;
}

/** [X509-SVID 2] exactly one URI SAN holding a SPIFFE ID with a non-root path. */
function leafIdentity(f: CertFields): { ok: true; id: SpiffeId } | { ok: false; reason: RejectReason; detail: string } {
  const uri = f.uriSans[0];
  if (uri === undefined) return { ok: false, reason: 'no-uri-san', detail: 'the leaf has no URI SAN' };
  if (f.uriSans.length > 1)
    return { ok: false, reason: 'multiple-uri-sans', detail: `the leaf has ${f.uriSans.length} URI SANs` };
  const r = tryParseSpiffeId(uri);
  if (!r.ok)
    return {
      ok: false,
      reason: 'invalid-spiffe-id',
      detail: `URI SAN ${JSON.stringify(uri.slice(0, 256))}: ${r.reason}`,
    };
  if (r.id.isRoot())
    return { ok: false, reason: 'root-path-id', detail: `${uri} is a trust-domain ID, not a workload ID` };
  return { ok: true, id: r.id };
}

/** [X509-SVID 4.1, 4.3, 4.4] leaf basicConstraints, keyUsage and extendedKeyUsage. */
function leafRules(f: CertFields): PeerVerifyResult | null {
  if (f.isCa) return reject('leaf-is-ca', 'the leaf has basicConstraints cA=true');
  if (f.keyUsage === null || !f.keyUsage.digitalSignature)
    return reject('missing-digital-signature', 'the leaf keyUsage lacks digitalSignature');
  if (f.keyUsage.keyCertSign) return reject('leaf-key-cert-sign', 'the leaf keyUsage has keyCertSign');
  if (f.keyUsage.cRLSign) return reject('leaf-crl-sign', 'the leaf keyUsage has cRLSign');
  const eku = f.extKeyUsage;
  if (eku !== null && !(eku.includes(OID_EKU_SERVER_AUTH) && eku.includes(OID_EKU_CLIENT_AUTH))) {
    return reject(
      'bad-extended-key-usage',
      `the leaf EKU ${eku.join(',') || '(empty)'} lacks serverAuth and clientAuth`,
    );
  }
  const critical = unprocessedCriticalExtension(f);
  if (critical !== null)
    return reject('untrusted-chain', `the leaf has critical extension ${critical}, not processed here`);
  return null;
}
