/**
 * `request.decision` in its one shape (gateway/audit/decision-line.ts) is rendered by a straight-line writer
 * instead of the generic plan: its stored line must be the canonical JSON of the same members, byte for byte,
 * for any member values and any optional member present or absent; the copies other paths make (the `values:
 * hash` policy, subscribers' records) must see the same members; and the pipelines' builder must produce it.
 */
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { buildLine, recordOf } from '../../gateway/audit/build-record.js';
import { renderLine } from '../../gateway/audit/canonical-line.js';
import { RequestDecisionEvent, type DecisionMembers } from '../../gateway/audit/decision-line.js';
import { LineBuffer } from '../../gateway/audit/line-buffer.js';
import type { RequestDecisionFields } from '../../gateway/audit/request-event-fields.js';
import { decisionEvent, refusal } from '../../gateway/frontdoor/request-events.js';
import type { Session } from '../../gateway/frontdoor/session.js';
import { reference } from '../helpers/canonical-reference.js';
import { classify, type ModbusRequest } from '../../protocols/modbus/index.js';

/** Any UTF-16 text: escapes, non-ASCII, lone surrogates (the writer's JSON.stringify fallback). */
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc
    .array(fc.constantFrom('a', '"', '\\', '\n', '\u0000', 'é', '😀', '\ud800', '/', ' '), { maxLength: 12 })
    .map((a) => a.join('')),
);
const num = fc.oneof(
  fc.nat({ max: 0xffff }),
  fc.integer({ min: 1, max: 2 ** 41 }).map((k) => k / 1000),
  fc.double({ noNaN: false }),
  fc.constantFrom(0, -0, 1e21, 5e-7),
);
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });
const table = fc.constantFrom('coils', 'discrete', 'input', 'holding' as const);
const members: fc.Arbitrary<DecisionMembers> = fc.record({
  session: opt(text),
  identity: text,
  role: opt(text),
  device: text,
  unit: fc.nat({ max: 255 }),
  fc: fc.nat({ max: 255 }),
  subFunction: opt(fc.nat({ max: 0xffff })),
  transactionId: opt(fc.nat({ max: 0xffff })),
  reads: fc.array(fc.record({ table, start: fc.nat({ max: 0xffff }), count: fc.nat({ max: 2000 }) }), { maxLength: 3 }),
  writes: fc.array(
    fc.record({
      table,
      start: fc.nat({ max: 0xffff }),
      count: fc.nat({ max: 123 }),
      values: fc.option(fc.array(fc.nat({ max: 0xffff }), { maxLength: 4 }), { nil: null }),
    }),
    { maxLength: 2 },
  ),
  decision: fc.constantFrom('allow', 'deny', 'learn' as const),
  ruleId: fc.option(text, { nil: null }),
  reason: text,
  outcome: fc.constantFrom('ok', 'denied', 'pending', 'timeout' as const),
  exception: opt(fc.nat({ max: 255 })),
  latencyMs: num,
  policyVersion: text,
  shadow: opt(
    fc.array(fc.record({ ruleId: text, effect: fc.constantFrom('allow', 'deny' as const) }), { maxLength: 2 }),
  ),
});
const chainOf = (seq: number, prev: string) => ({
  seq,
  time: '2026-12-02T13:33:02.697Z',
  prev,
  values: 'include' as const,
});

/**
 * Renders `batch` as consecutive chained lines (times cycled) after a line whose hash was `first`, and compares
 * each with the reference JSON. With `resetEvery`, the buffer is reset after that many lines, as the group commit
 * does after each batch, and a throw-away line is rolled back before each line: text a cache holds must be a copy.
 */
function rendersCanonically(
  batch: readonly DecisionMembers[],
  times: readonly string[],
  first: string,
  resetEvery = 0,
): boolean {
  const out = new LineBuffer(16); // tiny: lines grow it mid-render
  let prev = first;
  for (const [i, m] of batch.entries()) {
    const chain = { ...chainOf(i + 1, prev), time: times[i % times.length]! };
    const plain = { type: 'request.decision', ...m };
    const { seq, time } = chain;
    const hash = createHash('sha256')
      .update(reference({ ...plain, seq, time, prev }), 'utf8')
      .digest('hex');
    const want = reference({ ...plain, seq, time, prev, hash }) + '\n';
    if (resetEvery > 0) {
      buildLine(new RequestDecisionEvent({ ...m, identity: `${m.identity}x`, device: 'zz' }), chain, out);
      out.rollback();
    }
    const at = out.end;
    const built = buildLine(new RequestDecisionEvent(m), chain, out);
    if (built.hash !== hash || out.buf.toString('utf8', at, out.pos) !== want) return false;
    out.commit();
    if (resetEvery > 0 && i % resetEvery === resetEvery - 1) out.reset();
    prev = hash;
  }
  return true;
}

t.test('the straight-line writer renders the canonical line of the same members, byte for byte', async () => {
  fc.assert(
    fc.property(fc.array(members, { minLength: 1, maxLength: 6 }), (batch) =>
      rendersCanonically(batch, [chainOf(0, '').time], 'p'.repeat(64)),
    ),
    { numRuns: 1500 },
  );
});

t.test(
  'text repeated and alternating from line to line (the writer copies its last rendering) stays exact',
  async () => {
    // A few member sets, in any order with repeats: each text member comes again, alternates (among more values
    // than a cache slot keeps), or changes, as the sessions of a busy gateway interleave; the time string changes
    // every few lines; the buffer is reset every few lines and lines are rolled back, as the group commit does.
    const times = ['2026-12-02T13:33:02.697Z', '2026-12-02T13:33:02.698Z', 'é\n"'];
    fc.assert(
      fc.property(
        fc.array(members, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 16 }),
        fc.nat({ max: 2 }),
        fc.nat({ max: 3 }),
        (pool, picks, timeCount, resetEvery) =>
          rendersCanonically(
            picks.map((k) => pool[k % pool.length]!),
            times.slice(0, timeCount + 1),
            '"é\\'.padEnd(64, 'p'), // a first `prev` not from this writer is escaped, not copied
            resetEvery,
          ),
      ),
      { numRuns: 1000 },
    );
  },
);

t.test('every text member the same text: each is written under its own key (no cache slot shared)', async () => {
  fc.assert(
    fc.property(members, text, fc.array(fc.boolean(), { minLength: 2, maxLength: 4 }), (m, x, flips) => {
      // the decision, outcome and table keep their own values: their types allow no other text
      const same = { ...m, session: x, identity: x, role: x, device: x, ruleId: x, reason: x, policyVersion: x };
      const other = { ...same, identity: `${x}.`, reason: `${x}.` };
      return rendersCanonically(
        flips.map((f) => (f ? same : other)),
        [x],
        'p'.repeat(64),
      );
    }),
    { numRuns: 300 },
  );
});

t.test('the generic renderer gives the same bytes for a plain copy of the event', async () => {
  fc.assert(
    fc.property(members, (m) => {
      const chain = chainOf(3, 'q'.repeat(64));
      const fast = new LineBuffer(64);
      const generic = new LineBuffer(64);
      buildLine(new RequestDecisionEvent(m), chain, fast);
      renderLine(generic, { type: 'request.decision', ...m }, chain, new Set(['seq', 'time', 'prev', 'hash']));
      return fast.buf.subarray(0, fast.pos).equals(generic.buf.subarray(0, generic.pos));
    }),
    { numRuns: 500 },
  );
});

t.test('values: hash and subscribers see every member of the instance', async (t) => {
  const m: DecisionMembers = {
    session: 's-1',
    identity: 'spiffe://plant.example/eng',
    role: 'operator',
    device: 'turbine-1',
    unit: 1,
    fc: 16,
    subFunction: undefined,
    transactionId: 9,
    reads: [],
    writes: [{ table: 'holding', start: 10, count: 2, values: [1, 2] }],
    decision: 'allow',
    ruleId: 'eng-writes',
    reason: 'allowed',
    outcome: 'pending',
    exception: undefined,
    latencyMs: 0.25,
    policyVersion: 'v1',
    shadow: [{ ruleId: 'candidate', effect: 'deny' }],
  };
  const hashed = { ...chainOf(1, 'p'), values: 'hash' as const };
  const a = new LineBuffer(64);
  const b = new LineBuffer(64);
  const fromInstance = buildLine(new RequestDecisionEvent(m), hashed, a);
  const fromPlain = buildLine({ type: 'request.decision', ...m }, hashed, b);
  t.equal(a.buf.toString('utf8', 0, a.pos), b.buf.toString('utf8', 0, b.pos), 'values: hash renders the same line');
  t.notMatch(a.buf.toString('utf8', 0, a.pos), /"values":\[1,2\]/, 'the values are hashed');
  const line = new LineBuffer(64);
  const built = buildLine(new RequestDecisionEvent(m), chainOf(1, 'p'), line);
  t.same(recordOf(built), JSON.parse(line.buf.toString('utf8', 0, line.pos)), 'the record is the stored line');
  t.equal(fromInstance.hash, fromPlain.hash);
});

t.test("the pipelines' builder produces the instance, so the request path takes the straight line", async (t) => {
  const session = { id: 's-1', peer: { id: 'spiffe://plant.example/historian', role: null } } as unknown as Session;
  const classified = { unit: 1, fc: 3, reads: [{ table: 'holding' as const, start: 0, count: 10 }], writes: [] };
  const e = decisionEvent(
    { session, device: 'plc', classified },
    refusal('no-route', 'no-route'),
    'no-route',
    null,
    0,
    'v',
  );
  t.ok(e instanceof RequestDecisionEvent);
  const { shadow: _left, ...withoutShadow } = e as RequestDecisionEvent;
  // @ts-expect-error every member must be named, an absent optional one as undefined: one added to the event type
  // cannot be left out of the builder and the writer's shape unnoticed
  t.ok(new RequestDecisionEvent(withoutShadow));
  // every member of the event type is a field of the class (so the constructor must copy it)
  const everyMember: [Exclude<keyof RequestDecisionFields, keyof RequestDecisionEvent>] extends [never] ? true : false =
    true;
  t.ok(everyMember);
});

/** Every request the classifier turns into ranges (FC1–6, 15, 16, 22, 23, 24), with any addresses and values. */
const word = fc.nat({ max: 0xffff });
const ranged: fc.Arbitrary<ModbusRequest> = fc.oneof(
  fc.record({
    type: fc.constant('read-bits' as const),
    fc: fc.constantFrom(1 as const, 2 as const),
    address: word,
    quantity: word,
  }),
  fc.record({
    type: fc.constant('read-registers' as const),
    fc: fc.constantFrom(3 as const, 4 as const),
    address: word,
    quantity: word,
  }),
  fc.record({
    type: fc.constant('write-single-coil' as const),
    fc: fc.constant(5 as const),
    address: word,
    value: fc.boolean(),
  }),
  fc.record({
    type: fc.constant('write-single-register' as const),
    fc: fc.constant(6 as const),
    address: word,
    value: word,
  }),
  fc.record({
    type: fc.constant('write-multiple-coils' as const),
    fc: fc.constant(15 as const),
    address: word,
    values: fc.array(fc.boolean(), { maxLength: 20 }),
  }),
  fc.record({
    type: fc.constant('write-multiple-registers' as const),
    fc: fc.constant(16 as const),
    address: word,
    values: fc.array(word, { maxLength: 10 }),
  }),
  fc.record({
    type: fc.constant('mask-write-register' as const),
    fc: fc.constant(22 as const),
    address: word,
    andMask: word,
    orMask: word,
  }),
  fc.record({
    type: fc.constant('read-write-registers' as const),
    fc: fc.constant(23 as const),
    readAddress: word,
    readQuantity: word,
    writeAddress: word,
    values: fc.array(word, { maxLength: 10 }),
  }),
  fc.record({ type: fc.constant('read-fifo' as const), fc: fc.constant(24 as const), address: word }),
);

t.test("the classifier's ranges have exactly the members the writer renders", async () => {
  // The writer renders a range member by member (`count`, `start`, `table`, and a write's `values`): a member the
  // classifier added would be left out of the line, so its ranges must have exactly these.
  fc.assert(
    fc.property(ranged, (req) => {
      const c = classify(req, 1);
      const keysOf = (o: object) => Object.keys(o).sort().join(',');
      return (
        c.reads.every((r) => keysOf(r) === 'count,start,table') &&
        c.writes.every((w) => keysOf(w) === 'count,start,table,values') &&
        c.reads.length + c.writes.length > 0
      );
    }),
    { numRuns: 2000 },
  );
});

t.test('a decision on any classified request renders the canonical line', async () => {
  fc.assert(
    fc.property(ranged, fc.nat({ max: 0xffff }), (req, tid) => {
      const session = { id: 's-1', peer: { id: 'spiffe://plant.example/eng', role: 'operator' } } as unknown as Session;
      const classified = classify(req, 7);
      const verdict = { ...refusal('no-route', 'no-route'), effect: 'allow' as const };
      const e = decisionEvent(
        { session, device: 'plc', classified, transactionId: tid },
        verdict,
        'ok',
        null,
        0.5,
        'v',
      );
      const chain = chainOf(9, 'r'.repeat(64));
      const fast = new LineBuffer(64);
      buildLine(e, chain, fast);
      const { seq, time, prev } = chain;
      const plain = { ...(e as RequestDecisionEvent) };
      const hash = createHash('sha256')
        .update(reference({ ...plain, seq, time, prev }), 'utf8')
        .digest('hex');
      return fast.buf.toString('utf8', 0, fast.pos) === reference({ ...plain, seq, time, prev, hash }) + '\n';
    }),
    { numRuns: 1000 },
  );
});
