/**
 * The audit line renderer (canonical-line.ts, straight into a LineBuffer) and canonicalJson against a plain
 * reference: canonical JSON is JSON with object keys sorted in UTF-16 code unit order, no whitespace,
 * undefined members dropped, in UTF-8. The fast path (templates per key list, ASCII byte loop with the
 * JSON.stringify fallback, integers without strings, hash splice, one buffer per batch) must give
 * byte-identical output for any event: any UTF-16 string (escapes, non-ASCII, lone surrogates), any number,
 * key lists built to alias each other in the shape cache, lines rolled back or crossing a buffer growth.
 */
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../gateway/audit/canonical-json.js';
import { canonicalLine, renderLine } from '../../gateway/audit/canonical-line.js';
import { LineBuffer } from '../../gateway/audit/line-buffer.js';
import { reference } from '../helpers/canonical-reference.js';

const SKIP = new Set(['seq', 'time', 'prev', 'hash']);
/** Any UTF-16 code unit sequence: control characters, `"` and `\`, non-ASCII, pairs and lone surrogates. */
const anyUnit = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  fc.constantFrom('"', '\\', '\n', '\u007f', '\u2028', 'é', '😀', '\ud800', '\udfff', '\u0000'),
  fc.string({ maxLength: 1 }),
);
const text = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.array(anyUnit, { maxLength: 24 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 12 }),
);
const num = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.integer({ min: -(2 ** 53), max: 2 ** 53 }),
  fc.double({ min: 0, max: 1e6, noNaN: true }).map((v) => Math.round(v * 1000) / 1000), // latencyMs
  fc.integer({ min: 1, max: 2 ** 41 }).map((k) => k / 1000), // three decimals, past the fast path's range too
  fc.integer({ min: 1, max: 2 ** 40 }).map((k) => k / 10_000), // four: not the fast path
  fc.double({ min: 0, max: 0.01, noNaN: true }),
  fc.constantFrom(0, -0, 9, 10, 0x7fffffff, 0x80000000, -1, -(2 ** 31), 1e21, 5e-7, Number.MAX_SAFE_INTEGER),
);
const json = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    text,
    num,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.string({ maxLength: 6 }), text), tie('value'), { maxKeys: 6 }),
})).value;
const fields = fc.dictionary(
  fc.oneof(text, fc.constantFrom('seq', 'hash', 'type', 'a\u0000b', 'a', 'b', 'zz', 'héllo', '\ud800')),
  json,
  { maxKeys: 10 },
);

/** What the stored line of `f` must be, and the hash it carries. */
function expectedLine(f: Record<string, unknown>, chain: { seq: number; time: string; prev: string }) {
  const kept = Object.fromEntries(Object.entries(f).filter(([k]) => !SKIP.has(k)));
  const hash = createHash('sha256')
    .update(reference({ ...kept, ...chain }), 'utf8')
    .digest('hex');
  return { line: reference({ ...kept, ...chain, hash }), hash };
}

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
    fc.assert(
      fc.property(fields, (f) => {
        const chain = { seq: 7, time: '2026-12-01T00:00:00.000Z', prev: 'p'.repeat(64) };
        const { line, hash } = canonicalLine(f, chain, SKIP);
        const want = expectedLine(f, chain);
        return hash === want.hash && line === want.line;
      }),
      { numRuns: 2000 },
    );
  },
);

t.test('a batch rendered into one LineBuffer is the reference lines, byte for byte, in UTF-8', async (t) => {
  const batch = fc.array(fc.record({ f: fields, keep: fc.boolean(), seq: fc.nat() }), { maxLength: 8 });
  fc.assert(
    fc.property(batch, (events) => {
      const out = new LineBuffer(16); // tiny: most batches grow it while a line is being rendered
      let expected = '';
      let prev = 'p'.repeat(64);
      for (const { f, keep, seq } of events) {
        const chain = { seq, time: '2026-12-01T00:00:00.000Z', prev };
        const at = out.end;
        const hash = renderLine(out, f, chain, SKIP);
        const want = expectedLine(f, chain);
        if (hash !== want.hash || out.buf.toString('utf8', at, out.pos) !== want.line + '\n') return false;
        if (!keep) {
          out.rollback(); // e.g. over the capacity budget: the next line overwrites it
          continue;
        }
        out.commit();
        expected += want.line + '\n';
        prev = hash;
      }
      return out.buf.subarray(0, out.end).equals(Buffer.from(expected, 'utf8'));
    }),
    { numRuns: 1000 },
  );
  const f = { type: 'x', s: 'é\ud800"\n😀', kë: [1.5, -0, 'ü'] };
  const chain = { seq: 1, time: 't', prev: 'p' };
  const out = new LineBuffer(16);
  renderLine(out, f, chain, SKIP);
  const want = expectedLine(f, chain).line;
  t.same(out.buf.subarray(0, out.pos), Buffer.from(want + '\n', 'utf8'), 'non-ASCII keys and values in UTF-8');
  t.match(want, /"s":"é\\ud800\\"\\n😀"/, 'a lone surrogate is escaped, as JSON.stringify does');
});

t.test(
  'numbers: integers and milliseconds without a string, others as String(), -0 as 0, non-finite as null',
  async (t) => {
    fc.assert(
      fc.property(num, (v) => {
        const out = new LineBuffer(4);
        out.number(v);
        return out.buf.toString('latin1', 0, out.pos) === JSON.stringify(v) || (!Number.isFinite(v) && out.pos === 4);
      }),
      { numRuns: 5000 },
    );
    const out = new LineBuffer(4);
    for (const v of [0, -0, 7, 10, 0x7fffffff, 0x80000000, -3, 0.5, 0.05, 0.001, 12.34, 0.0005, 1e-7, NaN]) {
      out.number(v);
      out.byte(0x2c);
    }
    t.equal(
      out.buf.toString('latin1', 0, out.pos),
      '0,0,7,10,2147483647,2147483648,-3,0.5,0.05,0.001,12.34,0.0005,1e-7,null,',
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
