/**
 * The X.509 fields the SPIFFE rules need, read from DER with pkijs/asn1js.
 * Why not node:crypto: Node 20's `X509Certificate.keyUsage` returns the *extended* key usages, the KeyUsage
 * bits and custom extensions are not exposed, and `subjectAltName` is a formatted string that a crafted
 * value can spoof [REFERENCES §2]. Hostile input: never throws, returns `null` when the DER is malformed.
 */
import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

export const OID_SUBJECT_ALT_NAME = '2.5.29.17';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_EXT_KEY_USAGE = '2.5.29.37';
export const OID_EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const OID_EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

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

const GN_DNS = 2;
const GN_URI = 6;

/**
 * Parsed fields by certificate digest. A certificate is immutable, and the same few client SVIDs handshake
 * over and over, while the ASN.1 parse dominated handshake CPU in bench/ (about 30 %). Bounded: oldest out.
 */
const cache = new Map<string, CertFields | null>();
const CACHE_MAX = 2048;

export function readCertFields(der: Uint8Array): CertFields | null {
  const key = createHash('sha256').update(der).digest('base64');
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let fields: CertFields | null;
  try {
    fields = fieldsOf(pkijs.Certificate.fromBER(toArrayBuffer(der)));
  } catch {
    fields = null;
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(key, fields === null ? null : Object.freeze(fields));
  return fields;
}

/** Only the extensions (oid, critical, raw value) — used for custom extensions such as the Modbus role. */
export function readExtensions(der: Uint8Array): RawExtension[] | null {
  const f = readCertFields(der);
  return f === null ? null : [...f.extensions];
}

function fieldsOf(cert: pkijs.Certificate): CertFields | null {
  const exts = cert.extensions ?? [];
  const seen = new Set<string>();
  const raw: RawExtension[] = [];
  const uris: string[] = [];
  const dns: string[] = [];
  let isCa = false;
  let pathLen: number | null = null;
  let keyUsage: KeyUsageBits | null = null;
  let eku: string[] | null = null;
  for (const e of exts) {
    const value = Buffer.from(e.extnValue.valueBlock.valueHexView);
    raw.push({ oid: e.extnID, critical: e.critical, value });
    // [RFC 5280 4.2] a certificate must not include more than one instance of a standard extension.
    if (e.extnID !== '1.3.6.1.4.1.50316.802.1') {
      if (seen.has(e.extnID)) return null;
      seen.add(e.extnID);
    }
    switch (e.extnID) {
      case OID_SUBJECT_ALT_NAME: {
        const alt = e.parsedValue as pkijs.AltName | undefined;
        if (!(alt instanceof pkijs.AltName)) return null;
        for (const gn of alt.altNames) {
          if (gn.type === GN_URI && typeof gn.value === 'string') uris.push(gn.value);
          if (gn.type === GN_DNS && typeof gn.value === 'string') dns.push(gn.value);
        }
        break;
      }
      case OID_BASIC_CONSTRAINTS: {
        const bc = e.parsedValue as pkijs.BasicConstraints | undefined;
        if (!(bc instanceof pkijs.BasicConstraints)) return null;
        isCa = bc.cA === true;
        const pl = bc.pathLenConstraint;
        pathLen = pl === undefined ? null : typeof pl === 'number' ? pl : pl.valueBlock.valueDec;
        break;
      }
      case OID_KEY_USAGE:
        keyUsage = keyUsageBits(value);
        if (keyUsage === null) return null;
        break;
      case OID_EXT_KEY_USAGE: {
        const ek = e.parsedValue as pkijs.ExtKeyUsage | undefined;
        if (!(ek instanceof pkijs.ExtKeyUsage)) return null;
        eku = [...ek.keyPurposes];
        break;
      }
      default:
        break;
    }
  }
  return { uriSans: uris, dnsSans: dns, isCa, pathLen, keyUsage, extKeyUsage: eku, extensions: raw };
}

/** KeyUsage ::= BIT STRING; bit 0 is the most significant bit of the first content byte [RFC 5280 4.2.1.3]. */
function keyUsageBits(extnValue: Buffer): KeyUsageBits | null {
  const parsed = asn1js.fromBER(toArrayBuffer(extnValue));
  if (parsed.offset === -1 || !(parsed.result instanceof asn1js.BitString)) return null;
  const bytes = parsed.result.valueBlock.valueHexView;
  const bit = (n: number): boolean => (((bytes[n >> 3] ?? 0) >> (7 - (n & 7))) & 1) === 1;
  return { digitalSignature: bit(0), keyEncipherment: bit(2), keyAgreement: bit(4), keyCertSign: bit(5), cRLSign: bit(6) };
}

export function toArrayBuffer(u: Uint8Array): ArrayBuffer {
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}
