/**
 * An X.509-SVID held by this process (ours, from the Workload API or the dev CA) [X509-SVID].
 * Parsing enforces the leaf rules that make it usable as our TLS identity and that the key matches the leaf.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { readCertFields, type CertFields } from './cert-fields.js';
import { splitDerCertificates } from './der-split.js';
import { modbusRoleOf } from './modbus-role.js';
import { tryParseSpiffeId, type SpiffeId } from './spiffe-id.js';

export { splitDerCertificates } from './der-split.js';

export interface X509Svid {
  readonly id: SpiffeId;
  /** Leaf first, then intermediates [WORKLOAD-API X509SVID.x509_svid]. */
  readonly chain: X509Certificate[];
  readonly chainDer: Buffer[];
  readonly privateKey: KeyObject;
  /** Unencrypted PKCS#8 DER. */
  readonly keyDer: Buffer;
  /** Modbus/TCP Security role of the leaf, `null` if absent/malformed/duplicated. */
  readonly role: string | null;
  readonly notAfter: Date;
  readonly hint?: string;
}

function invalid(msg: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: ${msg}`, cause === undefined ? undefined : { cause });
}

/** Leaf's one SPIFFE ID from its URI SAN [X509-SVID 2]; throws on anything else. */
export function svidIdOf(leafDer: Buffer): SpiffeId {
  return svidIdOfFields(leafFields(leafDer));
}

function leafFields(leafDer: Buffer): CertFields {
  const f = readCertFields(leafDer);
  if (f === null) throw invalid('SVID leaf certificate is malformed');
  return f;
}

function svidIdOfFields(f: CertFields): SpiffeId {
  if (f.uriSans.length !== 1 || f.uriSans[0] === undefined)
    throw invalid(`SVID leaf must have exactly one URI SAN, found ${f.uriSans.length}`);
  const r = tryParseSpiffeId(f.uriSans[0]);
  if (!r.ok) throw invalid(`SVID URI SAN ${JSON.stringify(f.uriSans[0])} is not a SPIFFE ID: ${r.reason}`);
  if (r.id.isRoot()) throw invalid('SVID ID must not be the trust-domain root [X509-SVID 2]');
  if (f.isCa) throw invalid('SVID leaf must not be a CA [X509-SVID 4.1]');
  return r.id;
}

export function parseX509Svid(certsDer: Buffer, keyPkcs8Der: Buffer, hint?: string): X509Svid {
  const chainDer = splitDerCertificates(certsDer);
  const leafDer = chainDer[0];
  if (leafDer === undefined) throw invalid('SVID has no certificate');
  let chain: X509Certificate[];
  try {
    chain = chainDer.map((d) => new X509Certificate(d));
  } catch (err) {
    throw invalid('SVID certificate cannot be parsed', err);
  }
  const fields = leafFields(leafDer); // read once: ID and role come from the same pass
  const id = svidIdOfFields(fields);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyPkcs8Der, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw invalid('SVID private key is not an unencrypted PKCS#8 DER key', err);
  }
  const leaf = chain[0] as X509Certificate;
  if (!publicKeysEqual(privateKey, leaf.publicKey))
    throw invalid(`SVID private key does not match the leaf certificate of ${id.toString()}`);
  const svid: X509Svid = {
    id,
    chain,
    chainDer,
    privateKey,
    keyDer: Buffer.from(keyPkcs8Der),
    role: modbusRoleOf(fields.extensions),
    notAfter: new Date(leaf.validTo),
    ...(hint !== undefined && hint !== '' ? { hint } : {}),
  };
  return svid;
}

function publicKeysEqual(priv: KeyObject, pub: KeyObject): boolean {
  const a = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  const b = pub.export({ type: 'spki', format: 'der' });
  return a.equals(b);
}

const pems = new WeakMap<X509Svid, { readonly certPem: string; readonly keyPem: string }>();

/**
 * PEM for TLS options and files: the chain (leaf first) and the PKCS#8 key. Encoded once per SVID: the audit
 * signs a checkpoint with it many times a second under load, and an SVID never changes.
 */
export function svidPem(svid: X509Svid): { readonly certPem: string; readonly keyPem: string } {
  let pem = pems.get(svid);
  if (pem === undefined) {
    pem = {
      certPem: svid.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''),
      keyPem: derToPem(svid.keyDer, 'PRIVATE KEY'),
    };
    pems.set(svid, pem);
  }
  return pem;
}

export function derToPem(der: Buffer, label: string): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
