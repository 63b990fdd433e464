/**
 * Embedded development CA: mints X.509-SVIDs shaped like SPIRE's when no SPIRE is installed
 * (`verigate lab`, `verigate svid mint`, tests). Leaf profile [docs/architecture.md "SPIRE facts"]:
 * EC P-256, one URI SAN, keyUsage digitalSignature|keyEncipherment|keyAgreement, EKU serverAuth+clientAuth,
 * basicConstraints cA=false, NotBefore = now − 10 s, NotAfter capped at the CA's NotAfter.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { X509Bundle } from './bundle-set.js';
import {
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  KeyUsage,
  buildCertificate,
  certDer,
  exportPkcs8,
  generateKeyPair,
  importPkcs8,
  type Issuer,
} from './cert-builder.js';
import { parseSpiffeId, parseTrustDomain, type TrustDomain } from './spiffe-id.js';
import { derToPem } from './x509-svid.js';
import { readCertFields } from './cert-fields.js';

export const DEFAULT_SVID_TTL_SECONDS = 86_400;
/** ≥ 6 × the default SVID TTL, as SPIRE requires of ca_ttl [docs/architecture.md "SPIRE facts"]; 30 days. */
export const DEFAULT_CA_TTL_SECONDS = 30 * 86_400;
/** SPIRE backdates NotBefore to absorb clock skew. */
export const BACKDATE_MS = 10_000;

export const CA_CERT_FILE = 'ca-cert.pem';
export const CA_KEY_FILE = 'ca-key.pem';

export interface MintOptions {
  readonly spiffeId: string;
  readonly ttlSeconds?: number;
  readonly role?: string;
  readonly notBefore?: Date;
  /** Extra DNS SANs [X509-SVID 2 allows them beside the one URI SAN]: lets stock TLS clients that insist on a
   * hostname check (e.g. Go's crypto/tls) reach a gateway by name. */
  readonly dnsNames?: readonly string[];
  /** IPv4 SANs, for server certificates dialled by address (e.g. a nats-server on 127.0.0.1). */
  readonly ipAddresses?: readonly string[];
}

export class DevCa {
  readonly trustDomain: TrustDomain;
  private readonly issuer: Issuer;
  private readonly keyDer: Buffer;
  private readonly caDer: Buffer;

  private constructor(trustDomain: TrustDomain, issuer: Issuer, keyDer: Buffer) {
    this.trustDomain = trustDomain;
    this.issuer = issuer;
    this.keyDer = keyDer;
    this.caDer = certDer(issuer.cert);
  }

  static async create(opts: { trustDomain: string; caTtlSeconds?: number }): Promise<DevCa> {
    const td = parseTrustDomain(opts.trustDomain);
    const keys = await generateKeyPair();
    const now = Date.now();
    const cert = buildCertificate({
      subject: `O=verigate dev CA, CN=${td.name}`,
      keys,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + (opts.caTtlSeconds ?? DEFAULT_CA_TTL_SECONDS) * 1000),
      ca: true,
      keyUsage: KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature,
      eku: null,
      // SPIRE's CA carries the trust-domain ID as its URI SAN.
      uris: [td.idString()],
    });
    return new DevCa(td, { cert, key: keys.privateKey }, exportPkcs8(keys.privateKey));
  }

  /**
   * Loads `ca-cert.pem` + `ca-key.pem` from `dir`, or creates and persists a new CA (files 0600, dir 0700).
   * An expired stored CA is replaced (dev only: clients must re-fetch the bundle).
   */
  static async loadOrCreate(dir: string, trustDomain: string): Promise<DevCa> {
    const td = parseTrustDomain(trustDomain);
    const certPath = join(dir, CA_CERT_FILE);
    const keyPath = join(dir, CA_KEY_FILE);
    const stored = await readStored(certPath, keyPath);
    if (stored !== null) {
      const ca = DevCa.fromPem(stored.certPem, stored.keyPem, certPath);
      if (!ca.trustDomain.equals(td)) {
        throw new GatewayError(
          'GW_ERR_IDENTITY_INVALID',
          `identity: dev CA in ${dir} is for trust domain ${ca.trustDomain.name}, not ${td.name}; use another --ca-dir`,
        );
      }
      if (ca.notAfter().getTime() > Date.now()) return ca;
    }
    const ca = await DevCa.create({ trustDomain: td.name });
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeSecret(keyPath, derToPem(ca.keyDer, 'PRIVATE KEY'));
    await writeSecret(certPath, ca.bundlePem());
    return ca;
  }

  static fromPem(certPem: string, keyPem: string, where = 'dev CA'): DevCa {
    try {
      const cert = new X509Certificate(certPem);
      const f = readCertFields(cert.raw);
      const uri = f?.uriSans[0];
      if (f === null || !f.isCa || uri === undefined)
        throw new Error('not a CA certificate with a trust-domain URI SAN');
      const td = parseTrustDomain(uri);
      const keyDer = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
      return new DevCa(td, { cert, key: importPkcs8(keyDer) }, keyDer);
    } catch (err) {
      throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: cannot load dev CA from ${where}`, { cause: err });
    }
  }

  notAfter(): Date {
    return new Date(this.issuer.cert.validTo);
  }

  async mintX509Svid(opts: MintOptions): Promise<{ chainDer: Buffer[]; keyDer: Buffer }> {
    const id = parseSpiffeId(opts.spiffeId);
    if (!id.memberOf(this.trustDomain)) {
      throw new GatewayError(
        'GW_ERR_IDENTITY_INVALID',
        `identity: dev CA for ${this.trustDomain.name} cannot mint ${id.toString()}`,
      );
    }
    if (id.isRoot())
      throw new GatewayError(
        'GW_ERR_IDENTITY_INVALID',
        'identity: an X.509-SVID cannot carry the trust-domain root ID [X509-SVID 2]',
      );
    const ttl = opts.ttlSeconds ?? DEFAULT_SVID_TTL_SECONDS;
    if (!(ttl > 0))
      throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: SVID TTL must be positive, got ${ttl}`);
    const start = opts.notBefore?.getTime() ?? Date.now();
    const notBefore = opts.notBefore ?? new Date(start - BACKDATE_MS);
    const notAfter = new Date(Math.min(start + ttl * 1000, this.notAfter().getTime()));
    const keys = await generateKeyPair();
    const cert = buildCertificate({
      subject: 'O=verigate dev, C=US',
      keys,
      issuer: this.issuer,
      notBefore,
      notAfter,
      keyUsage: KeyUsage.digitalSignature | KeyUsage.keyEncipherment | KeyUsage.keyAgreement,
      eku: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
      uris: [id.toString()],
      ...(opts.dnsNames ? { dnsNames: opts.dnsNames } : {}),
      ...(opts.ipAddresses ? { ipAddresses: opts.ipAddresses } : {}),
      roles: opts.role !== undefined ? [opts.role] : [],
    });
    return { chainDer: [certDer(cert)], keyDer: exportPkcs8(keys.privateKey) };
  }

  /** The CA certificate as an issuer for test builders that need to sign unusual certificates. */
  issuerForTests(): Issuer {
    return this.issuer;
  }

  caCertificate(): X509Certificate {
    return new X509Certificate(this.caDer);
  }

  bundle(): X509Bundle {
    return X509Bundle.fromDer(this.trustDomain, this.caDer);
  }

  bundleDer(): Buffer {
    return Buffer.from(this.caDer);
  }

  bundlePem(): string {
    return derToPem(this.caDer, 'CERTIFICATE');
  }

  /** The CA's EC P-256 private key (ES256), e.g. to sign dev JWT-SVIDs. */
  signingKey(): KeyObject {
    return createPrivateKey({ key: this.keyDer, format: 'der', type: 'pkcs8' });
  }
}

async function readStored(certPath: string, keyPath: string): Promise<{ certPem: string; keyPem: string } | null> {
  try {
    return { certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: cannot read dev CA files ${certPath}`, { cause: err });
  }
}

async function writeSecret(path: string, data: string): Promise<void> {
  await writeFile(path, data, { mode: 0o600 });
  await chmod(path, 0o600); // writeFile keeps the mode of an existing file
}
