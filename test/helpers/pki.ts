/**
 * Per-test PKI: our trust domain (plant.example) and a federated one (other.org), each with a dev CA,
 * plus helpers to mint SVIDs and build TLS material. Everything is in memory; nothing is shared.
 */
import { BundleSet } from '../../gateway/identity/bundle-set.js';
import { DevCa, type MintOptions } from '../../gateway/identity/dev-ca.js';
import { parseX509Svid, type X509Svid } from '../../gateway/identity/x509-svid.js';

export const TD = 'plant.example';
export const OTHER_TD = 'other.org';

export interface Minted {
  readonly chainDer: Buffer[];
  readonly keyDer: Buffer;
}

export interface TestPki {
  readonly ca: DevCa;
  readonly otherCa: DevCa;
  /** Our bundle + the federated other.org bundle. */
  readonly bundles: BundleSet;
  mint(id: string, opts?: Omit<MintOptions, 'spiffeId'>): Promise<X509Svid>;
}

export async function makePki(): Promise<TestPki> {
  const [ca, otherCa] = await Promise.all([DevCa.create({ trustDomain: TD }), DevCa.create({ trustDomain: OTHER_TD })]);
  const bundles = BundleSet.of([ca.bundle(), otherCa.bundle()]);
  return {
    ca,
    otherCa,
    bundles,
    async mint(id, opts = {}) {
      const issuer = id.startsWith(`spiffe://${OTHER_TD}/`) ? otherCa : ca;
      return toSvid(await issuer.mintX509Svid({ ...opts, spiffeId: id }));
    },
  };
}

export function toSvid(m: Minted): X509Svid {
  return parseX509Svid(Buffer.concat(m.chainDer), m.keyDer);
}
