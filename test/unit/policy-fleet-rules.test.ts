/**
 * The policy's fleet keys (docs/policy.md "Fleet"): `lockMode: strict` + `maxStaleness` become the `strict`
 * obligation of an allow (the runtime compares it with the box's staleness; the evaluator stays pure), and
 * `jit.siteLocalApprovers` compiles into the JIT obligation. Mistakes are located compile errors.
 */
import t from 'tap';
import { compilePolicyText, explain } from '../../gateway/policy/index.js';
import { ConfigError } from '../../gateway/config/load-yaml.js';

const TD = 'spiffe://plant.example';

const policy = (rules: string): string => `
version: 1
trustDomain: plant.example
rules:
${rules}
`;

const STRICT = policy(`
  - id: hmi-strict
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: strict
    maxStaleness: 10s
    allow:
      - { access: read-write, table: holding, addresses: 0-9 }
  - id: hmi-default
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: strict
    allow:
      - { access: write, table: holding, addresses: 20-29 }
  - id: hmi-loose
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: best_effort
    allow:
      - { access: read-write, table: holding, addresses: 100-109 }
  - id: eng-jit
    principals: [${TD}/eng/*]
    devices: [plc-1]
    jit: { approvers: [${TD}/ops/lead], maxDuration: 5m, siteLocalApprovers: [${TD}/site-a/ops/*] }
    allow:
      - { access: write, table: holding, addresses: 200-209 }
`);

function compileErrors(text: string): string[] {
  try {
    compilePolicyText(text, 'p.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.details.map((d) => `${d.line}: ${d.message}`);
    throw err;
  }
  return [];
}

t.test('lockMode strict: the allow carries the strict obligation with the rule and its limit', async (t) => {
  const p = compilePolicyText(STRICT, 'p.yaml');
  const ask = (address: number, fc = 6) =>
    explain(p, { id: `${TD}/hmi`, device: 'plc-1', fc, address, value: 1 }).decision;
  t.same(ask(3).obligations, { strict: { ruleId: 'hmi-strict', maxStalenessMs: 10_000 } });
  t.same(ask(3, 3).obligations, { strict: { ruleId: 'hmi-strict', maxStalenessMs: 10_000 } }, 'reads carry it too');
  t.same(ask(21).obligations, { strict: { ruleId: 'hmi-default', maxStalenessMs: null } }, 'null = gateway default');
  t.equal(ask(101).obligations, undefined, 'best_effort (the default) has no obligation');
  t.equal(p.rules[2]?.strict, null);
});

t.test('a request granted by a best_effort and a strict rule keeps the strict obligation', async (t) => {
  const p = compilePolicyText(
    policy(`
  - id: loose-read
    principals: [${TD}/hmi]
    devices: [plc-1]
    allow:
      - { access: read, table: holding, addresses: 0-9 }
  - id: strict-write
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: strict
    maxStaleness: 30s
    allow:
      - { access: write, table: holding, addresses: 0-9 }
`),
    'p.yaml',
  );
  // FC23: the read half by loose-read (first granting rule), the write half by strict-write
  const d = explain(p, {
    id: `${TD}/hmi`,
    device: 'plc-1',
    fc: 23,
    address: 0,
    values: [1],
    readAddress: 0,
    readCount: 2,
  }).decision;
  t.equal(d.effect, 'allow');
  t.same(d.obligations?.strict, { ruleId: 'strict-write', maxStalenessMs: 30_000 });
});

t.test('several strict rules grant one request: the tightest maxStaleness applies', async (t) => {
  const twoRules = (readLimit: string, writeLimit: string) =>
    compilePolicyText(
      policy(`
  - id: strict-read
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: strict
    maxStaleness: ${readLimit}
    allow:
      - { access: read, table: holding, addresses: 0-9 }
  - id: strict-write
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: strict
    maxStaleness: ${writeLimit}
    allow:
      - { access: write, table: holding, addresses: 0-9 }
  - id: strict-write-default
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: strict
    allow:
      - { access: write, table: holding, addresses: 10-19 }
`),
      'p.yaml',
    );
  const fc23 = (p: ReturnType<typeof twoRules>, writeAddress: number) =>
    explain(p, {
      id: `${TD}/hmi`,
      device: 'plc-1',
      fc: 23,
      address: writeAddress,
      values: [1],
      readAddress: 0,
      readCount: 2,
    }).decision;
  // an FC23: the read half by strict-read, the write half by strict-write — whichever rule is met first
  t.same(fc23(twoRules('10m', '30s'), 0).obligations?.strict, { ruleId: 'strict-write', maxStalenessMs: 30_000 });
  t.same(fc23(twoRules('30s', '10m'), 0).obligations?.strict, { ruleId: 'strict-read', maxStalenessMs: 30_000 });
  // the write half by a strict rule without its own limit: the gateway's default, if tighter than 10 m
  t.same(fc23(twoRules('10m', '30s'), 10).obligations?.strict, {
    ruleId: 'strict-read',
    maxStalenessMs: 600_000,
    defaultRuleId: 'strict-write-default',
  });
  const single = explain(twoRules('10m', '30s'), { id: `${TD}/hmi`, device: 'plc-1', fc: 3, address: 0 }).decision;
  t.same(single.obligations?.strict, { ruleId: 'strict-read', maxStalenessMs: 600_000 }, 'one rule: its own');
});

t.test('jit.siteLocalApprovers compiles into the JIT obligation; absent stays absent', async (t) => {
  const p = compilePolicyText(STRICT, 'p.yaml');
  t.same(p.rules[3]?.jit?.siteLocalApprovers, [`${TD}/site-a/ops/*`]);
  const plain = compilePolicyText(
    policy(`
  - id: eng-jit
    principals: [${TD}/eng/*]
    devices: [plc-1]
    jit: { approvers: [${TD}/ops/lead], maxDuration: 5m }
    allow:
      - { access: write, table: holding, addresses: 200-209 }
`),
    'p.yaml',
  );
  t.notOk('siteLocalApprovers' in (plain.rules[0]?.jit ?? {}));
});

t.test('mistakes are located compile errors', async (t) => {
  const errs = compileErrors(
    policy(`
  - id: bad-1
    principals: [${TD}/hmi]
    devices: [plc-1]
    maxStaleness: 10s
    allow:
      - { access: read, table: holding, addresses: 0 }
  - id: bad-2
    principals: [${TD}/hmi]
    devices: [plc-1]
    effect: deny
    lockMode: strict
  - id: bad-3
    principals: [${TD}/eng/*]
    devices: [plc-1]
    jit: { approvers: [${TD}/ops/lead], maxDuration: 5m, siteLocalApprovers: [spiffe://other.example/ops] }
    allow:
      - { access: write, table: holding, addresses: 0 }
  - id: bad-4
    principals: [${TD}/hmi]
    devices: [plc-1]
    lockMode: strict
    maxStaleness: 0s
    allow:
      - { access: read, table: holding, addresses: 0 }
`),
  );
  t.match(errs, [
    /^9: .*maxStaleness only applies with lockMode: strict/,
    /^16: .*lockMode only applies to allow rules/,
    /^20: .*outside trustDomain plant.example/,
    /^27: .*bad duration "0s"/,
  ]);
  t.equal(errs.length, 4);
  t.match(compileErrors(policy(`  - { id: x, principals: [${TD}/a], devices: [d], lockMode: always }`)), [/lockMode/]);
});
