/**
 * Property test: the indexed evaluator agrees with a naive per-register reading of the semantics
 * (every touched register allowed by some entry, explicit deny wins) on random policies and requests.
 */
import t from 'tap';
import fc from 'fast-check';
import { classify } from '../../protocols/modbus/index.js';
import type { ClassifiedRequest } from '../../protocols/modbus/index.js';
import { compilePolicyText, evaluate } from '../../gateway/policy/index.js';

type Tbl = 'holding' | 'coils';
interface Entry {
  access: 'read' | 'write' | 'read-write';
  table: Tbl;
  lo: number;
  hi: number;
  values: [number, number] | null;
}
interface Rule {
  effect: 'allow' | 'deny';
  mine: boolean;
  entries: Entry[];
}

const entryArb: fc.Arbitrary<Entry> = fc
  .record({
    access: fc.constantFrom<Entry['access']>('read', 'write', 'read-write'),
    table: fc.constantFrom('holding', 'coils'),
    lo: fc.integer({ min: 0, max: 40 }),
    len: fc.integer({ min: 0, max: 20 }),
    values: fc.option(fc.tuple(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 6 })), { nil: null }),
  })
  .map(({ access, table, lo, len, values }) => ({
    access,
    table,
    lo,
    hi: lo + len,
    values:
      access === 'read' || values === null ? null : ([Math.min(...values), Math.max(...values)] as [number, number]),
  }));

const ruleArb: fc.Arbitrary<Rule> = fc.record({
  effect: fc.constantFrom<Rule['effect']>('allow', 'allow', 'deny'),
  mine: fc.boolean(),
  entries: fc.array(entryArb, { minLength: 1, maxLength: 3 }),
});

type Req =
  | { kind: 'read'; table: Tbl; start: number; count: number }
  | { kind: 'write'; table: Tbl; start: number; values: number[] }
  | { kind: 'rw'; readStart: number; readCount: number; start: number; values: number[] };

const reqArb: fc.Arbitrary<Req> = fc.oneof(
  fc.record({
    kind: fc.constant('read' as const),
    table: fc.constantFrom('holding', 'coils'),
    start: fc.integer({ min: 0, max: 60 }),
    count: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({
    kind: fc.constant('write' as const),
    table: fc.constantFrom('holding', 'coils'),
    start: fc.integer({ min: 0, max: 60 }),
    values: fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 1, maxLength: 6 }),
  }),
  fc.record({
    kind: fc.constant('rw' as const),
    readStart: fc.integer({ min: 0, max: 60 }),
    readCount: fc.integer({ min: 1, max: 5 }),
    start: fc.integer({ min: 0, max: 60 }),
    values: fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 5 }),
  }),
);

const ME = 'spiffe://plant.example/me';

function yaml(rules: Rule[]): string {
  const lines = rules.map((r, i) => {
    const entries = r.entries
      .map(
        (e) =>
          `{ access: ${e.access}, table: ${e.table}, addresses: "${e.lo}-${e.hi}"${e.values ? `, values: "${e.values[0]}..${e.values[1]}"` : ''} }`,
      )
      .join(', ');
    const who = r.mine ? ME : 'spiffe://plant.example/other';
    return `  - { id: r${i}, effect: ${r.effect}, principals: [${who}], devices: [d], ${r.effect}: [${entries}] }`;
  });
  return `version: 1\ntrustDomain: plant.example\nrules:\n${lines.join('\n')}\n`;
}

function toClassified(r: Req): ClassifiedRequest {
  switch (r.kind) {
    case 'read':
      return classify(
        r.table === 'holding'
          ? { type: 'read-registers', fc: 3, address: r.start, quantity: r.count }
          : { type: 'read-bits', fc: 1, address: r.start, quantity: r.count },
        1,
      );
    case 'write':
      return classify(
        r.table === 'holding'
          ? { type: 'write-multiple-registers', fc: 16, address: r.start, values: r.values }
          : { type: 'write-multiple-coils', fc: 15, address: r.start, values: r.values.map((v) => v === 1) },
        1,
      );
    case 'rw':
      return classify(
        {
          type: 'read-write-registers',
          fc: 23,
          readAddress: r.readStart,
          readQuantity: r.readCount,
          writeAddress: r.start,
          values: r.values,
        },
        1,
      );
  }
}

/** The semantics, one register at a time, no index. */
function naive(rules: Rule[], req: ClassifiedRequest): 'allow' | 'deny' {
  const mine = rules.filter((r) => r.mine);
  const touches: { access: 'read' | 'write'; table: string; addr: number; value: number | null }[] = [];
  for (const w of req.writes)
    for (let i = 0; i < w.count; i++)
      touches.push({ access: 'write', table: w.table, addr: w.start + i, value: w.values?.[i] ?? null });
  for (const r of req.reads)
    for (let i = 0; i < r.count; i++) touches.push({ access: 'read', table: r.table, addr: r.start + i, value: null });
  const covers = (e: Entry, x: (typeof touches)[number]): boolean =>
    e.table === x.table &&
    x.addr >= e.lo &&
    x.addr <= e.hi &&
    (x.access === 'read' ? e.access !== 'write' : e.access !== 'read');
  const valueIn = (e: Entry, x: (typeof touches)[number]): boolean =>
    x.access === 'read' || e.values === null || (x.value !== null && x.value >= e.values[0] && x.value <= e.values[1]);
  const denied = mine.some(
    (r) => r.effect === 'deny' && r.entries.some((e) => touches.some((x) => covers(e, x) && valueIn(e, x))),
  );
  if (denied) return 'deny';
  const allows = mine.filter((r) => r.effect === 'allow');
  return allows.length > 0 &&
    touches.every((x) => allows.some((r) => r.entries.some((e) => covers(e, x) && valueIn(e, x))))
    ? 'allow'
    : 'deny';
}

t.test('indexed evaluator == naive per-register semantics', async (t) => {
  fc.assert(
    fc.property(
      fc.array(ruleArb, { minLength: 1, maxLength: 8 }),
      fc.array(reqArb, { minLength: 1, maxLength: 10 }),
      (rules, reqs) => {
        const p = compilePolicyText(yaml(rules), 'prop.yaml');
        for (const r of reqs) {
          const c = toClassified(r);
          const d = evaluate(p, { id: ME, role: null }, 'd', c, new Date(0));
          if (d.effect !== naive(rules, c)) throw new Error(`mismatch: ${JSON.stringify({ r, d })}`);
          if (d.effect === 'allow' && d.ruleId === null) throw new Error('allow without rule id');
        }
      },
    ),
    { numRuns: 300, seed: 20261125 },
  );
  t.pass('300 random policies agree');
});
