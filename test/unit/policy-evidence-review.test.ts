/**
 * Review fixes of issue 13: commissioning mode never learns past a JIT rule (judge and live gateway); learned
 * write bounds per address; `policy replay` counts JIT and rate as tightening; `policy diff` gets the
 * direction of deny rules right and counts added/removed rules in its summary.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { classify, encodeRequest, type ModbusRequest } from '../../protocols/modbus/index.js';
import { compilePolicyText, evaluate, explain } from '../../gateway/policy/index.js';
import { LearnMode } from '../../gateway/evidence/learn-mode.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { replayTrail } from '../../gateway/evidence/policy-replay.js';
import { learnPolicy, SKIPPED_SHADOW } from '../../gateway/evidence/learn.js';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { startHarness, TestMbapsClient, TD } from '../helpers/gateway-harness.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const HMI = `spiffe://${TD}/hmi/line1`;
const HOUR = 3_600_000;
const JIT_POLICY = `version: 1
trustDomain: ${TD}
rules:
  - id: hmi-setpoints
    principals: [${HMI}]
    devices: [turbine-1]
    jit: { approvers: ["spiffe://${TD}/eng/*"], maxDuration: 1h }
    allow: [{ access: write, table: holding, addresses: 100-109, values: "0..3600" }]
`;

function learnMode(now: number): LearnMode {
  const learn = new LearnMode({
    devices: [{ name: 'turbine-1', learn: { untilMs: now + HOUR, principals: [HMI] } }],
    audit: { append: () => ({ ok: true, seq: 1 }) },
    timers: new FakeTimers(now),
    now: () => now,
    registry: new Registry(),
    logger: { warn: () => undefined, info: () => undefined },
  });
  learn.start();
  return learn;
}

t.test('learn mode never learns a request touching registers a JIT rule protects (judge)', (t) => {
  const now = 1_000_000;
  const learn = learnMode(now);
  t.teardown(() => learn.stop());
  const policy = compilePolicyText(JIT_POLICY, 'policy.yaml');
  const peer = { id: HMI, role: null };
  const judge = (req: ModbusRequest) => {
    const c = classify(req, 1);
    return learn.judge(peer, 'turbine-1', c, evaluate(policy, peer, 'turbine-1', c, new Date(now)), now);
  };
  t.match(judge({ type: 'write-single-register', fc: 6, address: 100, value: 9999 }), {
    effect: 'deny',
    reason: 'value-not-allowed holding:100=9999',
    jitRule: 'hmi-setpoints',
  });
  const fc16 = judge({ type: 'write-multiple-registers', fc: 16, address: 100, values: Array(11).fill(1) });
  t.match(fc16, { effect: 'deny', reason: 'address-not-allowed write holding:110', jitRule: 'hmi-setpoints' });
  t.match(judge({ type: 'write-single-register', fc: 6, address: 100, value: 5 }), {
    effect: 'allow',
    obligations: { jit: { ruleId: 'hmi-setpoints' } },
  });
  t.match(
    judge({ type: 'write-single-register', fc: 6, address: 110, value: 9999 }),
    { effect: 'allow', reason: 'learn address-not-allowed write holding:110' },
    'a register outside the JIT rule is still learned',
  );
  t.match(
    judge({ type: 'read-registers', fc: 3, address: 100, quantity: 2 }),
    { effect: 'allow', reason: /^learn / },
    'the JIT rule protects writes: reading those registers is learned',
  );
  t.end();
});

t.test('learn mode on a live gateway: out-of-bounds writes to JIT registers are denied, nothing written', async (t) => {
  const timers = new FakeTimers(Date.now());
  const until = new Date(timers.now() + 2 * HOUR);
  const h = await startHarness({
    policy: JIT_POLICY,
    timers,
    deviceYaml: `learn: { until: "${until.toISOString()}", principals: ["${HMI}"] }`,
  });
  t.teardown(() => h.stop());
  const hmi = await TestMbapsClient.connect(h.port, await h.mint(HMI, { ttlSeconds: 86_400 }));
  t.teardown(() => hmi.close());
  const send = async (req: ModbusRequest): Promise<Buffer> => {
    const pdu = await hmi.request(1, encodeRequest(req));
    if (pdu === null) throw new Error('no answer');
    return pdu;
  };
  const holding = async (): Promise<string> =>
    (await send({ type: 'read-registers', fc: 3, address: 100, quantity: 11 })).toString('hex');
  const before = await holding();
  t.equal(before.slice(0, 2), '03', 'reads are learned');
  t.equal((await send({ type: 'write-single-register', fc: 6, address: 100, value: 9999 }))[0], 0x86, 'denied');
  const fc16 = await send({ type: 'write-multiple-registers', fc: 16, address: 100, values: Array(11).fill(7) });
  t.equal(fc16[0], 0x90, 'FC16 over 100-110 denied');
  t.equal(await holding(), before, 'nothing written');
});

t.test('diff: shrinking a deny rule widens the policy; added/removed rules count in the summary', async (t) => {
  const a = `version: 1
trustDomain: ${TD}
rules:
  - id: no-safety
    effect: deny
    principals: ["spiffe://${TD}/**", ${HMI}]
    devices: ["*"]
    deny: [{ access: write, table: holding, addresses: 500-599, values: "0..100" }]
  - id: old-deny
    effect: deny
    principals: [${HMI}]
    devices: [turbine-1]
    deny: [{ access: write, table: coils, addresses: 0 }]
  - id: old-allow
    principals: [${HMI}]
    devices: [turbine-1]
    allow: [{ access: read, table: input, addresses: 0-9 }]
`;
  const b = `version: 1
trustDomain: ${TD}
rules:
  - id: no-safety
    effect: deny
    principals: ["spiffe://${TD}/**"]
    devices: ["*"]
    deny: [{ access: write, table: holding, addresses: 500-549, values: "0..50" }]
  - id: new-allow
    principals: [${HMI}]
    devices: [turbine-1]
    allow: [{ access: read, table: input, addresses: 0-9 }]
  - id: new-deny
    effect: deny
    principals: [${HMI}]
    devices: [turbine-1]
    deny: [{ access: read, table: input, addresses: 5 }]
  - id: new-shadow
    mode: shadow
    principals: [${HMI}]
    devices: [turbine-1]
    allow: [{ access: read, table: input, addresses: 100 }]
`;
  const dir = mkdtempSync(join(tmpdir(), 'vg-diff-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'a.yaml'), a);
  writeFileSync(join(dir, 'b.yaml'), b);
  const io = memoryIo();
  t.equal(await policyCommand(['diff', join(dir, 'a.yaml'), join(dir, 'b.yaml')], io), 0);
  const out = io.stdout.join('\n');
  t.match(out, /principals removed: spiffe:\/\/plant\.example\/hmi\/line1 — widened/);
  t.match(out, /write holding 500-549 values 0\.\.100 → 0\.\.50 — widened/);
  t.match(out, /write holding 550-599 no longer denied — widened/);
  t.notMatch(out, /— narrowed/, 'nothing in the kept deny rule narrows the policy');
  // widening: 3 in no-safety, new-allow added, old-deny removed; narrowing: old-allow removed, new-deny added
  t.match(out, /summary: 3 added, 2 removed, 1 changed; 5 widening and 2 narrowing statement\(s\)/);
  const back = memoryIo();
  t.equal(await policyCommand(['diff', join(dir, 'b.yaml'), join(dir, 'a.yaml')], back), 0);
  t.match(back.stdout.join('\n'), /write holding 550-599 now denied \(values 0\.\.100\) — narrowed/);
  t.match(back.stdout.join('\n'), /summary: 2 added, 3 removed, 1 changed; 2 widening and 5 narrowing statement\(s\)/);
});

const ENG = `spiffe://${TD}/eng/alice`;
const OP2 = `spiffe://${TD}/hmi/line2`;
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;

/** One recorded allowed write of holding 100 by `id` under rule `hmi`. */
function allowedWrite(id: string, value: number, ruleId: string | null = 'hmi', reason = 'allowed'): AuditEventInput {
  return recordedWrite(id, 100, [value], ruleId, reason);
}

/** A recorded allowed write (FC6 for one value, else FC16) of holding `start`.. by `id`. */
function recordedWrite(
  id: string,
  start: number,
  values: number[],
  ruleId: string | null = 'hmi',
  reason = 'allowed',
): AuditEventInput {
  return {
    type: 'request.decision',
    session: 's1',
    identity: id,
    device: 'turbine-1',
    unit: 1,
    fc: values.length === 1 ? 6 : 16,
    reads: [],
    writes: [{ table: 'holding', start, count: values.length, values }],
    decision: 'allow',
    ruleId,
    reason,
    outcome: 'ok',
    latencyMs: 1,
    policyVersion: 'test',
  };
}

/** Writes the events as a trail, one every 100 ms of test time. */
async function trail(dir: string, events: readonly AuditEventInput[]): Promise<void> {
  const timers = new FakeTimers(T0);
  const log = await AuditLog.open({ dir, fsync: 'never', values: 'include', timers });
  for (const e of events) {
    log.append(e);
    timers.advance(100);
  }
  await log.close();
}

const hmiRule = (extra: string): string => `version: 1
trustDomain: ${TD}
rules:
  - id: hmi
    principals: [${HMI}, ${OP2}]
    devices: [turbine-1]
${extra}    allow: [{ access: write, table: holding, addresses: 100-109, values: "0..3600" }]
`;

t.test('replay: a candidate adding JIT or rate blocks recorded traffic, and says so', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-replay-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const grantedUntil = new Date(T0 + 60 * 60_000).toISOString();
  await trail(join(dir, 'audit'), [
    // OP2 holds an approved grant of rule hmi for turbine-1; the HMI never asked for one
    {
      type: 'jit.requested',
      grantId: 'g1',
      requester: OP2,
      ruleId: 'hmi',
      devices: ['turbine-1'],
      reason: 'x',
      durationMs: 3_600_000,
    },
    { type: 'jit.approved', grantId: 'g1', approver: ENG, expiresAt: grantedUntil },
    ...Array.from({ length: 20 }, (_, i) => allowedWrite(HMI, i)),
    allowedWrite(OP2, 1),
    allowedWrite(OP2, 2),
  ]);
  const audit = join(dir, 'audit');
  const files = { jit: join(dir, 'jit.yaml'), rate: join(dir, 'rate.yaml') };
  writeFileSync(files.jit, hmiRule(`    jit: { approvers: ["spiffe://${TD}/eng/*"], maxDuration: 1h }\n`));
  writeFileSync(files.rate, hmiRule('    rate: 5/s\n'));

  const jit = replayTrail({
    dir: audit,
    verify: { allowMissingCheckpoints: true },
    window: {},
    candidate: compilePolicyText(readFileSync(files.jit, 'utf8'), 'jit.yaml'),
  });
  if (!jit.ok) throw new Error('replay failed');
  t.equal(jit.tightened, 20, 'every HMI write now needs a grant the HMI never had');
  t.equal(jit.unchanged, 2, "OP2's writes were under a live grant of the rule");
  t.match(jit.groups[0], { direction: 'allow→deny', identity: HMI, rule: 'hmi', reason: 'jit-required', count: 20 });

  // 10 writes a second against 5/s (bucket of 5, +0.5 a write): the first 9 pass, then every other one is refused
  const rate = replayTrail({
    dir: audit,
    verify: { allowMissingCheckpoints: true },
    window: {},
    candidate: compilePolicyText(readFileSync(files.rate, 'utf8'), 'rate.yaml'),
  });
  if (!rate.ok) throw new Error('replay failed');
  t.equal(rate.tightened, 6);
  t.match(rate.groups[0], { direction: 'allow→deny', identity: HMI, reason: 'rate-limited', count: 6 });

  for (const [name, file] of Object.entries(files)) {
    const io = memoryIo();
    t.equal(
      await policyCommand(['replay', '--audit', audit, '--policy', file, '--allow-missing-checkpoints'], io),
      1,
      `${name}: the CI gate fails`,
    );
    t.match(io.stderr.join('\n'), /would be DENIED/);
    const ok = memoryIo();
    const args = ['replay', '--audit', audit, '--policy', file, '--allow-missing-checkpoints', '--allow-tightening'];
    t.equal(await policyCommand(args, ok), 0, `${name}: --allow-tightening accepts it`);
  }
});

t.test('learn skips allows of a shadow-mode policy unless includeShadow', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-learn-shadow-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const STRANGER = `spiffe://${TD}/stranger`;
  const shadowAllow = allowedWrite(STRANGER, 5, null, 'shadow-mode no-rule');
  await trail(dir, [allowedWrite(HMI, 1), shadowAllow, shadowAllow]);
  const verify = { allowMissingCheckpoints: true };
  const r = learnPolicy({ dir, verify, window: {}, base: null });
  if (!r.ok) throw new Error(JSON.stringify(r));
  t.equal(r.skipped.get(SKIPPED_SHADOW), 2);
  t.equal(r.learned, 1);
  t.notOk(r.text.includes('stranger'), 'no rule for an identity only a shadow policy let through');
  const all = learnPolicy({ dir, verify, window: {}, base: null, includeShadow: true });
  if (!all.ok) throw new Error(JSON.stringify(all));
  t.equal(all.learned, 3);
  t.ok(
    all.rules.some((x) => x.principals.includes(STRANGER)),
    'learned with includeShadow',
  );
  const out = join(dir, 'proposed.yaml');
  const cli = async (...more: string[]): Promise<string> => {
    const io = memoryIo();
    t.equal(
      await policyCommand(['learn', '--audit', dir, '--out', out, '--allow-missing-checkpoints', ...more], io),
      0,
    );
    return io.stdout.join('\n');
  };
  const plain = await cli();
  t.match(plain, /not learned: 2 allowed only by a shadow-mode policy \(pass --include-shadow/);
  t.match(plain, /proposed 1 rule\(s\) from 1 of 3 requests/);
  t.match(plain, /— all pass;/, 'every observed request is allowed by the proposal');
  t.match(await cli('--include-shadow'), /proposed 2 rule\(s\) from 3 of 3 requests/);
});

t.test('learn: write bounds per address; never-written registers between writes get no write grant', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-learn-values-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // 100 sees 0..3510 (19 distinct values), 101 only 0/1, 105 only 42; 102-104 are never written
  const blocks = Array.from({ length: 19 }, (_, i) => recordedWrite(HMI, 100, [i * 195, i % 2]));
  await trail(dir, [...blocks, recordedWrite(HMI, 105, [42])]);
  const r = learnPolicy({ dir, verify: { allowMissingCheckpoints: true }, window: {}, base: null });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const hmi = r.rules.find((x) => x.principals.includes(HMI))!;
  t.same(
    hmi.entries.map((e) => e.entry),
    [
      { access: 'write', table: 'holding', addresses: 100, values: '0..3861' },
      { access: 'write', table: 'holding', addresses: 101, values: [0, 1] },
      { access: 'write', table: 'holding', addresses: 105, values: [42] },
    ],
  );
  const policy = compilePolicyText(r.text, 'proposed.yaml');
  const probe = (address: number, value: number) =>
    explain(policy, { id: HMI, device: 'turbine-1', fc: 6, address, value }).decision.effect;
  t.equal(probe(101, 2), 'deny', '101 keeps its own bounds');
  t.equal(probe(101, 3000), 'deny');
  t.equal(probe(102, 0), 'deny', 'a never-written register in the gap');
  t.equal(probe(100, 3861), 'allow');
  t.equal(probe(105, 42), 'allow');
});
