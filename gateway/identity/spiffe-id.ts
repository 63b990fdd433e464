/**
 * SPIFFE IDs and trust domains, parsed strictly per [SPIFFE-ID 2] and modelled on go-spiffe `spiffeid`.
 * Pure (no node: imports) so the policy compiler can use it through `spiffe-id-pattern.ts`.
 *
 * Choices where the spec leaves room (same as go-spiffe):
 * - The scheme must be exactly `spiffe://` in lowercase and the trust domain must already be lowercase:
 *   [SPIFFE-ID 2.1] says they "must be normalized to lowercase"; we refuse rather than normalize, so that
 *   one identity has exactly one spelling in policy, audit and logs.
 */
import { GatewayError } from '../errors.js';

/** [SPIFFE-ID 2.3] maximum length we must support for a whole SPIFFE ID, in bytes. */
export const MAX_SPIFFE_ID_BYTES = 2048;
/** [SPIFFE-ID 2.1] maximum length of a trust domain name, in bytes. */
export const MAX_TRUST_DOMAIN_BYTES = 255;

const SCHEME = 'spiffe://';
const TD_CHAR = /^[a-z0-9._-]$/;
const SEGMENT_CHAR = /^[a-zA-Z0-9._-]$/;

export class TrustDomain {
  readonly name: string;
  /** Use `parseTrustDomain`; the constructor trusts its input. */
  private constructor(name: string) {
    this.name = name;
  }
  /** @internal only for values already validated by `checkTrustDomainName`. */
  static fromValidated(name: string): TrustDomain {
    return new TrustDomain(name);
  }
  /** `spiffe://<td>`: the key used for bundles in the Workload API [WORKLOAD-API X509BundlesResponse]. */
  idString(): string {
    return SCHEME + this.name;
  }
  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }
  toString(): string {
    return this.name;
  }
}

export class SpiffeId {
  readonly trustDomain: TrustDomain;
  /** `''` for the trust-domain root ID, else `/seg/seg…` with no trailing slash. */
  readonly path: string;
  private constructor(trustDomain: TrustDomain, path: string) {
    this.trustDomain = trustDomain;
    this.path = path;
  }
  /** @internal only for values already validated by `tryParseSpiffeId`. */
  static fromValidated(trustDomain: TrustDomain, path: string): SpiffeId {
    return new SpiffeId(trustDomain, path);
  }
  /** Path segments, `[]` for the root ID. */
  segments(): string[] {
    return this.path === '' ? [] : this.path.slice(1).split('/');
  }
  isRoot(): boolean {
    return this.path === '';
  }
  memberOf(td: TrustDomain): boolean {
    return this.trustDomain.equals(td);
  }
  equals(other: SpiffeId): boolean {
    return this.toString() === other.toString();
  }
  toString(): string {
    return SCHEME + this.trustDomain.name + this.path;
  }
}

function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Explains the first character a trust domain may not contain [SPIFFE-ID 2.1]. */
function checkTrustDomainName(td: string): string | null {
  if (td.length === 0) return 'trust domain is missing';
  if (byteLength(td) > MAX_TRUST_DOMAIN_BYTES) return `trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`;
  for (const ch of td) {
    if (TD_CHAR.test(ch)) continue;
    if (ch === ':') return 'port is not allowed in the trust domain';
    if (ch === '@') return 'userinfo is not allowed in the trust domain';
    if (ch === '%') return 'percent-encoding is not allowed';
    if (ch >= 'A' && ch <= 'Z') return 'trust domain must be lowercase';
    return `trust domain contains an invalid character ${JSON.stringify(ch)}`;
  }
  return null;
}

/** [SPIFFE-ID 2.2] path rules; `path` is what follows the trust domain ('' or '/…'). */
function checkPath(path: string): string | null {
  if (path === '') return null;
  if (path.endsWith('/')) return 'path has a trailing slash';
  for (const seg of path.slice(1).split('/')) {
    if (seg === '') return 'path has an empty segment';
    if (seg === '.' || seg === '..') return `path has a ${JSON.stringify(seg)} segment`;
    for (const ch of seg) {
      if (SEGMENT_CHAR.test(ch)) continue;
      if (ch === '%') return 'percent-encoding is not allowed';
      if (ch === '?') return 'query is not allowed';
      if (ch === '#') return 'fragment is not allowed';
      return `path contains an invalid character ${JSON.stringify(ch)}`;
    }
  }
  return null;
}

export function tryParseSpiffeId(s: string): { ok: true; id: SpiffeId } | { ok: false; reason: string } {
  if (s.length === 0) return { ok: false, reason: 'SPIFFE ID is empty' };
  if (byteLength(s) > MAX_SPIFFE_ID_BYTES)
    return { ok: false, reason: `SPIFFE ID is longer than ${MAX_SPIFFE_ID_BYTES} bytes` };
  if (!s.startsWith(SCHEME)) return { ok: false, reason: 'scheme must be "spiffe://"' };
  const rest = s.slice(SCHEME.length);
  const slash = rest.indexOf('/');
  const tdPart = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  // Query/fragment right after the trust domain are reported as such, not as bad trust-domain chars.
  if (tdPart.includes('?')) return { ok: false, reason: 'query is not allowed' };
  if (tdPart.includes('#')) return { ok: false, reason: 'fragment is not allowed' };
  const tdErr = checkTrustDomainName(tdPart);
  if (tdErr !== null) return { ok: false, reason: tdErr };
  const pathErr = checkPath(path);
  if (pathErr !== null) return { ok: false, reason: pathErr };
  return { ok: true, id: SpiffeId.fromValidated(TrustDomain.fromValidated(tdPart), path) };
}

/** Throws `GW_ERR_IDENTITY_INVALID` (config/startup use); hostile input should use `tryParseSpiffeId`. */
export function parseSpiffeId(s: string): SpiffeId {
  const r = tryParseSpiffeId(s);
  if (!r.ok)
    throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: invalid SPIFFE ID ${JSON.stringify(s)}: ${r.reason}`);
  return r.id;
}

export function tryParseTrustDomain(s: string): { ok: true; td: TrustDomain } | { ok: false; reason: string } {
  if (s.startsWith(SCHEME)) {
    const r = tryParseSpiffeId(s);
    if (!r.ok) return r;
    if (!r.id.isRoot()) return { ok: false, reason: 'a trust domain ID has no path' };
    return { ok: true, td: r.id.trustDomain };
  }
  if (s.includes('://')) return { ok: false, reason: 'scheme must be "spiffe://"' };
  const err = checkTrustDomainName(s);
  if (err !== null) return { ok: false, reason: err };
  return { ok: true, td: TrustDomain.fromValidated(s) };
}

/** Accepts `td` or `spiffe://td`; throws `GW_ERR_IDENTITY_INVALID`. */
export function parseTrustDomain(s: string): TrustDomain {
  const r = tryParseTrustDomain(s);
  if (!r.ok)
    throw new GatewayError(
      'GW_ERR_IDENTITY_INVALID',
      `identity: invalid trust domain ${JSON.stringify(s)}: ${r.reason}`,
    );
  return r.td;
}
