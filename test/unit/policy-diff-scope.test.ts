/**
 * `policy diff` on the parts of a rule that decide WHEN and WHERE it grants: adding unit 0 (broadcast writes to
 * every server on the line), dropping `units`, `jit`, `schedule` or a `rate`, or raising the rate widens what the
 * policy lets through and must be said and counted — the summary a shift lead signs must not read
 * "0 widening" for them. Inverted for deny rules, as every other diff statement.
 */
import t from 'tap';
import { diffPolicies, formatDiff } from '../../gateway/evidence/policy-diff.js';
import type { PolicySource, RuleSource } from '../../gateway/policy/policy-source.js';

const TD = 'plant.example';
const HMI = `spiffe://${TD}/hmi/line1`;
const rule = (extra: Partial<RuleSource>): RuleSource => ({
  id: 'hmi',
  principals: [HMI],
  devices: ['line-1'],
  allow: [{ access: 'write', table: 'holding', addresses: '100-109' }],
  ...extra,
});
const policy = (r: RuleSource): PolicySource => ({ version: 1, trustDomain: TD, rules: [r] });
const JIT = { approvers: [`spiffe://${TD}/eng/*`], maxDuration: '1h' };
const SCHEDULE = { days: 'mon-fri', hours: '06:00-18:00' };

t.test('units, jit, schedule and rate changes say which way they move the policy, and count', async (t) => {
  const cases: [string, Partial<RuleSource>, Partial<RuleSource>, 'widened' | 'narrowed'][] = [
    ['broadcast added', { units: 1 }, { units: [0, 1] }, 'widened'],
    ['units dropped', { units: 1 }, {}, 'widened'],
    ['units named', {}, { units: '1-10' }, 'narrowed'],
    ['jit dropped', { jit: JIT }, {}, 'widened'],
    ['jit added', {}, { jit: JIT }, 'narrowed'],
    ['schedule dropped', { schedule: SCHEDULE }, {}, 'widened'],
    ['rate dropped', { rate: '5/s' }, {}, 'widened'],
    ['rate raised', { rate: '5/s' }, { rate: '50/s' }, 'widened'],
    ['rate added', {}, { rate: '5/s' }, 'narrowed'],
  ];
  for (const [what, a, b, word] of cases) {
    const d = diffPolicies(policy(rule(a)), policy(rule(b)));
    const lines = d.changed.get('hmi') ?? [];
    t.equal(lines.length, 1, what);
    t.match(lines[0], new RegExp(`— ${word}$`), `${what}: ${lines[0]}`);
    t.same(
      { widened: d.widened, narrowed: d.narrowed },
      word === 'widened' ? { widened: 1, narrowed: 0 } : { widened: 0, narrowed: 1 },
      what,
    );
  }
  const deny: Partial<RuleSource> = {
    effect: 'deny',
    allow: undefined,
    deny: [{ access: 'write', table: 'holding', addresses: 0 }],
  };
  const d = diffPolicies(policy(rule({ ...deny, units: '0-255' })), policy(rule({ ...deny, units: '1-255' })));
  t.match(d.changed.get('hmi')?.[0], /— widened$/, 'a deny rule that stops covering broadcast widens the policy');
  t.match(formatDiff(d).at(-1), /1 widening and 0 narrowing/);
});
