/**
 * The X.509 fields the SPIFFE rules need that Node 20's `X509Certificate` does not give: its `keyUsage` returns
 * the *extended* key usages, KeyUsage bits, pathLenConstraint and custom extensions are not exposed, and
 * `subjectAltName` is a formatted string that has had escaping bugs (CVE-2021-44532) — so the URI SANs are read
 * from the DER. Everything else (signature, validity, names, issuer match, fingerprint) is OpenSSL's, through
 * node:crypto. One pass over the DER, no cache: it costs a few microseconds (bench/x509-parse.ts).
 * Hostile input: never throws, returns `null` when the DER is malformed.
 */
import {
  TAG,
  bitStringBits,
  booleanValue,
  children,
  contents,
  oidString,
  readTlv,
  smallUnsigned,
  type Tlv,
} from './der-reader.js';

export const OID_SUBJECT_ALT_NAME = '2.5.29.17';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_EXT_KEY_USAGE = '2.5.29.37';
export const OID_EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
/** Modbus/TCP Security role [MB-TCP-SEC R-21]; may repeat (a repeat makes the role NULL, see modbus-role.ts). */
const OID_MODBUS_ROLE = '1.3.6.1.4.1.50316.802.1';

export interface RawExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** Contents of extnValue (the DER of the extension's own value). */
  readonly value: Buffer;
}

export interface KeyUsageBits {
  readonly digitalSignature: boolean;
  readonly keyEncipherment: boolean;
  readonly keyAgreement: boolean;
  readonly keyCertSign: boolean;
  readonly cRLSign: boolean;
}

export interface CertFields {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  readonly isCa: boolean;
  readonly pathLen: number | null;
  /** null when the KeyUsage extension is absent. */
  readonly keyUsage: KeyUsageBits | null;
  /** null when the ExtendedKeyUsage extension is absent. */
  readonly extKeyUsage: readonly string[] | null;
  readonly extensions: readonly RawExtension[];
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue } [RFC 5280 4.1]. */
export interface TbsParts {
  /** The whole tbsCertificate TLV (what the issuer signed). */
  readonly tbs: Tlv;
  /** The subject Name TLV (what a child certificate must carry, byte for byte, as its issuer). */
  readonly subject: Tlv;
  /** The SubjectPublicKeyInfo TLV. */
  readonly spki: Tlv;
  /** The `[3]` extensions wrapper, when present. */
  readonly extensions: Tlv | null;
}

const GN_DNS = 0x82; // [2] IMPLICIT IA5String
const GN_URI = 0x86; // [6] IMPLICIT IA5String

/** Splits a certificate into the parts above; null when it is not a well-formed certificate. */
export function readTbsParts(der: Uint8Array): TbsParts | null {
  const cert = readTlv(der, 0);
  if (cert === null || cert.tag !== TAG.SEQUENCE || cert.end !== der.length) return null;
  const top = children(der, cert);
  const tbs = top?.[0];
  if (top?.length !== 3 || tbs === undefined || tbs.tag !== TAG.SEQUENCE) return null;
  const f = children(der, tbs);
  if (f === null) return null;
  const v = f[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version, absent for v1
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo [RFC 5280 4.1.2]
  const [serial, alg, issuer, validity, subject, spki] = f.slice(v, v + 6);
  if (
    serial?.tag !== TAG.INTEGER ||
    alg?.tag !== TAG.SEQUENCE ||
    issuer?.tag !== TAG.SEQUENCE ||
    validity?.tag !== TAG.SEQUENCE
  )
    return null;
  if (subject?.tag !== TAG.SEQUENCE || spki?.tag !== TAG.SEQUENCE) return null;
  const extensions = f.slice(v + 6).find((t) => t.tag === 0xa3) ?? null;
  return { tbs, subject, spki, extensions };
}

export function readCertFields(der: Uint8Array): CertFields | null {
  try {
    const parts = readTbsParts(der);
    return parts === null ? null : fieldsOf(der, parts.extensions);
  } catch {
    return null; // belt and braces: the reader is written not to throw
  }
}

/** The extensions a verifier here acts on: any other marked critical makes the certificate unusable. */
const PROCESSED: ReadonlySet<string> = new Set([
  OID_SUBJECT_ALT_NAME,
  OID_KEY_USAGE,
  OID_BASIC_CONSTRAINTS,
  OID_EXT_KEY_USAGE,
  OID_MODBUS_ROLE,
]);

/**
 * The OID of the first critical extension this code does not process (name constraints, policy constraints, …),
 * or null. A certificate-using system must reject a certificate with a critical extension it does not recognise
 * [RFC 5280 4.2], so such a chain is refused rather than accepted without the constraint.
 */
export function unprocessedCriticalExtension(f: CertFields): string | null {
  for (const e of f.extensions) if (e.critical && !PROCESSED.has(e.oid)) return e.oid;
  return null;
}

/** Only the extensions (oid, critical, raw value) — used for custom extensions such as the Modbus role. */
export function readExtensions(der: Uint8Array): RawExtension[] | null {
  const f = readCertFields(der);
  return f === null ? null : [...f.extensions];
}

function fieldsOf(der: Uint8Array, wrapper: Tlv | null): CertFields | null {
  const out: Draft = { uriSans: [], dnsSans: [], isCa: false, pathLen: null, keyUsage: null, extKeyUsage: null };
  const raw: RawExtension[] = [];
  if (wrapper === null) return { ...out, extensions: raw };
  const seq = children(der, wrapper);
  if (seq?.length !== 1 || seq[0]?.tag !== TAG.SEQUENCE) return null;
  const exts = children(der, seq[0]);
  if (exts === null) return null;
  const seen = new Set<string>();
  for (const ext of exts) {
    const e = readExtension(der, ext);
    if (e === null) return null;
    raw.push(e);
    // [RFC 5280 4.2] a certificate must not include more than one instance of a particular extension.
    if (e.oid !== OID_MODBUS_ROLE) {
      if (seen.has(e.oid)) return null;
      seen.add(e.oid);
    }
    if (!applyExtension(out, e)) return null;
  }
  return { ...out, extensions: raw };
}

/** Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
function readExtension(der: Uint8Array, ext: Tlv): RawExtension | null {
  if (ext.tag !== TAG.SEQUENCE) return null;
  const p = children(der, ext);
  if (p === null || p.length < 2 || p.length > 3 || p[0]?.tag !== TAG.OID) return null;
  const oid = oidString(contents(der, p[0]));
  const crit = p.length === 3 ? p[1] : undefined;
  const critical = crit === undefined ? false : crit.tag === TAG.BOOLEAN ? booleanValue(contents(der, crit)) : null;
  const value = p[p.length - 1] as Tlv;
  if (oid === null || critical === null || value.tag !== TAG.OCTET_STRING) return null;
  return { oid, critical, value: Buffer.from(contents(der, value)) };
}

/** CertFields while the extensions are being read. */
interface Draft {
  uriSans: string[];
  dnsSans: string[];
  isCa: boolean;
  pathLen: number | null;
  keyUsage: KeyUsageBits | null;
  extKeyUsage: string[] | null;
}

function applyExtension(out: Draft, e: RawExtension): boolean {
  switch (e.oid) {
    case OID_SUBJECT_ALT_NAME:
      return readSans(e.value, out.uriSans, out.dnsSans);
    case OID_BASIC_CONSTRAINTS:
      return readBasicConstraints(e.value, out);
    case OID_KEY_USAGE:
      out.keyUsage = keyUsageBits(e.value);
      return out.keyUsage !== null;
    case OID_EXT_KEY_USAGE:
      out.extKeyUsage = oidList(e.value);
      return out.extKeyUsage !== null;
    default:
      return true;
  }
}

/** GeneralNames ::= SEQUENCE OF GeneralName [RFC 5280 4.2.1.6]; other name forms are skipped. */
function readSans(v: Buffer, uris: string[], dns: string[]): boolean {
  const seq = readTlv(v, 0);
  if (seq === null || seq.tag !== TAG.SEQUENCE || seq.end !== v.length) return false;
  const names = children(v, seq);
  if (names === null) return false;
  for (const gn of names) {
    if (gn.tag === GN_URI) uris.push(ia5(contents(v, gn)));
    else if (gn.tag === GN_DNS) dns.push(ia5(contents(v, gn)));
  }
  return true;
}

/** IA5String is 7-bit; a byte ≥ 0x80 is kept as a character no SPIFFE ID may contain, so parsing refuses it. */
function ia5(c: Uint8Array): string {
  return Buffer.from(c).toString('latin1');
}

/** BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER (0..MAX) OPTIONAL }. */
function readBasicConstraints(v: Buffer, out: Draft): boolean {
  const seq = readTlv(v, 0);
  if (seq === null || seq.tag !== TAG.SEQUENCE || seq.end !== v.length) return false;
  const p = children(v, seq);
  if (p === null || p.length > 2) return false;
  let i = 0;
  if (p[0]?.tag === TAG.BOOLEAN) {
    const ca = booleanValue(contents(v, p[0]));
    if (ca === null) return false;
    out.isCa = ca;
    i = 1;
  }
  const pl = p[i];
  if (pl !== undefined) {
    if (pl.tag !== TAG.INTEGER || i + 1 !== p.length) return false;
    out.pathLen = smallUnsigned(contents(v, pl));
    if (out.pathLen === null) return false;
  }
  return true;
}

/** KeyUsage ::= BIT STRING; bit 0 is the most significant bit of the first content byte [RFC 5280 4.2.1.3]. */
function keyUsageBits(v: Buffer): KeyUsageBits | null {
  const t = readTlv(v, 0);
  if (t === null || t.tag !== TAG.BIT_STRING || t.end !== v.length) return null;
  const bit = bitStringBits(contents(v, t));
  if (bit === null) return null;
  return {
    digitalSignature: bit(0),
    keyEncipherment: bit(2),
    keyAgreement: bit(4),
    keyCertSign: bit(5),
    cRLSign: bit(6),
  };
}

/** ExtKeyUsageSyntax ::= SEQUENCE SIZE (1..MAX) OF KeyPurposeId (an OID) [RFC 5280 4.2.1.12]. */
function oidList(v: Buffer): string[] | null {
  const seq = readTlv(v, 0);
  if (seq === null || seq.tag !== TAG.SEQUENCE || seq.end !== v.length) return null;
  const items = children(v, seq);
  if (items === null) return null;
  const out: string[] = [];
  for (const t of items) {
    const oid = t.tag === TAG.OID ? oidString(contents(v, t)) : null;
    if (oid === null) return null;
    out.push(oid);
  }
  return out;
}
