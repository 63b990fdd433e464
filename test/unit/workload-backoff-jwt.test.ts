import { generateKeyPairSync } from 'node:crypto';
import t from 'tap';
import { LinearBackoff } from '../../gateway/backoff.js';
import {
  jwkThumbprint,
  parseJwtSvidInsecure,
  publicJwk,
  signJwtSvid,
  verifyJwtSvid,
} from '../../gateway/identity/jwt-svid.js';
import { fromStruct, toStruct } from '../../gateway/identity/protobuf-struct.js';

t.test('linear backoff 1s, 2s, 3s … capped at 30s, reset after a good message (go-spiffe)', async (t) => {
  const b = new LinearBackoff();
  const seq = Array.from({ length: 32 }, () => b.next());
  t.same(seq.slice(0, 4), [1000, 2000, 3000, 4000]);
  t.equal(seq[29], 30_000);
  t.equal(seq[31], 30_000);
  b.reset();
  t.equal(b.next(), 1000);
  const small = new LinearBackoff({ initialMs: 50, maxMs: 120 });
  t.same([small.next(), small.next(), small.next(), small.next()], [50, 100, 120, 120]);
  t.throws(() => new LinearBackoff({ initialMs: 0, maxMs: 10 }), RangeError);
  t.throws(() => new LinearBackoff({ initialMs: 100, maxMs: 10 }), RangeError);
});

t.test('google.protobuf.Struct conversion round-trips JSON claims', async (t) => {
  const claims = {
    sub: 'spiffe://td/x',
    aud: ['a', 'b'],
    exp: 1700000000,
    ok: true,
    none: null,
    nested: { k: [1, 'two'] },
  };
  const s = toStruct(claims) as { fields: Record<string, { stringValue?: string; listValue?: unknown }> };
  t.equal(s.fields['sub']?.stringValue, 'spiffe://td/x');
  // proto-loader with `oneofs: true` names the set field in `kind`; emulate that decoding.
  const withKinds = JSON.parse(JSON.stringify(s), (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const kind = ['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue'].find(
        (k) => k in o,
      );
      if (kind) o['kind'] = kind;
    }
    return v;
  }) as unknown;
  t.same(fromStruct(withKinds), claims);
  t.same(fromStruct(undefined), {});
});

t.test('ES256 JWT-SVID sign → verify, and every failure is a value', async (t) => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const now = 1_800_000_000_000;
  const token = signJwtSvid({
    key: privateKey,
    sub: 'spiffe://plant.example/hmi',
    audience: ['gw'],
    ttlSeconds: 60,
    nowMs: now,
  });
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>;
  t.same(header, { alg: 'ES256', kid: jwkThumbprint(privateKey), typ: 'JWT' });
  const jwks = { keys: [publicJwk(privateKey)] };
  t.equal(jwks.keys[0]?.use, 'jwt-svid');
  t.notOk('d' in (jwks.keys[0] ?? {}), 'JWKS carries no private part');

  const ok = verifyJwtSvid(token, jwks, 'gw', now + 1000);
  t.ok(ok.ok);
  if (ok.ok) {
    t.equal(ok.svid.spiffeId.toString(), 'spiffe://plant.example/hmi');
    t.equal(ok.svid.expiry.getTime(), now + 60_000);
  }
  t.match(verifyJwtSvid(token, jwks, 'other', now), { ok: false, reason: /audience/ });
  t.match(verifyJwtSvid(token, jwks, 'gw', now + 61_000), { ok: false, reason: /expired/ });
  t.match(verifyJwtSvid(token, { keys: [publicJwk(other)] }, 'gw', now), { ok: false, reason: /kid/ });
  const [h, p] = token.split('.');
  const forged = `${h}.${p}.${signJwtSvid({ key: other, sub: 'spiffe://plant.example/hmi', audience: ['gw'], ttlSeconds: 60, nowMs: now }).split('.')[2]}`;
  t.match(verifyJwtSvid(forged, jwks, 'gw', now), { ok: false, reason: /signature/ });
  const swapped = `${h}.${Buffer.from(JSON.stringify({ sub: 'spiffe://plant.example/admin', aud: ['gw'], exp: 9e9 })).toString('base64url')}.${token.split('.')[2]}`;
  t.match(verifyJwtSvid(swapped, jwks, 'gw', now), { ok: false, reason: /signature/ });
  t.match(verifyJwtSvid('a.b', jwks, 'gw', now), { ok: false });
  t.match(verifyJwtSvid('!!.??.**', jwks, 'gw', now), { ok: false });

  t.equal(parseJwtSvidInsecure(token, 'internal').hint, 'internal');
  const noSub = `${h}.${Buffer.from(JSON.stringify({ sub: 'https://x', aud: 'gw', exp: 1 })).toString('base64url')}.x`;
  t.throws(() => parseJwtSvidInsecure(noSub), { code: 'GW_ERR_IDENTITY_INVALID' });
});
