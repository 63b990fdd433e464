/**
 * Low-level X.509 v3 builder on node:crypto (EC P-256 keys, ECDSA-SHA256 signatures, custom extensions) and the
 * DER writer [RFC 5280 4.1]. Used by the dev CA and by test helpers that need deliberately wrong certificates.
 * Not a policy: it builds whatever it is told. The result is parsed back by OpenSSL (`X509Certificate`), so a
 * malformed encoding fails here, not in a peer.
 */
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  generateKeyPair as generateNodeKeyPair,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { readTbsParts, type RawExtension } from './cert-fields.js';
import { TAG, children, contents, readTlv } from './der-reader.js';
import {
  bitString,
  bool,
  explicit,
  ia5,
  namedBits,
  octets,
  oid,
  printable,
  seq,
  set,
  smallInt,
  tlv,
  unsignedInt,
  time,
  utf8,
} from './der-writer.js';
import { encodeModbusRoleValue, OID_MODBUS_ROLE } from './modbus-role.js';

/** KeyUsage named bits as flags: bit i of the value is named bit i [RFC 5280 4.2.1.3]. */
export const KeyUsage = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
} as const;
export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface KeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

export interface Issuer {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
}

export interface CertSpec {
  /** `TYPE=value` pairs separated by `, `, in DER order, e.g. `O=SPIRE, C=US` (types CN, O, OU, C, L, ST). */
  readonly subject: string;
  readonly keys: KeyPair;
  /** Absent → self-signed with `keys.privateKey`. */
  readonly issuer?: Issuer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints: `undefined` → cA=false (critical); `null` → extension omitted. */
  readonly ca?: boolean | null;
  readonly pathLen?: number;
  /** `KeyUsage` flags, `null` → extension omitted. */
  readonly keyUsage: number | null;
  /** EKU OIDs, `null` → extension omitted. */
  readonly eku: readonly string[] | null;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** IPv4 addresses as dotted quads (iPAddress SANs, e.g. a loopback server a client dials by IP) [RFC 5280 4.2.1.6]. */
  readonly ipAddresses?: readonly string[];
  /** Each entry adds one Modbus role extension (several → a duplicated, hence NULL, role). */
  readonly roles?: readonly string[];
  /** Extensions added verbatim after the others. */
  readonly extra?: readonly RawExtension[];
}

const generateEc = promisify(generateNodeKeyPair);

export async function generateKeyPair(): Promise<KeyPair> {
  return generateEc('ec', { namedCurve: 'P-256' });
}

export function exportPkcs8(key: KeyObject): Buffer {
  return key.export({ type: 'pkcs8', format: 'der' });
}

export function importPkcs8(der: Buffer): KeyObject {
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const ATTRIBUTE_OIDS: Readonly<Record<string, string>> = {
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  O: '2.5.4.10',
  OU: '2.5.4.11',
};

export function buildCertificate(spec: CertSpec): X509Certificate {
  const spki = spec.keys.publicKey.export({ type: 'spki', format: 'der' });
  const subject = nameDer(spec.subject);
  const issuerName = spec.issuer === undefined ? subject : issuerSubjectDer(spec.issuer.cert);
  const signingKey = spec.issuer?.key ?? spec.keys.privateKey;
  const algorithm = seq(oid(OID_ECDSA_SHA256)); // parameters absent [RFC 5758 3.2]
  const tbs = seq(
    explicit(0, smallInt(2)), // v3
    unsignedInt(randomSerial()),
    algorithm,
    issuerName,
    seq(time(spec.notBefore), time(spec.notAfter)),
    subject,
    spki,
    explicit(3, seq(...extensions(spec, spki))),
  );
  const signature = sign('sha256', tbs, signingKey); // ECDSA-Sig-Value, DER
  return new X509Certificate(seq(tbs, algorithm, bitString(signature)));
}

function extensions(spec: CertSpec, spki: Buffer): Buffer[] {
  const exts: Buffer[] = [];
  const ext = (id: string, critical: boolean, value: Uint8Array): void => {
    exts.push(seq(oid(id), ...(critical ? [bool(true)] : []), octets(value)));
  };
  if (spec.ca !== null)
    ext(
      '2.5.29.19',
      true,
      seq(...(spec.ca === true ? [bool(true)] : []), ...(spec.pathLen !== undefined ? [smallInt(spec.pathLen)] : [])),
    );
  if (spec.keyUsage !== null) ext('2.5.29.15', true, namedBits(spec.keyUsage));
  if (spec.eku !== null) ext('2.5.29.37', false, seq(...spec.eku.map(oid)));
  const names = [
    ...(spec.uris ?? []).map((u) => ia5(0x86, u)),
    ...(spec.dnsNames ?? []).map((d) => ia5(0x82, d)),
    ...(spec.ipAddresses ?? []).map((ip) => tlv(0x87, ipv4Octets(ip))),
  ];
  // [X509-SVID 2] the URI SAN is the identity; SPIRE marks SAN critical only when the subject is empty.
  if (names.length > 0) ext('2.5.29.17', false, seq(...names));
  ext('2.5.29.14', false, octets(keyIdentifier(spki)));
  if (spec.issuer !== undefined) {
    const issuerSpki = spec.issuer.cert.publicKey.export({ type: 'spki', format: 'der' });
    ext('2.5.29.35', false, seq(tlv(0x80, keyIdentifier(issuerSpki)))); // [0] IMPLICIT keyIdentifier
  }
  for (const role of spec.roles ?? []) ext(OID_MODBUS_ROLE, false, encodeModbusRoleValue(role));
  for (const e of spec.extra ?? []) ext(e.oid, e.critical, e.value);
  return exts;
}

/** iPAddress: [7] IMPLICIT OCTET STRING, four octets for IPv4 [RFC 5280 4.2.1.6]. */
function ipv4Octets(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255))
    throw new Error(`cert-builder: not an IPv4 address ${JSON.stringify(ip)}`);
  return Buffer.from(parts);
}

/** `O=x, CN=y` → Name; one attribute per RDN, C as PrintableString, the rest UTF8String [RFC 5280 4.1.2.4]. */
function nameDer(s: string): Buffer {
  const rdns = s
    .split(/,\s*/)
    .filter((p) => p !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const type = pair.slice(0, eq).trim().toUpperCase();
      const id = ATTRIBUTE_OIDS[type];
      if (eq < 1 || id === undefined)
        throw new Error(`cert-builder: unsupported name attribute ${JSON.stringify(pair)}`);
      const value = pair.slice(eq + 1).trim();
      return set(seq(oid(id), type === 'C' ? printable(value) : utf8(value)));
    });
  return seq(...rdns);
}

/** The issuer's subject Name exactly as encoded in its certificate (name chaining compares it) [RFC 5280 4.1.2.4]. */
function issuerSubjectDer(cert: X509Certificate): Buffer {
  const parts = readTbsParts(cert.raw);
  if (parts === null) throw new Error('cert-builder: the issuer certificate is malformed');
  return Buffer.from(cert.raw.subarray(parts.subject.at, parts.subject.end));
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value (without the unused-bits byte). */
function keyIdentifier(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const key = outer === null ? undefined : children(spki, outer)?.[1];
  if (key?.tag !== TAG.BIT_STRING) throw new Error('cert-builder: malformed SubjectPublicKeyInfo');
  return createHash('sha1').update(contents(spki, key).subarray(1)).digest();
}

/** 16 random bytes, top bit cleared so the INTEGER stays positive and non-zero first [RFC 5280 4.1.2.2]. */
function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 1) & 0x7f) | 0x01;
  return b;
}

export function certDer(cert: X509Certificate): Buffer {
  return Buffer.from(cert.raw);
}
