/**
 * Commissioning a plant end to end (issue 13): a real gateway with `learn:` on turbine-1, known traffic from a
 * historian, an HMI and an engineer (listed) and a stranger (not listed); explicit deny rules, a device lock
 * and the read-only downgrade hold while learning; `/readyz` and the metric show it; then `policy learn`
 * proposes rules that allow every observed request (replay: 0 allow→deny), deny probes outside the observed
 * ranges and values, give the stranger nothing, and pass `policy check`.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRequest, type ModbusRequest } from '../../protocols/modbus/index.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { compilePolicyText, explain } from '../../gateway/policy/index.js';
import { startHarness, TestMbapsClient, TD, type Harness } from '../helpers/gateway-harness.js';

const HIST = `spiffe://${TD}/historian`;
const HMI = `spiffe://${TD}/hmi/line1`;
const ENG = `spiffe://${TD}/eng/alice`;
const STRANGER = `spiffe://${TD}/stranger`;

const POLICY = `version: 1
trustDomain: ${TD}
admins: [spiffe://${TD}/ops/**]
rules:
  - id: historian-input
    principals: [${HIST}]
    devices: [turbine-1]
    allow: [{ access: read, table: input, addresses: 0-15 }]
  - id: no-safety-writes
    effect: deny
    principals: ["spiffe://${TD}/**"]
    devices: ["*"]
    deny: [{ access: write, table: holding, addresses: 200-209 }]
`;

const rd = (fc: 3 | 4, address: number, quantity: number): ModbusRequest => ({
  type: 'read-registers',
  fc,
  address,
  quantity,
});
const w6 = (address: number, value: number): ModbusRequest => ({
  type: 'write-single-register',
  fc: 6,
  address,
  value,
});
const w16 = (address: number, values: number[]): ModbusRequest => ({
  type: 'write-multiple-registers',
  fc: 16,
  address,
  values,
});

/** true: answered normally; a number: the exception code. */
async function send(c: TestMbapsClient, req: ModbusRequest): Promise<true | number> {
  const pdu = await c.request(1, encodeRequest(req));
  if (pdu === null) throw new Error('no answer');
  return (pdu[0]! & 0x80) !== 0 ? pdu[1]! : true;
}

function events(h: Harness): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const r = verifyAuditDir(join(h.dir, 'audit'), { allowMissingCheckpoints: true, onEvent: (e) => out.push(e) });
  if (!r.ok) throw new Error(`trail: ${r.reason}`);
  return out;
}

t.test('learn on a live gateway, then propose, replay, probe and check', async (t) => {
  const until = new Date(Date.now() + 7 * 86_400_000).toISOString();
  const h = await startHarness({
    policy: POLICY,
    deviceYaml: `learn: { until: "${until}", principals: ["${HIST}", "${HMI}", "spiffe://${TD}/eng/*"] }, tags: { speedSetpoint: { table: holding, address: 100 } }`,
  });
  let stopped = false;
  t.teardown(() => (stopped ? undefined : h.stop()));
  const connect = async (id: string) => TestMbapsClient.connect(h.port, await h.mint(id));
  const [hist, hmi, eng, stranger] = await Promise.all([connect(HIST), connect(HMI), connect(ENG), connect(STRANGER)]);
  t.teardown(() => [hist, hmi, eng, stranger].forEach((c) => c.close()));

  // known traffic
  for (let i = 0; i < 3; i++)
    t.equal(await send(hist, rd(4, 0, 3)), true, 'historian input read (the policy allows it)');
  for (const a of [0, 5, 8]) t.equal(await send(hist, rd(3, a, 2)), true, 'historian holding reads (learned)');
  for (const v of [1500, 1600, 1500]) t.equal(await send(hmi, w6(100, v)), true, 'HMI setpoint writes (learned)');
  t.equal(await send(hmi, rd(3, 100, 1)), true, 'HMI reads the setpoint back');
  t.equal(await send(eng, w16(150, [1, 2, 3])), true, 'engineer block write (learned, ID pattern)');
  // what learning never overrides
  t.equal(await send(stranger, rd(3, 0, 1)), 0x01, 'an unlisted identity stays default deny');
  t.equal(await send(eng, w6(205, 1)), 0x01, 'an explicit deny rule holds');
  const lock = h.gateway.trust.lock(
    { kind: 'device', value: 'turbine-1' },
    'spiffe://plant.example/ops/test',
    'incident',
  );
  if (!lock.ok) throw new Error('lock failed');
  t.equal(await send(hmi, w6(100, 1500)), 0x01, 'a device lock holds');
  h.gateway.trust.locks.remove(lock.lock.id, 'spiffe://plant.example/ops/test');
  const hmiSession = [...h.gateway.sessions.all()].find((s) => s.peer.id === HMI)!;
  hmiSession.setReadOnly(true);
  t.equal(await send(hmi, w6(100, 1500)), 0x01, 'the read-only downgrade holds');
  hmiSession.setReadOnly(false);

  // what the trail, /readyz and the metrics say
  const ev = events(h);
  t.match(
    ev.find((e) => e['type'] === 'learn.started'),
    { device: 'turbine-1', until, principals: [HIST, HMI, `spiffe://${TD}/eng/*`] },
  );
  const decisions = ev.filter((e) => e['type'] === 'request.decision');
  const hmiWrite = decisions.find((e) => e['identity'] === HMI && e['fc'] === 6)!;
  t.match(
    hmiWrite,
    { decision: 'learn', ruleId: null, reason: 'learn no-rule', outcome: 'pending' },
    'the write-ahead decision of a learned write',
  );
  t.match(
    decisions.find((e) => e['identity'] === HIST && e['fc'] === 3),
    { decision: 'learn', reason: 'learn address-not-allowed read holding:0' },
    'the rule/reason the policy would have applied',
  );
  t.match(
    decisions.find((e) => e['identity'] === STRANGER),
    { decision: 'deny', reason: 'no-rule' },
  );
  t.match(
    decisions.find((e) => e['identity'] === ENG && e['fc'] === 6),
    { decision: 'deny', ruleId: 'no-safety-writes' },
  );
  t.ok(
    decisions.some((e) => e['identity'] === HMI && String(e['reason']).startsWith('locked')),
    'lock recorded',
  );
  t.ok(
    decisions.some((e) => e['identity'] === HMI && e['reason'] === 'trust-read-only'),
    'read-only recorded',
  );
  const metrics = h.gateway.endpoints.metrics!;
  const ready = (await (await fetch(`http://127.0.0.1:${metrics.port}/readyz`)).json()) as {
    checks: Record<string, { detail: string }>;
  };
  t.match(ready.checks['learn']!.detail, /^learning turbine-1 until .* \(\d+ learned\)$/);
  const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
  t.match(text, /verigate_learn_active\{device="turbine-1"\} 1/);
  // 3 + 3 + 1 + 1 learned and answered, + 2 the lock and the read-only downgrade then refused (counted when judged)
  t.match(text, /verigate_learn_requests_total\{device="turbine-1"\} 10/);
  t.equal(decisions.filter((e) => e['decision'] === 'learn').length, 8, 'only those answered are recorded as learn');

  // commissioning ends with the gateway: learn.ended, then learn from the trail
  stopped = true;
  await h.stop();
  const ended = events(h).find((e) => e['type'] === 'learn.ended');
  t.match(ended, { device: 'turbine-1', reason: 'stopped', learned: 10 });
  const out = join(h.dir, 'proposed.yaml');
  const audit = join(h.dir, 'audit');
  const io = memoryIo();
  t.equal(
    await policyCommand(
      ['learn', '--audit', audit, '--base', h.policyFile, '--config', join(h.dir, 'gateway.yaml'), '--out', out],
      io,
    ),
    0,
    io.stderr.join('\n'),
  );
  t.match(io.stdout.join('\n'), /proposed 3 rule\(s\)/);
  const proposed = compilePolicyText(readFileSync(out, 'utf8'), out);
  t.ok(
    proposed.source.rules.some((r) => r.principals.includes(HMI)),
    'a rule for the HMI',
  );
  t.notOk(
    proposed.source.rules.some((r) =>
      r.principals.some((p) => STRANGER.startsWith(p.replace(/\*+$/, '')) && p !== `spiffe://${TD}/**`),
    ),
    'no rule for the stranger',
  );
  t.match(readFileSync(out, 'utf8'), /tag speedSetpoint/, 'the tag named where a range matches it');
  // (a) replay: every observed request still allowed
  const replay = memoryIo();
  t.equal(await policyCommand(['replay', '--audit', audit, '--policy', out], replay), 0, replay.stderr.join('\n'));
  t.match(replay.stdout.join('\n'), /allow→deny: 0 request/);
  // (b) probes outside the observed ranges and values
  const probe = (id: string, fc: number, address: number, more: object = {}) =>
    explain(proposed, { id, device: 'turbine-1', fc, address, ...more }).decision.effect;
  t.equal(probe(HMI, 6, 100, { value: 1700 }), 'deny', 'HMI: a value never written');
  t.equal(probe(HMI, 6, 101, { value: 1500 }), 'deny', 'HMI: the next register');
  t.equal(probe(HMI, 6, 100, { value: 1500, unit: 2 }), 'deny', 'HMI: a unit it never used');
  t.equal(probe(HIST, 3, 20, { count: 1 }), 'deny', 'historian: past the read range');
  t.equal(probe(ENG, 16, 150, { values: [1, 2, 3, 4] }), 'deny', 'engineer: one register more');
  t.equal(probe(ENG, 6, 205, { value: 1 }), 'deny', 'the explicit deny is kept');
  // (c) no rule for the unlisted identity
  t.equal(explain(proposed, { id: STRANGER, device: 'turbine-1', fc: 3, address: 0 }).decision.reason, 'no-rule');
  // (d) the generated tests pass policy check
  const check = memoryIo();
  t.equal(await policyCommand(['check', out], check), 0, check.stderr.join('\n'));
  t.match(check.stdout.join('\n'), /ok: \d+ rules, \d+ tests passed/);
  const diff = memoryIo();
  t.equal(await policyCommand(['diff', h.policyFile, out], diff), 0);
  t.match(diff.stdout.join('\n'), /rules added \(3\)/);
});
