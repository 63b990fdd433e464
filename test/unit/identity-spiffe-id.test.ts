import t from 'tap';
import { GatewayError } from '../../gateway/errors.js';
import {
  parseSpiffeId,
  parseTrustDomain,
  tryParseSpiffeId,
  tryParseTrustDomain,
} from '../../gateway/identity/spiffe-id.js';
import { compileIdPattern, tryCompileIdPattern } from '../../gateway/identity/spiffe-id-pattern.js';
import {
  authorizeAny,
  authorizeId,
  authorizeMatching,
  authorizeMemberOf,
  authorizeOneOf,
} from '../../gateway/identity/authorizers.js';

const td255 = 'a'.repeat(255);

t.test('valid SPIFFE IDs [SPIFFE-ID 2]', async (t) => {
  const table: Array<[string, string, string]> = [
    ['spiffe://plant.example', 'plant.example', ''],
    ['spiffe://plant.example/hmi/line1', 'plant.example', '/hmi/line1'],
    ['spiffe://a-b_c.9/X.y-Z_0', 'a-b_c.9', '/X.y-Z_0'],
    ['spiffe://td/...', 'td', '/...'],
    ['spiffe://td/a/.b/c.', 'td', '/a/.b/c.'],
    [`spiffe://${td255}/x`, td255, '/x'],
    [`spiffe://td/${'p'.repeat(2048 - 'spiffe://td/'.length)}`, 'td', `/${'p'.repeat(2048 - 'spiffe://td/'.length)}`],
  ];
  for (const [s, td, path] of table) {
    const r = tryParseSpiffeId(s);
    t.ok(r.ok, `${s.slice(0, 60)} parses`);
    if (!r.ok) continue;
    t.equal(r.id.trustDomain.name, td);
    t.equal(r.id.path, path);
    t.equal(r.id.toString(), s, 'round trips');
    t.equal(r.id.trustDomain.idString(), `spiffe://${td}`);
  }
});

t.test('invalid SPIFFE IDs, each with its reason', async (t) => {
  const table: Array<[string, RegExp]> = [
    ['', /empty/],
    ['plant.example/x', /scheme/],
    ['https://plant.example/x', /scheme/],
    ['SPIFFE://plant.example/x', /scheme/],
    ['spiffe:/plant.example/x', /scheme/],
    ['spiffe://', /trust domain is missing/],
    ['spiffe:///x', /trust domain is missing/],
    ['spiffe://Plant.example/x', /lowercase/],
    ['spiffe://plant.example:8080/x', /port/],
    ['spiffe://user@plant.example/x', /userinfo/],
    ['spiffe://user:pw@plant.example/x', /port|userinfo/],
    ['spiffe://pl%41nt/x', /percent/],
    ['spiffe://plant example/x', /invalid character/],
    ['spiffe://plant.example?x=1', /query/],
    ['spiffe://plant.example#f', /fragment/],
    ['spiffe://plant.example/', /trailing slash/],
    ['spiffe://plant.example/a/', /trailing slash/],
    ['spiffe://plant.example//a', /empty segment/],
    ['spiffe://plant.example/a//b', /empty segment/],
    ['spiffe://plant.example/./a', /"\." segment/],
    ['spiffe://plant.example/a/..', /"\.\." segment/],
    ['spiffe://plant.example/a%20b', /percent/],
    ['spiffe://plant.example/a?b', /query/],
    ['spiffe://plant.example/a#b', /fragment/],
    ['spiffe://plant.example/a b', /invalid character/],
    ['spiffe://plant.example/a:b', /invalid character/],
    ['spiffe://plant.example/ä', /invalid character/],
    [`spiffe://${'a'.repeat(256)}/x`, /longer than 255/],
    [`spiffe://td/${'p'.repeat(2049 - 'spiffe://td/'.length)}`, /longer than 2048/],
  ];
  for (const [s, re] of table) {
    const r = tryParseSpiffeId(s);
    t.notOk(r.ok, `${JSON.stringify(s.slice(0, 60))} is refused`);
    if (!r.ok) t.match(r.reason, re, `${JSON.stringify(s.slice(0, 60))}: ${r.reason}`);
  }
});

t.test('parseSpiffeId throws GW_ERR_IDENTITY_INVALID', async (t) => {
  t.throws(() => parseSpiffeId('spiffe://td/a/'), {
    name: 'GatewayError',
    code: 'GW_ERR_IDENTITY_INVALID',
    message: /trailing slash/,
  });
  try {
    parseSpiffeId('x');
    t.fail('should throw');
  } catch (e) {
    t.ok(e instanceof GatewayError);
  }
  t.equal(parseSpiffeId('spiffe://td/a').toString(), 'spiffe://td/a');
  t.ok(parseSpiffeId('spiffe://td/a').equals(parseSpiffeId('spiffe://td/a')));
  t.same(parseSpiffeId('spiffe://td/a/b').segments(), ['a', 'b']);
  t.same(parseSpiffeId('spiffe://td').segments(), []);
});

t.test('trust domains accept "td" and "spiffe://td"', async (t) => {
  t.equal(parseTrustDomain('plant.example').name, 'plant.example');
  t.equal(parseTrustDomain('spiffe://plant.example').name, 'plant.example');
  t.equal(parseTrustDomain('plant.example').idString(), 'spiffe://plant.example');
  for (const bad of [
    '',
    'Plant',
    'spiffe://plant.example/x',
    'https://plant.example',
    'td:80',
    'a@b',
    'a'.repeat(256),
  ]) {
    t.notOk(tryParseTrustDomain(bad).ok, `${JSON.stringify(bad.slice(0, 40))} refused`);
  }
  t.throws(() => parseTrustDomain('UPPER'), { code: 'GW_ERR_IDENTITY_INVALID' });
});

t.test('ID patterns: * is one segment, ** is one or more', async (t) => {
  const table: Array<[string, string, boolean]> = [
    ['spiffe://td/hmi/*', 'spiffe://td/hmi/a', true],
    ['spiffe://td/hmi/*', 'spiffe://td/hmi', false],
    ['spiffe://td/hmi/*', 'spiffe://td/hmi/a/b', false],
    ['spiffe://td/hmi/**', 'spiffe://td/hmi/a', true],
    ['spiffe://td/hmi/**', 'spiffe://td/hmi/a/b', true],
    ['spiffe://td/hmi/**', 'spiffe://td/hmi/a/b/c/d', true],
    ['spiffe://td/hmi/**', 'spiffe://td/hmi', false],
    ['spiffe://td/hmi/**', 'spiffe://td/hmix/a', false],
    ['spiffe://td/hmi/**', 'spiffe://other/hmi/a', false],
    ['spiffe://td/*/line1', 'spiffe://td/hmi/line1', true],
    ['spiffe://td/*/line1', 'spiffe://td/hmi/line2', false],
    ['spiffe://td/**/line1', 'spiffe://td/a/b/line1', true],
    ['spiffe://td/**/line1', 'spiffe://td/line1', false],
    ['spiffe://td/**/x/**', 'spiffe://td/a/x/b', true],
    ['spiffe://td/**/x/**', 'spiffe://td/a/x', false],
    ['spiffe://td/**', 'spiffe://td/anything/at/all', true],
    ['spiffe://td/**', 'spiffe://td', false],
    ['spiffe://td/hmi/line1', 'spiffe://td/hmi/line1', true],
    ['spiffe://td/hmi/line1', 'spiffe://td/hmi/Line1', false],
    ['spiffe://td/hmi/*', 'spiffe://td/hmi/a/', false],
    ['spiffe://td/hmi/*', 'not an id', false],
    ['spiffe://td', 'spiffe://td', true],
  ];
  for (const [p, id, want] of table) t.equal(compileIdPattern(p).matches(id), want, `${p} ~ ${id} → ${want}`);
  t.equal(compileIdPattern('spiffe://td/a/*').exact, false);
  t.equal(compileIdPattern('spiffe://td/a/b').exact, true);
  t.equal(compileIdPattern('spiffe://td/a/*').trustDomain, 'td');
});

t.test('many ** segments stay linear (no backtracking blow-up)', async (t) => {
  const p = compileIdPattern(`spiffe://td/${Array(30).fill('**').join('/')}/z`);
  const id = `spiffe://td/${Array(200).fill('a').join('/')}`;
  t.equal(p.matches(id), false);
  t.equal(p.matches(id + '/z'), true);
});

t.test('bad patterns are refused', async (t) => {
  const table: Array<[string, RegExp]> = [
    ['spiffe://*/x', /trust domain/],
    ['spiffe://td/hmi-*', /whole path segment/],
    ['spiffe://td/***', /whole path segment/],
    ['spiffe://td/a/', /trailing slash/],
    ['http://td/a', /scheme/],
    ['spiffe://TD/*', /lowercase/],
  ];
  for (const [p, re] of table) {
    const r = tryCompileIdPattern(p);
    t.notOk(r.ok, `${p} refused`);
    if (!r.ok) t.match(r.reason, re);
  }
  t.throws(() => compileIdPattern('spiffe://td/x*'), { code: 'GW_ERR_IDENTITY_INVALID' });
});

t.test('authorizers', async (t) => {
  const id = parseSpiffeId('spiffe://plant.example/hmi/line1');
  const other = parseSpiffeId('spiffe://other.org/hmi/line1');
  t.same(authorizeAny()(id), { ok: true });
  t.same(authorizeId('spiffe://plant.example/hmi/line1')(id), { ok: true });
  t.match(authorizeId('spiffe://plant.example/hmi/line2')(id), { ok: false, reason: /unexpected ID/ });
  t.same(authorizeOneOf(['spiffe://plant.example/a', id])(id), { ok: true });
  t.match(authorizeOneOf(['spiffe://plant.example/a'])(id), { ok: false });
  t.same(authorizeMemberOf('plant.example')(id), { ok: true });
  t.match(authorizeMemberOf('spiffe://plant.example')(other), { ok: false, reason: /not a member/ });
  t.same(authorizeMatching(['spiffe://plant.example/hmi/*'])(id), { ok: true });
  t.match(authorizeMatching(['spiffe://plant.example/hmi/*'])(other), { ok: false, reason: /matches none/ });
  t.throws(() => authorizeId('nope'), { code: 'GW_ERR_IDENTITY_INVALID' });
});

t.test('properties (fast-check)', async (t) => {
  const fc = (await import('fast-check')).default;
  const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_'.split(''));
  const segChar = fc.constantFrom(...'abcXYZ019.-_'.split(''));
  const td = fc.string({ unit: tdChar, minLength: 1, maxLength: 20 });
  const seg = fc.string({ unit: segChar, minLength: 1, maxLength: 8 }).filter((s) => s !== '.' && s !== '..');
  const id = fc
    .record({ td, segs: fc.array(seg, { minLength: 1, maxLength: 6 }) })
    .map(({ td, segs }) => `spiffe://${td}/${segs.join('/')}`);
  fc.assert(
    fc.property(id, (s) => {
      const r = tryParseSpiffeId(s);
      return (
        r.ok &&
        r.id.toString() === s &&
        compileIdPattern(s).matches(s) &&
        compileIdPattern(`spiffe://${r.id.trustDomain.name}/**`).matches(s)
      );
    }),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(id, seg, (s, extra) => {
      const r = tryParseSpiffeId(s);
      if (!r.ok) return false;
      const segs = r.id.segments();
      const one = `spiffe://${r.id.trustDomain.name}/${segs.slice(0, -1).concat('*').join('/')}`;
      return compileIdPattern(one).matches(s) && !compileIdPattern(one).matches(`${s}/${extra}`);
    }),
    { numRuns: 300 },
  );
  // Hostile input never throws.
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), (a, b) => {
      tryParseSpiffeId(a);
      tryParseSpiffeId(`spiffe://${a}`);
      tryParseTrustDomain(a);
      const p = tryCompileIdPattern(`spiffe://td/${a}`);
      if (p.ok) p.pattern.matches(`spiffe://td/${b}`);
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass('properties hold');
});
