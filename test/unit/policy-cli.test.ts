import t from 'tap';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/policy/', import.meta.url));
const SAMPLE = fileURLToPath(new URL('../../gateway/config/samples/policy.yaml', import.meta.url));
const TD = 'spiffe://plant.example';

async function run(args: string[], cwd = process.cwd()) {
  const io = memoryIo({}, cwd);
  const code = await policyCommand(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

t.test('check: ok line with counts and version', async (t) => {
  const r = await run(['check', SAMPLE]);
  t.equal(r.code, 0);
  t.match(r.out, /^ok: 11 rules, 39 tests passed, version [0-9a-f]{64}$/);
  t.equal(r.err, '');
});

t.test('check: relative paths resolve against io.cwd', async (t) => {
  const r = await run(['check', 'policy.yaml'], dirname(SAMPLE));
  t.equal(r.code, 0);
});

t.test('check: every compile error with file:line, exit 1', async (t) => {
  const r = await run(['check', 'bad-semantics.yaml'], FIXTURES);
  t.equal(r.code, 1);
  const lines = r.err.split('\n');
  t.ok(lines.some((l) => /^bad-semantics\.yaml:8:\d+: .*unknown role "ghost"/.test(l)));
  t.ok(lines.some((l) => /^bad-semantics\.yaml:22:\d+: .*unknown time zone/.test(l)));
  t.equal(lines.filter((l) => l.startsWith('bad-semantics.yaml:')).length, 11);
  t.match(r.err, /11 error\(s\) \[GW_ERR_POLICY_INVALID\]/);
  t.equal(r.out, '');
});

t.test('check: schema errors and failing tests, exit 1', async (t) => {
  const s = await run(['check', 'bad-schema.yaml'], FIXTURES);
  t.equal(s.code, 1);
  t.match(s.err, /^bad-schema\.yaml:1:\d+: /m);
  const f = await run(['check', 'failing-tests.yaml'], FIXTURES);
  t.equal(f.code, 1);
  t.match(f.err, /^failing-tests\.yaml:11:5: wrong expectation/m);
  t.match(f.err, /3 of 4 test\(s\) failed \[GW_ERR_POLICY_TEST_FAILED\]/);
});

t.test('usage errors exit 2', async (t) => {
  t.equal((await run([])).code, 2);
  t.equal((await run(['frobnicate', SAMPLE])).code, 2);
  t.equal((await run(['check'])).code, 2);
  t.equal((await run(['check', SAMPLE, 'extra'])).code, 2);
  t.equal((await run(['check', SAMPLE, '--bogus'])).code, 2);
  const missing = await run(['check', 'nope.yaml'], FIXTURES);
  t.equal(missing.code, 2);
  t.match(missing.err, /cannot read nope\.yaml: ENOENT/);
  t.equal((await run(['explain', SAMPLE, '--id', `${TD}/hmi/line1`, '--device', 'turbine-1'])).code, 2, 'no --fc');
  const badInt = await run(['explain', SAMPLE, '--id', 'x', '--device', 'd', '--fc', '3', '--address', '70000']);
  t.equal(badInt.code, 2);
  t.match(badInt.err, /--address must be an integer/);
  const noValue = await run(['explain', SAMPLE, '--id', 'x', '--device', 'd', '--fc', '6', '--address', '1']);
  t.equal(noValue.code, 2);
  t.match(noValue.err, /FC6 needs an address and a value/);
  const help = await run(['--help']);
  t.equal(help.code, 0);
  t.match(help.out, /usage: verigate policy check FILE/);
});

t.test('explain: decision, rule, reason; exit 0 whatever the decision', async (t) => {
  const allow = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/hmi/line1`,
    '--device',
    'turbine-1',
    '--fc',
    '16',
    '--address',
    '100',
    '--values',
    '10,20',
  ]);
  t.equal(allow.code, 0);
  t.match(allow.out, /^decision: allow$/m);
  t.match(allow.out, /^rule: hmi-setpoint$/m);
  t.match(allow.out, /^reason: allowed$/m);
  t.match(allow.out, /^request: fc16 unit 1 \(write\); writes holding 100-101 = 10,20$/m);
  const deny = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/hmi/line1`,
    '--device',
    'turbine-1',
    '--fc',
    '6',
    '--address',
    '100',
    '--value',
    '9000',
  ]);
  t.equal(deny.code, 0);
  t.match(deny.out, /^decision: deny$/m);
  t.match(deny.out, /^rule: \(none: default deny\)$/m);
  t.match(deny.out, /^reason: value-not-allowed holding:100=9000$/m);
  const jit = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/eng/bob`,
    '--device',
    'turbine-1',
    '--fc',
    '6',
    '--address',
    '5',
    '--value',
    '1',
  ]);
  t.match(
    jit.out,
    /^requires jit grant: rule eng-maintenance, approvers spiffe:\/\/plant\.example\/ops\/shift-lead, threshold 1, max 5m$/m,
  );
  t.notMatch(jit.out, /grant must cover/, 'the JIT rule grants the whole request');
  const fc23 = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/eng/bob`,
    '--device',
    'turbine-1',
    '--fc',
    '23',
    '--address',
    '10',
    '--values',
    '1,2',
    '--read-address',
    '100',
    '--read-count',
    '3',
  ]);
  t.match(fc23.out, /^rule: eng-maintenance$/m, 'FC23: the write half reports its rule');
  t.match(
    fc23.out,
    /^grant must cover: write holding 10-11 \(other rules allow the rest\)$/m,
    'the read half needs no grant',
  );
  const role = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/hmi/line9`,
    '--role',
    'operator',
    '--device',
    'tank-1',
    '--fc',
    '4',
    '--address',
    '0',
    '--count',
    '3',
    '--unit',
    '255',
  ]);
  t.match(role.out, /^rule: hmi-reads$/m);
  t.match(role.out, /unit 255/);
  const diag = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/hmi/line1`,
    '--device',
    'turbine-1',
    '--fc',
    '8',
    '--sub',
    '0x01',
  ]);
  t.match(diag.out, /^reason: explicit-deny fc:8\/1$/m);
  const rate = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/historian`,
    '--device',
    'turbine-1',
    '--fc',
    '23',
    '--address',
    '0',
    '--values',
    '1',
    '--read-address',
    '5',
    '--read-count',
    '2',
    '--at',
    '2026-01-01T00:00:00Z',
  ]);
  t.match(rate.out, /^decision: deny$/m, 'historian may not write, even via FC23');
  t.match(rate.out, /reads holding 5-6/);
  const broken = await run(
    ['explain', 'bad-semantics.yaml', '--id', 'x', '--device', 'd', '--fc', '3', '--address', '0'],
    FIXTURES,
  );
  t.equal(broken.code, 1);
});

t.test('explain says when the deciding rule is essential', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-explain-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: 1
trustDomain: plant.example
rules:
  - id: hmi-setpoint
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    essential: true
    allow: [{ access: write, table: holding, addresses: 100-109, values: 0..3600 }]
  - id: hmi-tuning
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 110-119 }]
`,
  );
  const ess = await run([
    'explain',
    file,
    '--id',
    `${TD}/hmi/line1`,
    '--device',
    'turbine-1',
    '--fc',
    '6',
    '--address',
    '100',
    '--value',
    '5',
  ]);
  t.match(ess.out, /^essential: a trust downgrade does not block it/m);
  const plain = await run([
    'explain',
    file,
    '--id',
    `${TD}/hmi/line1`,
    '--device',
    'turbine-1',
    '--fc',
    '6',
    '--address',
    '110',
    '--value',
    '5',
  ]);
  t.match(plain.out, /^decision: allow$/m);
  t.notMatch(plain.out, /essential/);
});

t.test('explain prints the strict lockMode obligation with its maxStaleness (or the gateway default)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-explain-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: 1
trustDomain: plant.example
rules:
  - id: setpoints
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    lockMode: strict
    maxStaleness: 10s
    allow: [{ access: read-write, table: holding, addresses: 100-109 }]
  - id: tuning
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    lockMode: strict
    allow: [{ access: write, table: holding, addresses: 110-119 }]
  - id: trends
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 200-209 }]
  - id: history
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    lockMode: strict
    maxStaleness: 10m
    allow: [{ access: read, table: holding, addresses: 300-309 }]
`,
  );
  const explainAt = (fc: string, address: string, value?: string) =>
    run([
      'explain',
      file,
      '--id',
      `${TD}/hmi/line1`,
      '--device',
      'turbine-1',
      '--fc',
      fc,
      '--address',
      address,
      ...(value === undefined ? [] : ['--value', value]),
    ]);
  const write = await explainAt('6', '100', '5');
  t.match(write.out, /^decision: allow$/m);
  t.match(
    write.out,
    /^lockMode strict: rule setpoints, maxStaleness 10s: on a fleet member, writes are refused \(fleet-stale\) while its hub view is older; reads are still served$/m,
  );
  const byDefault = await explainAt('6', '110', '5');
  t.match(
    byDefault.out,
    /^lockMode strict: rule tuning, maxStaleness the gateway's fleet\.maxStaleness \(default 60s\)/m,
  );
  const read = await explainAt('3', '100');
  t.match(read.out, /^lockMode strict: rule setpoints, maxStaleness 10s/m, 'a read names the rule too (reads served)');
  const bestEffort = await explainAt('3', '200');
  t.match(bestEffort.out, /^rule: trends$/m);
  t.notMatch(bestEffort.out, /lockMode/, 'best_effort (the default): no line');
  // FC23: the read half granted by history (10m), the write half by tuning (the gateway default)
  const both = await run([
    'explain',
    file,
    '--id',
    `${TD}/hmi/line1`,
    '--device',
    'turbine-1',
    '--fc',
    '23',
    '--address',
    '110',
    '--values',
    '1',
    '--read-address',
    '300',
    '--read-count',
    '2',
  ]);
  t.match(
    both.out,
    /^lockMode strict: rules history \(maxStaleness 10m\) and tuning \(the gateway's fleet\.maxStaleness \(default 60s\)\), the tighter applies: /m,
    'two strict rules, one with its own limit: both limits named',
  );
});

t.test('check warns that a JIT rule’s functions touching no register can never be granted', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-check-'));
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: 1
trustDomain: plant.example
rules:
  - id: maint
    principals: [${TD}/eng/alice]
    devices: [turbine-1]
    jit: { approvers: ["${TD}/ops/**"], maxDuration: 1h }
    allow: [{ access: read, table: holding, addresses: 0-99 }]
    functions: [8, 24, 43]
  - id: diag
    principals: [${TD}/eng/alice]
    devices: [turbine-1]
    functions: [8]
`,
  );
  const r = await run(['check', file]);
  t.equal(r.code, 0, 'a warning, not an error');
  t.match(r.out, /^warning: rule maint: .*fc 8, 43 \(no register touched\) is always refused jit-required$/m);
  t.notMatch(r.out, /rule diag/, 'a rule without jit is not warned about');
});
