/**
 * X.509 bundles: the CA certificates of one trust domain, and the set of bundles we trust (our own plus
 * federated ones) [SPIFFE Trust Domain and Bundle 4; go-spiffe x509bundle]. Peer verification always takes
 * the bundle of the peer's own trust domain from the set, never the union [X509-SVID 5.2].
 */
import { X509Certificate } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { splitDerCertificates } from './der-split.js';
import { parseTrustDomain, type TrustDomain } from './spiffe-id.js';

export class X509Bundle {
  readonly trustDomain: TrustDomain;
  readonly authorities: X509Certificate[];
  constructor(trustDomain: TrustDomain, authorities: readonly X509Certificate[]) {
    this.trustDomain = trustDomain;
    this.authorities = [...authorities];
  }

  /** `concatenatedDer` as in the Workload API: DER certificates with no separator. */
  static fromDer(td: TrustDomain | string, concatenatedDer: Buffer): X509Bundle {
    const trustDomain = typeof td === 'string' ? parseTrustDomain(td) : td;
    const certs = splitDerCertificates(concatenatedDer).map((d, i) => {
      try {
        return new X509Certificate(d);
      } catch (err) {
        throw new GatewayError(
          'GW_ERR_IDENTITY_INVALID',
          `identity: bundle for ${trustDomain.name}: certificate ${i} cannot be parsed`,
          { cause: err },
        );
      }
    });
    return new X509Bundle(trustDomain, certs);
  }

  static fromPem(td: TrustDomain | string, pem: string): X509Bundle {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const name = typeof td === 'string' ? td : td.name;
    if (blocks.length === 0)
      throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: bundle for ${name}: no PEM certificate found`);
    const ders = blocks.map((b, i) => {
      try {
        return new X509Certificate(b).raw;
      } catch (err) {
        throw new GatewayError(
          'GW_ERR_IDENTITY_INVALID',
          `identity: bundle for ${name}: PEM certificate ${i} cannot be parsed`,
          { cause: err },
        );
      }
    });
    return X509Bundle.fromDer(td, Buffer.concat(ders));
  }

  authoritiesDer(): Buffer[] {
    return this.authorities.map((c) => c.raw);
  }

  /** Concatenated DER, as the Workload API sends bundles. */
  der(): Buffer {
    return Buffer.concat(this.authoritiesDer());
  }

  pem(): string {
    return this.authorities.map((c) => pemOf(c)).join('');
  }
}

export class BundleSet {
  private readonly byName: ReadonlyMap<string, X509Bundle>;
  private constructor(byName: ReadonlyMap<string, X509Bundle>) {
    this.byName = byName;
  }

  /** A later bundle for the same trust domain replaces an earlier one. */
  static of(bundles: Iterable<X509Bundle>): BundleSet {
    const m = new Map<string, X509Bundle>();
    for (const b of bundles) m.set(b.trustDomain.name, b);
    return new BundleSet(m);
  }

  static empty(): BundleSet {
    return new BundleSet(new Map());
  }

  /** Accepts a TrustDomain, `td` or `spiffe://td`; unknown or malformed names give `undefined`. */
  get(td: TrustDomain | string): X509Bundle | undefined {
    if (typeof td !== 'string') return this.byName.get(td.name);
    const name = td.startsWith('spiffe://') ? td.slice('spiffe://'.length) : td;
    return this.byName.get(name);
  }

  has(td: TrustDomain | string): boolean {
    return this.get(td) !== undefined;
  }

  all(): X509Bundle[] {
    return [...this.byName.values()];
  }

  trustDomains(): string[] {
    return [...this.byName.keys()];
  }

  /**
   * The same trust domains with byte-identical authorities. A new Workload API snapshot always makes a new
   * BundleSet (an SVID rotation too): this tells whether what the gateway trusts changed.
   */
  sameAuthorities(other: BundleSet): boolean {
    if (other === this) return true;
    if (other.byName.size !== this.byName.size) return false;
    for (const [name, b] of this.byName) {
      const o = other.byName.get(name);
      if (o === undefined || !o.der().equals(b.der())) return false;
    }
    return true;
  }

  /** Every authority of every bundle (own and federated), for the TLS `ca` option. */
  allAuthoritiesPem(): string[] {
    return this.all().flatMap((b) => b.authorities.map((c) => pemOf(c)));
  }
}

function pemOf(c: X509Certificate): string {
  const s = c.toString();
  return s.endsWith('\n') ? s : s + '\n';
}
