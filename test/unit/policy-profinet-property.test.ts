/**
 * Property test: `evaluateRecord` agrees with a naive reading of the PROFINET record semantics (an entry of
 * one of the peer's rules names the record and its limits hold; an explicit deny wins) on random policies
 * and record requests.
 */
import t from 'tap';
import fc from 'fast-check';
import { compilePolicyText, evaluateRecord, reasonCode } from '../../gateway/policy/index.js';
import type { RecordRequest } from '../../protocols/profinet/index.js';

type Span = [number, number];
interface Entry {
  access: 'read' | 'write';
  api: number;
  slots: Span;
  subslots: Span;
  indices: Span;
  length: number | null;
  u8: Span | null;
}
interface Rule {
  effect: 'allow' | 'deny';
  mine: boolean;
  entries: Entry[];
}

const span = (max: number): fc.Arbitrary<Span> =>
  fc.tuple(fc.integer({ min: 0, max }), fc.integer({ min: 0, max })).map(([a, b]) => [Math.min(a, b), Math.max(a, b)]);

const entryArb = (effect: Rule['effect']): fc.Arbitrary<Entry> =>
  fc
    .record({
      access: fc.constantFrom<Entry['access']>('read', 'write'),
      api: fc.constantFrom(0, 0, 0, 1),
      slots: span(1),
      subslots: span(1),
      indices: span(2),
      length: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
      u8: fc.option(span(3), { nil: null }),
    })
    .map((e) => ({
      ...e,
      // allow writes must state a length; read entries carry no values, deny reads no length
      length:
        e.access === 'write' && effect === 'allow'
          ? (e.length ?? 2)
          : e.access === 'read' && effect === 'deny'
            ? null
            : e.length,
      u8: e.access === 'write' ? e.u8 : null,
    }));

const ruleArb: fc.Arbitrary<Rule> = fc.constantFrom('allow', 'allow', 'deny').chain((effect) =>
  fc.record({
    effect: fc.constant(effect),
    mine: fc.boolean(),
    entries: fc.array(entryArb(effect), { minLength: 1, maxLength: 3 }),
  }),
);

const reqArb: fc.Arbitrary<RecordRequest> = fc
  .record({
    access: fc.constantFrom<'read' | 'write'>('read', 'write'),
    api: fc.constantFrom(0, 0, 0, 1),
    slot: fc.integer({ min: 0, max: 2 }),
    subslot: fc.integer({ min: 0, max: 2 }),
    index: fc.integer({ min: 0, max: 3 }),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => a.map((b) => b % 5)),
  })
  .map(({ access, bytes, ...addr }) =>
    access === 'read'
      ? { access, ...addr, length: bytes.length }
      : { access, ...addr, length: bytes.length, data: Buffer.from(bytes) },
  );

/** A request aimed at one entry of the policy (the same record, its length or a neighbour), so that rules meet. */
function aimedAt(rules: Rule[]): fc.Arbitrary<RecordRequest> {
  const entries = rules.flatMap((x) => x.entries);
  return fc
    .record({
      i: fc.nat(entries.length - 1),
      at: fc.tuple(fc.nat(), fc.nat(), fc.nat()),
      dl: fc.constantFrom(0, 0, -1, 1),
      bytes: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((a) => a.map((b) => b % 5)),
    })
    .map(({ i, at, dl, bytes }) => {
      const e = entries[i] as Entry;
      const pick = (s: Span, n: number): number => s[0] + (n % (s[1] - s[0] + 1));
      const addr = {
        api: e.api,
        slot: pick(e.slots, at[0]),
        subslot: pick(e.subslots, at[1]),
        index: pick(e.indices, at[2]),
      };
      const length = Math.min(4, Math.max(1, (e.length ?? 2) + dl));
      return e.access === 'read'
        ? { access: 'read' as const, ...addr, length }
        : { access: 'write' as const, ...addr, length, data: Buffer.from(bytes.subarray(0, length)) };
    });
}

const ME = 'spiffe://plant.example/me';
const r = (s: Span): string => `"${s[0]}-${s[1]}"`;

function yaml(rules: Rule[]): string {
  const lines = rules.map((rule, i) => {
    const entries = rule.entries
      .map((e) => {
        const length = e.length === null ? '' : `, length: ${e.length}`;
        const values = e.u8 === null ? '' : `, values: [{ offset: 0, type: u8, range: "${e.u8[0]}..${e.u8[1]}" }]`;
        return `{ access: ${e.access}, api: ${e.api}, slots: ${r(e.slots)}, subslots: ${r(e.subslots)}, indices: ${r(e.indices)}${length}${values} }`;
      })
      .join(', ');
    const who = rule.mine ? ME : 'spiffe://plant.example/other';
    return `  - { id: r${i}, effect: ${rule.effect}, principals: [${who}], devices: [d], profinet: [${entries}] }`;
  });
  return `version: 1\ntrustDomain: plant.example\nrules:\n${lines.join('\n')}\n`;
}

const within = (s: Span, v: number): boolean => v >= s[0] && v <= s[1];

/** The semantics, entry by entry, no index and no shortcuts. */
function naive(rules: Rule[], q: RecordRequest): 'allow' | 'deny' {
  const names = (e: Entry): boolean =>
    e.access === q.access &&
    e.api === q.api &&
    within(e.slots, q.slot) &&
    within(e.subslots, q.subslot) &&
    within(e.indices, q.index);
  const u8 = q.data?.[0] ?? -1;
  const mine = rules.filter((x) => x.mine);
  const denied = mine.some(
    (x) =>
      x.effect === 'deny' &&
      x.entries.some(
        (e) =>
          names(e) &&
          (q.access === 'read' ||
            ((e.length === null || e.length === q.length) && (e.u8 === null || within(e.u8, u8)))),
      ),
  );
  if (denied) return 'deny';
  const grants = (e: Entry): boolean =>
    names(e) &&
    (q.access === 'read'
      ? e.length === null || q.length <= e.length
      : (e.length === null || e.length === q.length) && (e.u8 === null || within(e.u8, u8)));
  return mine.some((x) => x.effect === 'allow' && x.entries.some(grants)) ? 'allow' : 'deny';
}

const REASONS = new Set([
  'allowed',
  'no-rule',
  'explicit-deny',
  'index-not-allowed',
  'length-not-allowed',
  'value-not-allowed',
]);

t.test('evaluateRecord == naive record semantics', async (t) => {
  const outcomes = new Set<string>();
  fc.assert(
    fc.property(
      fc
        .array(ruleArb, { minLength: 1, maxLength: 6 })
        .chain((rules) =>
          fc.tuple(
            fc.constant(rules),
            fc.array(fc.oneof(reqArb, aimedAt(rules), aimedAt(rules)), { minLength: 1, maxLength: 12 }),
          ),
        ),
      ([rules, reqs]) => {
        const p = compilePolicyText(yaml(rules), 'prop.yaml');
        for (const q of reqs) {
          const d = evaluateRecord(p, { id: ME, role: null }, 'd', q, new Date(0));
          outcomes.add(reasonCode(d.reason));
          if (d.effect !== naive(rules, q)) throw new Error(`mismatch: ${JSON.stringify({ q, d })}\n${yaml(rules)}`);
          if (d.effect === 'allow' && d.ruleId === null) throw new Error('allow without rule id');
          if (!REASONS.has(reasonCode(d.reason))) throw new Error(`unexpected reason ${d.reason}`);
        }
      },
    ),
    { numRuns: 500, seed: 20261126 },
  );
  t.pass('500 random policies agree');
  t.same([...outcomes].sort(), [...REASONS].sort(), 'every outcome was exercised');
});
