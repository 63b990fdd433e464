/**
 * Authorizers decide whether an already-verified peer SPIFFE ID may connect, after path validation
 * [X509-SVID 5 "authorize the ID"; go-spiffe spiffetls/tlsconfig AuthorizeAny/ID/OneOf/MemberOf].
 */
import { compileIdPattern, type IdPattern } from './spiffe-id-pattern.js';
import { parseSpiffeId, parseTrustDomain, type SpiffeId, type TrustDomain } from './spiffe-id.js';

export type AuthorizeResult = { ok: true } | { ok: false; reason: string };
export type Authorizer = (id: SpiffeId) => AuthorizeResult;

const OK: AuthorizeResult = Object.freeze({ ok: true });

/** Any ID whose chain verified against its own trust domain's bundle. */
export function authorizeAny(): Authorizer {
  return () => OK;
}

export function authorizeId(expected: SpiffeId | string): Authorizer {
  const want = typeof expected === 'string' ? parseSpiffeId(expected) : expected;
  return (id) =>
    id.equals(want) ? OK : { ok: false, reason: `unexpected ID ${id.toString()}, want ${want.toString()}` };
}

export function authorizeOneOf(ids: Iterable<SpiffeId | string>): Authorizer {
  const set = new Set([...ids].map((i) => (typeof i === 'string' ? parseSpiffeId(i) : i).toString()));
  return (id) =>
    set.has(id.toString())
      ? OK
      : { ok: false, reason: `ID ${id.toString()} is not one of the ${set.size} allowed IDs` };
}

export function authorizeMemberOf(td: TrustDomain | string): Authorizer {
  const want = typeof td === 'string' ? parseTrustDomain(td) : td;
  return (id) =>
    id.memberOf(want) ? OK : { ok: false, reason: `ID ${id.toString()} is not a member of trust domain ${want.name}` };
}

/** Patterns per `spiffe-id-pattern.ts` (`*` one segment, `**` one or more). */
export function authorizeMatching(patterns: Iterable<IdPattern | string>): Authorizer {
  const compiled = [...patterns].map((p) => (typeof p === 'string' ? compileIdPattern(p) : p));
  return (id) =>
    compiled.some((p) => p.matchesId(id))
      ? OK
      : { ok: false, reason: `ID ${id.toString()} matches none of ${compiled.map((p) => p.source).join(', ')}` };
}
