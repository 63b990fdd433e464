import t from 'tap';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import {
  loadPolicyFile,
  loadPolicyText,
  explain,
  buildRequest,
  runPolicyTests,
  compilePolicyText,
} from '../../gateway/policy/index.js';
import { ConfigError } from '../../gateway/config/load-yaml.js';
import { isGatewayError } from '../../gateway/errors.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/policy/${name}`, import.meta.url));
const SAMPLE = fileURLToPath(new URL('../../gateway/config/samples/policy.yaml', import.meta.url));
const TD = 'spiffe://plant.example';

t.test('the lab sample policy loads and its tests pass', async (t) => {
  const p = loadPolicyFile(SAMPLE);
  t.equal(p.version, createHash('sha256').update(readFileSync(SAMPLE)).digest('hex'));
  t.equal(p.trustDomain, 'plant.example');
  t.same(p.trust, { threshold: 0.85, onBreach: 'read-only', weights: {} });
  t.ok(p.tests.length >= 15);
  t.same(runPolicyTests(p), { passed: p.tests.length, failures: [] });
  const ex = (q: Parameters<typeof explain>[1]) => explain(p, q).decision;
  t.equal(ex({ id: `${TD}/historian`, device: 'tank-1', fc: 2, address: 0, count: 2 }).effect, 'allow');
  t.equal(
    ex({ id: `${TD}/historian`, device: 'tank-1', fc: 2, address: 0, count: 2 }).obligations?.rate?.perSecond,
    200,
  );
  t.equal(ex({ id: `${TD}/stranger`, device: 'tank-1', fc: 3, address: 0 }).reason, 'no-rule');
  const jit = ex({ id: `${TD}/eng/bob`, device: 'turbine-1', fc: 6, address: 999, value: 1 });
  t.same(jit.obligations?.jit, {
    ruleId: 'eng-maintenance',
    approvers: [`${TD}/ops/shift-lead`],
    maxDurationMs: 300_000,
    threshold: 1,
  });
  t.equal(ex({ id: `${TD}/eng/bob`, device: 'turbine-1', fc: 6, address: 1000, value: 1 }).effect, 'deny');
});

t.test('failing policy tests block the load, each with file:line', async (t) => {
  let err: unknown;
  try {
    loadPolicyFile(fixture('failing-tests.yaml'));
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  const e = err as ConfigError;
  t.equal(e.code, 'GW_ERR_POLICY_TEST_FAILED');
  t.same(
    e.details.map((d) => d.line),
    [11, 12, 13],
  );
  t.match(
    e.details[0]?.message,
    /wrong expectation: .*expected allow, got deny by no rule \(value-not-allowed holding:100=9000\)/,
  );
  t.match(e.details[1]?.message, /wrong rule: .*expected rule none, got allow by hmi-setpoint/);
  t.match(e.details[2]?.message, /missing value: FC6 needs an address and a value/);
  t.match(e.message, /3 of 4 test\(s\) in .*failing-tests\.yaml failed/);
  t.match(e.message, /failing-tests\.yaml:11:5: wrong expectation/);
});

t.test('loadPolicyText: tests run; schedules open without `at`, real with `at`', async (t) => {
  const text = `version: 1
trustDomain: plant.example
rules:
  - id: day
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-9 }]
    schedule: { days: mon-fri, hours: "06:00-22:00", tz: Europe/Berlin }
tests:
  - { id: ${TD}/hmi/line1, device: turbine-1, fc: 3, address: 0, expect: allow }
  - { id: ${TD}/hmi/line1, device: turbine-1, fc: 3, address: 0, at: "2026-01-17T10:00:00Z", expect: deny, reason: outside-schedule }
  - { id: ${TD}/hmi/line1, device: turbine-1, fc: 3, address: 0, at: "2026-01-14T10:00:00+01:00", expect: allow, rule: day }
`;
  t.equal(loadPolicyText(text, 'mem.yaml').tests.length, 3);
  let err: unknown;
  try {
    loadPolicyText(text.replace('expect: deny, reason: outside-schedule', 'expect: allow'), 'mem.yaml');
  } catch (e) {
    err = e;
  }
  t.ok(isGatewayError(err) && err.code === 'GW_ERR_POLICY_TEST_FAILED');
});

t.test('explain goes through the real codec', async (t) => {
  const p = compilePolicyText(
    `version: 1\ntrustDomain: plant.example\nrules:\n  - { id: r, principals: [${TD}/a], devices: [d], allow: [{ access: read-write, table: holding, addresses: 0-199 }] }\n`,
    'x.yaml',
  );
  const r = explain(p, {
    id: `${TD}/a`,
    device: 'd',
    fc: 23,
    address: 10,
    values: [1, 2],
    readAddress: 100,
    readCount: 3,
  });
  t.same(r.request.reads, [{ table: 'holding', start: 100, count: 3 }]);
  t.same(r.request.writes, [{ table: 'holding', start: 10, count: 2, values: [1, 2] }]);
  t.equal(r.request.unit, 1);
  t.equal(r.decision.effect, 'allow');
  const big = explain(p, { id: `${TD}/a`, device: 'd', fc: 3, address: 0, count: 126 });
  t.match(big.decision.reason, /^malformed-request /, 'FC3 quantity 126 is refused by the codec before policy');
  t.equal(
    explain(p, { id: `${TD}/a`, device: 'd', fc: 16, address: 0, value: 7, count: 3 }).request.writes[0]?.values
      ?.length,
    3,
  );
  t.equal(explain(p, { id: `${TD}/a`, device: 'd', fc: 22, address: 5 }).request.writes[0]?.values, null);
  t.equal(explain(p, { id: `${TD}/a`, device: 'd', fc: 8, subFunction: 4 }).request.subFunction, 4);
  t.equal(explain(p, { id: `${TD}/a`, device: 'd', fc: 43 }).request.kind, 'device-id');
  t.equal(explain(p, { id: `${TD}/a`, device: 'd', fc: 21, address: 0, count: 2 }).request.kind, 'file-record');
  t.equal(explain(p, { id: `${TD}/a`, device: 'd', fc: 24, address: 0 }).request.kind, 'fifo');
  t.equal(explain(p, { id: `${TD}/a`, device: 'd', fc: 11 }).request.kind, 'diagnostic');
  t.equal(explain(p, { id: `${TD}/a`, device: 'd', fc: 100 }).request.kind, 'user-defined');
  t.equal(
    explain(p, { id: `${TD}/a`, device: 'd', fc: 6, address: 0, value: 1, unit: 0 }).decision.reason,
    'broadcast-not-allowed',
  );
  t.throws(() => explain(p, { id: `${TD}/a`, device: 'd', fc: 6, address: 0 }), { code: 'GW_ERR_USAGE' });
  t.throws(() => explain(p, { id: `${TD}/a`, device: 'd', fc: 3, address: 0, at: 'soon' }), { code: 'GW_ERR_USAGE' });
  t.same(buildRequest({ id: 'x', device: 'd', fc: 15 }), { ok: false, error: 'FC15 needs an address and values' });
});
