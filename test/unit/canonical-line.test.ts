/**
 * The audit line renderer (canonical-json.ts) against a plain reference: canonical JSON is JSON with object
 * keys sorted in UTF-16 code unit order, no whitespace, undefined members dropped. The fast path (remembered
 * key orders, quoted-key cache, hash splice) must give byte-identical output for any event, including key
 * lists built to alias each other in the shape cache.
 */
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { canonicalJson, canonicalLine } from '../../gateway/audit/canonical-json.js';

function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return '[' + value.map((v) => (v === undefined ? 'null' : reference(v))).join(',') + ']';
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + reference(o[k])).join(',') + '}';
}

const SKIP = new Set(['seq', 'time', 'prev', 'hash']);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string(),
    fc.double(),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.string({ maxLength: 6 }), tie('value'), { maxKeys: 6 }),
})).value;

t.test('canonicalJson equals the reference for any JSON value (numbers, -0, NaN, nesting)', async (t) => {
  fc.assert(
    fc.property(json, (v) => canonicalJson(v) === reference(v)),
    { numRuns: 2000 },
  );
  t.equal(canonicalJson({ b: -0, a: NaN, c: [undefined, 1e21] }), '{"a":null,"b":0,"c":[null,1e+21]}');
});

t.test(
  'canonicalLine: the hashed text is the reference JSON of fields + chain, the line splices the hash in',
  async () => {
    const fields = fc.dictionary(
      fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('seq', 'hash', 'type', 'a\u0000b', 'a', 'b', 'zz')),
      json,
      { maxKeys: 10 },
    );
    fc.assert(
      fc.property(fields, (f) => {
        const chain = { seq: 7, time: '2026-12-01T00:00:00.000Z', prev: 'p'.repeat(64) };
        const { line, hash } = canonicalLine(f, chain, SKIP);
        const kept = Object.fromEntries(Object.entries(f).filter(([k]) => !SKIP.has(k)));
        const hashed = reference({ ...kept, ...chain });
        const expectedHash = createHash('sha256').update(hashed).digest('hex');
        return hash === expectedHash && line === reference({ ...kept, ...chain, hash: expectedHash });
      }),
      { numRuns: 2000 },
    );
  },
);

t.test('key lists that alias in the shape cache still render their own keys', async (t) => {
  const chain = { seq: 1, time: 'x', prev: 'y' };
  // [a\0b, seq, time, prev] and [a, b, seq, time, prev] join to the same lookup key
  const one = canonicalLine({ 'a\u0000b': 1 }, chain, SKIP).line;
  const two = canonicalLine({ a: 1, b: 2 }, chain, SKIP).line;
  t.match(one, /"a\\u0000b":1/);
  t.match(two, /"a":1,"b":2/, 'the aliasing list is confirmed, not trusted');
  t.equal(canonicalLine({ a: 1, b: 2 }, chain, SKIP).line, two, 'the remembered order is reused exactly');
});

t.test('events of one type with different member lists each render their own members', async (t) => {
  const chain = { seq: 1, time: 'x', prev: 'y' };
  const a = { type: 'request.decision', b: 1, a: 2 };
  const b = { type: 'request.decision', a: 2, c: 3, role: 'eng' };
  for (let i = 0; i < 3; i++) {
    t.equal(
      canonicalLine(a, chain, SKIP).line,
      reference({ ...a, ...chain, hash: canonicalLine(a, chain, SKIP).hash }),
    );
    t.equal(
      canonicalLine(b, chain, SKIP).line,
      reference({ ...b, ...chain, hash: canonicalLine(b, chain, SKIP).hash }),
    );
  }
});
