/**
 * Builders for the SVID rejection matrix [X509-SVID 4, 5]. Each returns a chain + PKCS#8 key
 * shaped like a real client credential that is wrong in exactly one way, and the reason we expect.
 */
import type { RejectReason } from '../../gateway/identity/peer-verifier.js';
import {
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  KeyUsage,
  buildCertificate,
  certDer,
  exportPkcs8,
  generateKeyPair,
  type CertSpec,
  type Issuer,
} from '../../gateway/identity/cert-builder.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { TD, type Minted, type TestPki } from './pki.js';

export const LEAF_KU = KeyUsage.digitalSignature | KeyUsage.keyEncipherment | KeyUsage.keyAgreement;
export const BOTH_EKU = [EKU_SERVER_AUTH, EKU_CLIENT_AUTH];
const HOUR = 3_600_000;

type LeafSpec = Partial<Omit<CertSpec, 'keys' | 'issuer'>>;

/** A leaf signed by `issuer` (or self-signed when null), SVID-shaped unless `over` says otherwise. */
export async function leaf(issuer: Issuer | null, over: LeafSpec = {}): Promise<Minted> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = buildCertificate({
    subject: 'O=test, C=US',
    notBefore: new Date(now - 10_000),
    notAfter: new Date(now + HOUR),
    keyUsage: LEAF_KU,
    eku: BOTH_EKU,
    uris: [`spiffe://${TD}/client`],
    ...over,
    keys,
    ...(issuer === null ? {} : { issuer }),
  });
  return { chainDer: [certDer(cert)], keyDer: exportPkcs8(keys.privateKey) };
}

export interface BadCase {
  readonly name: string;
  /** What the TLS server reports end to end (OpenSSL refuses some cases before the SPIFFE checks). */
  readonly reason: RejectReason;
  /** What `verifyPeerChain` alone says, when it differs from `reason`. */
  readonly verifierReason?: RejectReason;
  /** true when OpenSSL already refuses it during the handshake (unknown CA, expired, …). */
  readonly refusedByTls: boolean;
  build(pki: TestPki): Promise<Minted>;
}

/** The matrix the integration test runs over real TLS; `no client certificate` is handled separately. */
export const tlsMatrix: readonly BadCase[] = [
  {
    name: 'a rogue CA that calls itself our trust domain',
    reason: 'untrusted-chain',
    refusedByTls: true,
    build: async () => (await DevCa.create({ trustDomain: TD })).mintX509Svid({ spiffeId: `spiffe://${TD}/client` }),
  },
  {
    name: 'a federated CA (other.org) minting our IDs',
    reason: 'untrusted-chain',
    refusedByTls: false,
    build: (pki) => leaf(pki.otherCa.issuerForTests(), { uris: [`spiffe://${TD}/hmi/line1`] }),
  },
  {
    name: 'two URI SANs',
    reason: 'multiple-uri-sans',
    refusedByTls: false,
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] }),
  },
  {
    name: 'no URI SAN',
    reason: 'no-uri-san',
    refusedByTls: false,
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: [], dnsNames: ['client.plant.example'] }),
  },
  {
    name: 'a CA certificate as leaf',
    reason: 'leaf-is-ca',
    refusedByTls: false,
    build: (pki) =>
      leaf(pki.ca.issuerForTests(), { ca: true, keyUsage: KeyUsage.digitalSignature | KeyUsage.keyCertSign }),
  },
  {
    name: 'keyCertSign on the leaf',
    reason: 'leaf-key-cert-sign',
    refusedByTls: false,
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: LEAF_KU | KeyUsage.keyCertSign }),
  },
  {
    name: 'an expired SVID',
    reason: 'expired',
    refusedByTls: true,
    build: (pki) =>
      leaf(pki.ca.issuerForTests(), {
        notBefore: new Date(Date.now() - 2 * HOUR),
        notAfter: new Date(Date.now() - HOUR),
      }),
  },
  {
    name: 'an SVID not yet valid',
    reason: 'not-yet-valid',
    refusedByTls: true,
    build: (pki) =>
      leaf(pki.ca.issuerForTests(), {
        notBefore: new Date(Date.now() + HOUR),
        notAfter: new Date(Date.now() + 2 * HOUR),
      }),
  },
  {
    name: 'a self-signed SVID',
    reason: 'untrusted-chain',
    refusedByTls: true,
    build: () => leaf(null),
  },
  {
    name: 'a plain web-PKI certificate (DNS SAN only)',
    reason: 'untrusted-chain',
    verifierReason: 'no-uri-san',
    refusedByTls: true,
    build: webPkiCert,
  },
];

/** A web CA (not SPIFFE) and a server/client certificate with a DNS SAN only. */
export async function webPkiCert(): Promise<Minted> {
  const caKeys = await generateKeyPair();
  const now = Date.now();
  const caCert = buildCertificate({
    subject: 'CN=Example Web Root, O=Example Trust Services',
    keys: caKeys,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + 24 * HOUR),
    ca: true,
    keyUsage: KeyUsage.keyCertSign | KeyUsage.cRLSign,
    eku: null,
  });
  return leaf(
    { cert: caCert, key: caKeys.privateKey },
    { subject: 'CN=www.example.com', uris: [], dnsNames: ['www.example.com'] },
  );
}

/** Leaf-rule cases only the verifier sees (OpenSSL refuses some of them for purpose reasons first). */
export const verifierOnly: readonly BadCase[] = [
  {
    name: 'no keyUsage',
    reason: 'missing-digital-signature',
    refusedByTls: true,
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: null }),
  },
  {
    name: 'keyUsage without digitalSignature',
    reason: 'missing-digital-signature',
    refusedByTls: true,
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: KeyUsage.keyEncipherment }),
  },
  {
    name: 'cRLSign on the leaf',
    reason: 'leaf-crl-sign',
    refusedByTls: false,
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: LEAF_KU | KeyUsage.cRLSign }),
  },
  {
    name: 'EKU serverAuth only',
    reason: 'bad-extended-key-usage',
    refusedByTls: true,
    build: (pki) => leaf(pki.ca.issuerForTests(), { eku: [EKU_SERVER_AUTH] }),
  },
  {
    name: 'the trust-domain root ID',
    reason: 'root-path-id',
    refusedByTls: false,
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: [`spiffe://${TD}`] }),
  },
  {
    name: 'an invalid SPIFFE ID (uppercase trust domain)',
    reason: 'invalid-spiffe-id',
    refusedByTls: false,
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: ['spiffe://Plant.Example/x'] }),
  },
  {
    name: 'an https URI SAN',
    reason: 'invalid-spiffe-id',
    refusedByTls: false,
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: ['https://plant.example/x'] }),
  },
  {
    name: 'an ID in a trust domain with no bundle',
    reason: 'no-bundle-for-trust-domain',
    refusedByTls: true,
    build: async () =>
      (await DevCa.create({ trustDomain: 'stranger.net' })).mintX509Svid({ spiffeId: 'spiffe://stranger.net/x' }),
  },
];

/** An intermediate CA signed by `root`, for chain tests. */
export async function intermediate(
  root: Issuer,
  over: { ca?: boolean; keyUsage?: number; pathLen?: number; notAfter?: Date } = {},
): Promise<{ issuer: Issuer; der: Buffer }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = buildCertificate({
    subject: 'O=test intermediate, CN=int',
    keys,
    issuer: root,
    notBefore: new Date(now - HOUR),
    notAfter: over.notAfter ?? new Date(now + 24 * HOUR),
    ca: over.ca ?? true,
    ...(over.pathLen !== undefined ? { pathLen: over.pathLen } : {}),
    keyUsage: over.keyUsage ?? KeyUsage.keyCertSign | KeyUsage.cRLSign | KeyUsage.digitalSignature,
    eku: null,
    uris: [`spiffe://${TD}`],
  });
  return { issuer: { cert, key: keys.privateKey }, der: certDer(cert) };
}
