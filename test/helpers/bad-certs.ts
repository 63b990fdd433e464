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
/** A private-arc extension marked critical (its value an ASN.1 NULL): nothing here knows what it constrains. */
export const UNKNOWN_CRITICAL = { oid: '1.3.6.1.4.1.55555.1.1', critical: true, value: Buffer.from([0x05, 0x00]) };

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
  /** What the verifier says, alone and end to end over TLS (it is the one check of a client's chain). */
  readonly reason: RejectReason;
  build(pki: TestPki): Promise<Minted>;
}

/** The matrix the TLS test runs first; `no client certificate` is handled separately. */
export const tlsMatrix: readonly BadCase[] = [
  {
    name: 'a rogue CA that calls itself our trust domain',
    reason: 'untrusted-chain',
    build: async () => (await DevCa.create({ trustDomain: TD })).mintX509Svid({ spiffeId: `spiffe://${TD}/client` }),
  },
  {
    name: 'a federated CA (other.org) minting our IDs',
    reason: 'untrusted-chain',
    build: (pki) => leaf(pki.otherCa.issuerForTests(), { uris: [`spiffe://${TD}/hmi/line1`] }),
  },
  {
    name: 'two URI SANs',
    reason: 'multiple-uri-sans',
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: [`spiffe://${TD}/a`, `spiffe://${TD}/b`] }),
  },
  {
    name: 'no URI SAN',
    reason: 'no-uri-san',
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: [], dnsNames: ['client.plant.example'] }),
  },
  {
    name: 'a CA certificate as leaf',
    reason: 'leaf-is-ca',
    build: (pki) =>
      leaf(pki.ca.issuerForTests(), { ca: true, keyUsage: KeyUsage.digitalSignature | KeyUsage.keyCertSign }),
  },
  {
    name: 'keyCertSign on the leaf',
    reason: 'leaf-key-cert-sign',
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: LEAF_KU | KeyUsage.keyCertSign }),
  },
  {
    name: 'an expired SVID',
    reason: 'expired',
    build: (pki) =>
      leaf(pki.ca.issuerForTests(), {
        notBefore: new Date(Date.now() - 2 * HOUR),
        notAfter: new Date(Date.now() - HOUR),
      }),
  },
  {
    name: 'an SVID not yet valid',
    reason: 'not-yet-valid',
    build: (pki) =>
      leaf(pki.ca.issuerForTests(), {
        notBefore: new Date(Date.now() + HOUR),
        notAfter: new Date(Date.now() + 2 * HOUR),
      }),
  },
  {
    name: 'a self-signed SVID',
    reason: 'untrusted-chain',
    build: () => leaf(null),
  },
  {
    name: 'a plain web-PKI certificate (DNS SAN only)',
    reason: 'no-uri-san',
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

/** More leaf-rule cases: the unit tests run them through the verifier, the TLS test end to end as well. */
export const verifierOnly: readonly BadCase[] = [
  {
    name: 'no keyUsage',
    reason: 'missing-digital-signature',
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: null }),
  },
  {
    name: 'keyUsage without digitalSignature',
    reason: 'missing-digital-signature',
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: KeyUsage.keyEncipherment }),
  },
  {
    name: 'cRLSign on the leaf',
    reason: 'leaf-crl-sign',
    build: (pki) => leaf(pki.ca.issuerForTests(), { keyUsage: LEAF_KU | KeyUsage.cRLSign }),
  },
  {
    name: 'EKU serverAuth only',
    reason: 'bad-extended-key-usage',
    build: (pki) => leaf(pki.ca.issuerForTests(), { eku: [EKU_SERVER_AUTH] }),
  },
  {
    name: 'the trust-domain root ID',
    reason: 'root-path-id',
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: [`spiffe://${TD}`] }),
  },
  {
    name: 'an invalid SPIFFE ID (uppercase trust domain)',
    reason: 'invalid-spiffe-id',
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: ['spiffe://Plant.Example/x'] }),
  },
  {
    name: 'an https URI SAN',
    reason: 'invalid-spiffe-id',
    build: (pki) => leaf(pki.ca.issuerForTests(), { uris: ['https://plant.example/x'] }),
  },
  {
    name: 'a critical extension the verifier does not process [RFC 5280 4.2]',
    reason: 'untrusted-chain',
    build: (pki) => leaf(pki.ca.issuerForTests(), { extra: [UNKNOWN_CRITICAL] }),
  },
  {
    name: 'an ID in a trust domain with no bundle',
    reason: 'no-bundle-for-trust-domain',
    build: async () =>
      (await DevCa.create({ trustDomain: 'stranger.net' })).mintX509Svid({ spiffeId: 'spiffe://stranger.net/x' }),
  },
];

/** An intermediate CA signed by `root`, for chain tests. */
export async function intermediate(
  root: Issuer,
  over: { ca?: boolean; keyUsage?: number; pathLen?: number; notAfter?: Date; extra?: CertSpec['extra'] } = {},
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
    ...(over.extra ? { extra: over.extra } : {}),
  });
  return { issuer: { cert, key: keys.privateKey }, der: certDer(cert) };
}
