/**
 * Verifies a peer's X.509-SVID chain [X509-SVID 4, 5], in this order:
 *  1. leaf = chain[0] (the rest are untrusted intermediates)
 *  2. exactly one URI SAN, a valid SPIFFE ID with a non-root path
 *  3. leaf rules: cA=false; keyUsage present with digitalSignature, without keyCertSign/cRLSign;
 *     EKU, if present, has serverAuth and clientAuth
 *  4. the bundle of THAT ID's trust domain (never the union: a federated CA must not mint our IDs)
 *  5. RFC 5280 path validation against that bundle only, at `now`.
 * Authorization of the ID is the caller's step (see authorizers.ts).
 *
 * Why node:crypto and not pkijs for step 5: pkijs' CertificateChainValidationEngine is async (WebCrypto),
 * while this verifier runs inside TLS callbacks (`checkServerIdentity`, per-connection setup) where a
 * synchronous answer is required. node:crypto gives synchronous `checkIssued` (names + AKI/SKI + issuer
 * keyUsage, OpenSSL X509_check_issued) and `verify` (signature). On top we check: issuers are CAs with
 * keyCertSign, pathLenConstraint, and validity of every certificate on the path. Not implemented: name
 * constraints and policy processing (SPIRE does not emit them) and revocation (SPIFFE relies on short TTLs).
 * Hostile input: never throws, returns a reason.
 */
import { X509Certificate } from 'node:crypto';
import { readCertFields, OID_EKU_CLIENT_AUTH, OID_EKU_SERVER_AUTH, type CertFields } from './cert-fields.js';
import type { BundleSet } from './bundle-set.js';
import { extractModbusRole } from './modbus-role.js';
import { tryParseSpiffeId, type SpiffeId } from './spiffe-id.js';

export type RejectReason =
  | 'no-certificate'
  | 'no-uri-san'
  | 'multiple-uri-sans'
  | 'invalid-spiffe-id'
  | 'root-path-id'
  | 'leaf-is-ca'
  | 'missing-digital-signature'
  | 'leaf-key-cert-sign'
  | 'leaf-crl-sign'
  | 'bad-extended-key-usage'
  | 'no-bundle-for-trust-domain'
  | 'untrusted-chain'
  | 'expired'
  | 'not-yet-valid';

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

/** Longest chain we try to build; real SVID chains are 1–3 certificates. */
const MAX_PATH = 8;

const reject = (reason: RejectReason, detail: string): PeerVerifyResult => ({ ok: false, reason, detail });

export function verifyPeerChain(chainDer: readonly Buffer[], bundles: BundleSet, now: Date): PeerVerifyResult {
  const leafDer = chainDer[0];
  if (leafDer === undefined || leafDer.length === 0) return reject('no-certificate', 'the peer sent no certificate');
  if (chainDer.length > MAX_PATH) return reject('untrusted-chain', `chain of ${chainDer.length} certificates is too long`);
  const parsed = parseAll(chainDer);
  const leafFields = readCertFields(leafDer);
  if (parsed === null || leafFields === null) return reject('untrusted-chain', 'a certificate in the chain is malformed');
  const [leaf, ...intermediates] = parsed;
  if (leaf === undefined) return reject('no-certificate', 'the peer sent no certificate');

  const idCheck = leafIdentity(leafFields);
  if (!idCheck.ok) return idCheck;
  const id = idCheck.id;
  const leafErr = leafRules(leafFields);
  if (leafErr !== null) return leafErr;

  const bundle = bundles.get(id.trustDomain);
  if (bundle === undefined || bundle.authorities.length === 0) {
    return reject('no-bundle-for-trust-domain', `no X.509 bundle for trust domain ${id.trustDomain.name}`);
  }
  const pathErr = validatePath(leaf, intermediates, bundle.authorities, now);
  if (pathErr !== null) return pathErr;
  return {
    ok: true,
    peer: {
      id,
      role: extractModbusRole(leafDer),
      notAfter: new Date(leaf.cert.validTo),
      notBefore: new Date(leaf.cert.validFrom),
      fingerprint256: leaf.cert.fingerprint256,
    },
  };
}

interface Parsed {
  readonly cert: X509Certificate;
  readonly fields: CertFields;
}

function parseAll(chainDer: readonly Buffer[]): Parsed[] | null {
  const out: Parsed[] = [];
  for (const der of chainDer) {
    const fields = readCertFields(der);
    if (fields === null) return null;
    try {
      out.push({ cert: new X509Certificate(der), fields });
    } catch {
      return null;
    }
  }
  return out;
}

/** [X509-SVID 2] exactly one URI SAN holding a SPIFFE ID with a non-root path. */
function leafIdentity(f: CertFields): { ok: true; id: SpiffeId } | { ok: false; reason: RejectReason; detail: string } {
  const uri = f.uriSans[0];
  if (uri === undefined) return { ok: false, reason: 'no-uri-san', detail: 'the leaf has no URI SAN' };
  if (f.uriSans.length > 1) return { ok: false, reason: 'multiple-uri-sans', detail: `the leaf has ${f.uriSans.length} URI SANs` };
  const r = tryParseSpiffeId(uri);
  if (!r.ok) return { ok: false, reason: 'invalid-spiffe-id', detail: `URI SAN ${JSON.stringify(uri.slice(0, 256))}: ${r.reason}` };
  if (r.id.isRoot()) return { ok: false, reason: 'root-path-id', detail: `${uri} is a trust-domain ID, not a workload ID` };
  return { ok: true, id: r.id };
}

/** [X509-SVID 4.1, 4.3, 4.4] leaf basicConstraints, keyUsage and extendedKeyUsage. */
function leafRules(f: CertFields): PeerVerifyResult | null {
  if (f.isCa) return reject('leaf-is-ca', 'the leaf has basicConstraints cA=true');
  if (f.keyUsage === null || !f.keyUsage.digitalSignature) return reject('missing-digital-signature', 'the leaf keyUsage lacks digitalSignature');
  if (f.keyUsage.keyCertSign) return reject('leaf-key-cert-sign', 'the leaf keyUsage has keyCertSign');
  if (f.keyUsage.cRLSign) return reject('leaf-crl-sign', 'the leaf keyUsage has cRLSign');
  const eku = f.extKeyUsage;
  if (eku !== null && !(eku.includes(OID_EKU_SERVER_AUTH) && eku.includes(OID_EKU_CLIENT_AUTH))) {
    return reject('bad-extended-key-usage', `the leaf EKU ${eku.join(',') || '(empty)'} lacks serverAuth and clientAuth`);
  }
  return null;
}

/**
 * Depth-first path building from the leaf through the peer's intermediates to one of `anchors`.
 * A signature-valid path whose certificates are all within validity wins; otherwise the first
 * signature-valid path's time error is reported; with no signature-valid path: untrusted-chain.
 */
function validatePath(leaf: Parsed, intermediates: readonly Parsed[], anchors: readonly X509Certificate[], now: Date): PeerVerifyResult | null {
  let firstTimeError: PeerVerifyResult | null = null;
  const search = (path: Parsed[], used: ReadonlySet<number>): boolean => {
    const cur = path[path.length - 1] as Parsed;
    for (const anchor of anchors) {
      if (!issues(anchor, cur.cert)) continue;
      const timeErr = checkTimes([...path.map((p) => p.cert), anchor], now);
      if (timeErr === null) return true;
      firstTimeError ??= timeErr;
    }
    if (path.length >= MAX_PATH) return false;
    for (let i = 0; i < intermediates.length; i++) {
      const cand = intermediates[i] as Parsed;
      if (used.has(i) || !canIssue(cand, path.length - 1) || !issues(cand.cert, cur.cert)) continue;
      if (search([...path, cand], new Set([...used, i]))) return true;
    }
    return false;
  };
  if (search([leaf], new Set())) return null;
  return firstTimeError ?? reject('untrusted-chain', 'no path from the leaf to an authority of its own trust domain bundle');
}

/** [RFC 5280 6.1.4 (k), (l), (n)] an intermediate must be a CA, allowed to sign certs, within pathLen. */
function canIssue(p: Parsed, intermediatesBelow: number): boolean {
  if (!p.fields.isCa) return false;
  if (p.fields.keyUsage !== null && !p.fields.keyUsage.keyCertSign) return false;
  return p.fields.pathLen === null || intermediatesBelow <= p.fields.pathLen;
}

function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function checkTimes(path: readonly X509Certificate[], now: Date): PeerVerifyResult | null {
  const t = now.getTime();
  for (const [i, c] of path.entries()) {
    const who = i === 0 ? 'the leaf' : i === path.length - 1 ? 'the trust anchor' : `intermediate ${i}`;
    if (t > new Date(c.validTo).getTime()) return reject('expired', `${who} expired at ${new Date(c.validTo).toISOString()}`);
    if (t < new Date(c.validFrom).getTime()) return reject('not-yet-valid', `${who} is not valid before ${new Date(c.validFrom).toISOString()}`);
  }
  return null;
}
