/**
 * Low-level X.509 builder on @peculiar/x509 (EC P-256, custom extensions). Used by the dev CA and by test
 * helpers that need deliberately wrong certificates. Not a policy: it builds whatever it is told.
 */
import 'reflect-metadata'; // tsyringe (inside @peculiar/x509) needs the Reflect metadata API
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { encodeModbusRoleValue, OID_MODBUS_ROLE } from './modbus-role.js';

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export const KeyUsage = x509.KeyUsageFlags;
export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export interface Issuer {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
}

export interface CertSpec {
  /** RFC 4514-ish name understood by @peculiar/x509, e.g. `O=SPIRE, C=US`. */
  readonly subject: string;
  readonly keys: CryptoKeyPair;
  /** Absent → self-signed with `keys.privateKey`. */
  readonly issuer?: Issuer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** basicConstraints: `undefined` → cA=false (critical); `null` → extension omitted. */
  readonly ca?: boolean | null;
  readonly pathLen?: number;
  /** KeyUsageFlags bitmask, `null` → extension omitted. */
  readonly keyUsage: number | null;
  /** EKU OIDs, `null` → extension omitted. */
  readonly eku: readonly string[] | null;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  /** Each entry adds one Modbus role extension (several → a duplicated, hence NULL, role). */
  readonly roles?: readonly string[];
  readonly extra?: readonly x509.Extension[];
}

export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

export async function exportPkcs8(key: CryptoKey): Promise<Buffer> {
  return Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
}

export async function importPkcs8(der: Buffer): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', der, EC_P256, true, ['sign']);
}

export async function buildCertificate(spec: CertSpec): Promise<x509.X509Certificate> {
  const exts: x509.Extension[] = [];
  if (spec.ca !== null) exts.push(new x509.BasicConstraintsExtension(spec.ca === true, spec.pathLen, true));
  if (spec.keyUsage !== null) exts.push(new x509.KeyUsagesExtension(spec.keyUsage, true));
  if (spec.eku !== null) exts.push(new x509.ExtendedKeyUsageExtension([...spec.eku], false));
  const names: x509.JsonGeneralName[] = [
    ...(spec.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(spec.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  // [X509-SVID 2] the URI SAN is the identity; SPIRE marks SAN critical only when the subject is empty.
  if (names.length > 0) exts.push(new x509.SubjectAlternativeNameExtension(names, false));
  exts.push(await x509.SubjectKeyIdentifierExtension.create(spec.keys.publicKey));
  if (spec.issuer !== undefined) exts.push(await x509.AuthorityKeyIdentifierExtension.create(spec.issuer.cert.publicKey, false));
  for (const role of spec.roles ?? []) exts.push(new x509.Extension(OID_MODBUS_ROLE, false, encodeModbusRoleValue(role)));
  exts.push(...(spec.extra ?? []));
  const common = { serialNumber: randomSerial(), notBefore: spec.notBefore, notAfter: spec.notAfter, extensions: exts, signingAlgorithm: SIGNING };
  if (spec.issuer === undefined) {
    return x509.X509CertificateGenerator.createSelfSigned({ ...common, name: spec.subject, keys: spec.keys });
  }
  return x509.X509CertificateGenerator.create({
    ...common,
    subject: spec.subject,
    issuer: spec.issuer.cert.subject,
    publicKey: spec.keys.publicKey,
    signingKey: spec.issuer.key,
  });
}

/** 16 random bytes, top bit cleared so the INTEGER stays positive [RFC 5280 4.1.2.2]. */
function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = ((b[0] ?? 1) & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

export function certDer(cert: x509.X509Certificate): Buffer {
  return Buffer.from(cert.rawData);
}

export { x509 };
