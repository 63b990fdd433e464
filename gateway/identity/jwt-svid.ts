/**
 * JWT-SVIDs [JWT-SVID]: JWS compact tokens with `sub` = SPIFFE ID, `aud`, `exp`, signed by a key of the
 * trust domain's JWT bundle (a JWKS). Used by the Workload API client (parse what the agent returns) and
 * by the dev issuer (sign, publish JWKS, validate). Only node:crypto; no JWT library needed for ES256.
 */
import { createHash, createPublicKey, sign, verify, type JsonWebKey, type KeyObject } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { tryParseSpiffeId, type SpiffeId } from './spiffe-id.js';

export interface JwtSvid {
  readonly spiffeId: SpiffeId;
  /** The JWS compact serialization, to put in an Authorization header. */
  readonly token: string;
  readonly audience: string[];
  readonly expiry: Date;
  readonly claims: Record<string, unknown>;
  readonly hint?: string;
}

export interface Jwks {
  keys: (JsonWebKey & { kid?: string; use?: string })[];
}

/** JWS algorithm for a signing key [RFC 7518 3.1]; SPIRE's JWT keys are EC P-256 (ES256) by default. */
function algFor(key: KeyObject): { alg: string; hash: string; dsa: boolean } {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1')
    return { alg: 'ES256', hash: 'sha256', dsa: true };
  if (key.asymmetricKeyType === 'ec' && d?.namedCurve === 'secp384r1')
    return { alg: 'ES384', hash: 'sha384', dsa: true };
  if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256', hash: 'sha256', dsa: false };
  throw new GatewayError(
    'GW_ERR_INTERNAL',
    `identity: unsupported JWT signing key type ${key.asymmetricKeyType ?? '?'}`,
  );
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** RFC 7638 JWK thumbprint of the public key, used as `kid`. */
export function jwkThumbprint(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const members =
    jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return b64url(createHash('sha256').update(JSON.stringify(members)).digest());
}

/** The public JWK SPIRE publishes in a JWT bundle (`use: jwt-svid`). */
export function publicJwk(key: KeyObject): Jwks['keys'][number] {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  return { ...jwk, kid: jwkThumbprint(key), use: 'jwt-svid' };
}

export function signJwtSvid(opts: {
  key: KeyObject;
  sub: string;
  audience: string[];
  ttlSeconds: number;
  nowMs: number;
}): string {
  const { alg, hash, dsa } = algFor(opts.key);
  const iat = Math.floor(opts.nowMs / 1000);
  const header = { alg, kid: jwkThumbprint(opts.key), typ: 'JWT' };
  const payload = { sub: opts.sub, aud: opts.audience, exp: iat + opts.ttlSeconds, iat };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const sig = sign(hash, Buffer.from(input), dsa ? { key: opts.key, dsaEncoding: 'ieee-p1363' } : opts.key);
  return `${input}.${b64url(sig)}`;
}

type Decoded = { header: Record<string, unknown>; payload: Record<string, unknown>; input: string; sig: Buffer };

function decode(token: string): Decoded | string {
  const parts = token.split('.');
  if (parts.length !== 3) return 'token is not a JWS compact serialization';
  const [h, p, s] = parts as [string, string, string];
  try {
    const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown;
    if (typeof header !== 'object' || header === null || typeof payload !== 'object' || payload === null) {
      return 'token header or payload is not a JSON object';
    }
    return {
      header: header as Record<string, unknown>,
      payload: payload as Record<string, unknown>,
      input: `${h}.${p}`,
      sig: Buffer.from(s, 'base64url'),
    };
  } catch {
    return 'token header or payload is not base64url JSON';
  }
}

function audienceOf(payload: Record<string, unknown>): string[] {
  const aud = payload['aud'];
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}

type Checked = { ok: true; svid: JwtSvid } | { ok: false; reason: string };

/** Claim checks shared by insecure parsing and verification [JWT-SVID 3]. */
function checkClaims(d: Decoded, token: string, hint: string | undefined): Checked {
  const sub = d.payload['sub'];
  if (typeof sub !== 'string') return { ok: false, reason: 'token has no sub claim' };
  const id = tryParseSpiffeId(sub);
  if (!id.ok) return { ok: false, reason: `sub is not a SPIFFE ID: ${id.reason}` };
  const exp = d.payload['exp'];
  if (typeof exp !== 'number') return { ok: false, reason: 'token has no exp claim' };
  const audience = audienceOf(d.payload);
  if (audience.length === 0) return { ok: false, reason: 'token has no aud claim' };
  const svid: JwtSvid = {
    spiffeId: id.id,
    token,
    audience,
    expiry: new Date(exp * 1000),
    claims: d.payload,
    ...(hint !== undefined && hint !== '' ? { hint } : {}),
  };
  return { ok: true, svid };
}

/** Parses without checking the signature: for tokens the Workload API just handed us. Throws GW_ERR_IDENTITY_INVALID. */
export function parseJwtSvidInsecure(token: string, hint?: string): JwtSvid {
  const d = decode(token);
  const r = typeof d === 'string' ? { ok: false as const, reason: d } : checkClaims(d, token, hint);
  if (!r.ok) throw new GatewayError('GW_ERR_IDENTITY_INVALID', `identity: invalid JWT-SVID: ${r.reason}`);
  return r.svid;
}

/** Full validation against a JWKS: alg, kid, signature, exp, audience. Hostile input: returns a value. */
export function verifyJwtSvid(token: string, jwks: Jwks, audience: string, nowMs: number): Checked {
  const d = decode(token);
  if (typeof d === 'string') return { ok: false, reason: d };
  const kid = d.header['kid'];
  const jwk = jwks.keys.find((k) => k.kid === kid);
  if (jwk === undefined) return { ok: false, reason: `no bundle key with kid ${JSON.stringify(kid)}` };
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk, format: 'jwk' });
  } catch {
    return { ok: false, reason: 'bundle key cannot be loaded' };
  }
  const { alg, hash, dsa } = algFor(key);
  if (d.header['alg'] !== alg)
    return { ok: false, reason: `alg ${String(d.header['alg'])} does not match the key (${alg})` };
  const good = verify(hash, Buffer.from(d.input), dsa ? { key, dsaEncoding: 'ieee-p1363' } : key, d.sig);
  if (!good) return { ok: false, reason: 'signature does not verify' };
  const r = checkClaims(d, token, undefined);
  if (!r.ok) return r;
  if (r.svid.expiry.getTime() <= nowMs) return { ok: false, reason: 'token has expired' };
  if (!r.svid.audience.includes(audience))
    return { ok: false, reason: `audience ${JSON.stringify(audience)} not in aud` };
  return r;
}
