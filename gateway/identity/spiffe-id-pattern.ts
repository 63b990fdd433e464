/**
 * SPIFFE ID patterns for policy principals and authorizers. PURE: no node: imports (gateway/policy uses it).
 *
 * Syntax: a SPIFFE ID whose path segments may be
 * - `*`  : exactly one segment            `spiffe://td/hmi/*`  matches `/hmi/a`, not `/hmi` nor `/hmi/a/b`
 * - `**` : one or more segments (never 0) `spiffe://td/hmi/**` matches `/hmi/a` and `/hmi/a/b`, not `/hmi`
 * Everything else is literal and case-sensitive. Wildcards inside a segment (`hmi-*`) and in the trust
 * domain are refused: a principal always names exactly one trust domain [SPIFFE-ID 2.1], and partial
 * segment globs are too easy to over-match.
 * `**` means "at least one" so that `spiffe://td/hmi/**` never admits the `/hmi` workload itself; write
 * both patterns to include it.
 */
import { GatewayError } from '../errors.js';
import { tryParseSpiffeId, type SpiffeId } from './spiffe-id.js';

type Seg = { kind: 'lit'; text: string } | { kind: 'one' } | { kind: 'many' };

export interface IdPattern {
  /** The pattern as written. */
  readonly source: string;
  readonly trustDomain: string;
  /** True when the pattern has no wildcard (an exact ID). */
  readonly exact: boolean;
  /** Invalid SPIFFE IDs never match. */
  matches(id: string): boolean;
  matchesId(id: SpiffeId): boolean;
}

const PLACEHOLDER = 'x';

/** Throws `GW_ERR_IDENTITY_INVALID` with the reason; the policy compiler wraps it with file:line. */
export function compileIdPattern(p: string): IdPattern {
  const r = tryCompileIdPattern(p);
  if (!r.ok)
    throw new GatewayError(
      'GW_ERR_IDENTITY_INVALID',
      `identity: invalid SPIFFE ID pattern ${JSON.stringify(p)}: ${r.reason}`,
    );
  return r.pattern;
}

export function tryCompileIdPattern(p: string): { ok: true; pattern: IdPattern } | { ok: false; reason: string } {
  // Validate the shape with the ID parser by standing a legal placeholder in for each wildcard segment.
  const parts = p.split('/');
  if (parts.length >= 3 && parts[2]?.includes('*'))
    return { ok: false, reason: 'wildcards are not allowed in the trust domain' };
  const stand = parts.map((s, i) => (i >= 3 && (s === '*' || s === '**') ? PLACEHOLDER : s)).join('/');
  if (stand.includes('*')) return { ok: false, reason: 'a wildcard must be a whole path segment: "*" or "**"' };
  const parsed = tryParseSpiffeId(stand);
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  const segs: Seg[] = parts
    .slice(3)
    .map((s) => (s === '*' ? { kind: 'one' } : s === '**' ? { kind: 'many' } : { kind: 'lit', text: s }));
  return { ok: true, pattern: new CompiledPattern(p, parsed.id.trustDomain.name, segs) };
}

class CompiledPattern implements IdPattern {
  readonly exact: boolean;
  constructor(
    readonly source: string,
    readonly trustDomain: string,
    private readonly segs: readonly Seg[],
  ) {
    this.exact = segs.every((s) => s.kind === 'lit');
  }
  matches(id: string): boolean {
    const r = tryParseSpiffeId(id);
    return r.ok && this.matchesId(r.id);
  }
  matchesId(id: SpiffeId): boolean {
    if (id.trustDomain.name !== this.trustDomain) return false;
    if (this.exact) return id.toString() === this.source;
    return matchSegments(this.segs, id.segments());
  }
}

/** Classic glob DP over segments: O(pattern × id), no backtracking blow-up with several `**`. */
function matchSegments(pat: readonly Seg[], ids: readonly string[]): boolean {
  // reach[j]: pattern prefix consumed so far can end exactly after ids[0..j)
  let reach: boolean[] = new Array<boolean>(ids.length + 1).fill(false);
  reach[0] = true;
  for (const seg of pat) {
    const next: boolean[] = new Array<boolean>(ids.length + 1).fill(false);
    for (let j = 0; j < ids.length; j++) {
      if (seg.kind === 'many') {
        // `**` extends any reachable prefix by ≥ 1 segment.
        if (reach[j] === true || next[j] === true) next[j + 1] = true;
      } else if (reach[j] === true && (seg.kind === 'one' || seg.text === ids[j])) {
        next[j + 1] = true;
      }
    }
    reach = next;
  }
  return reach[ids.length] === true;
}
