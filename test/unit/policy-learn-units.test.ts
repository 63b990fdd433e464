/**
 * `policy learn` names the units each identity used: a rule learned from unit 1 does not grant unit 2, a
 * broadcast write (unit 0) that was answered is granted by a rule of its own (which lends the identity's
 * unicast writes no broadcast grant), identities alike in registers but not in units get separate rules, many
 * units compact into ranges; registers seen at one unit (a slave behind a Modbus gateway) are never granted at
 * another, units with identical grants share a rule, and a rule's rate covers its units together. The proposal
 * replays the trail with 0 allow→deny and passes `policy check`.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { compilePolicyText, explain } from '../../gateway/policy/index.js';
import { learnPolicy } from '../../gateway/evidence/learn.js';
import { replayTrail } from '../../gateway/evidence/policy-replay.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const TD = 'plant.example';
const HMI = `spiffe://${TD}/hmi/line1`;
const ENG = `spiffe://${TD}/eng/alice`;
const SCADA_A = `spiffe://${TD}/scada/a`;
const SCADA_B = `spiffe://${TD}/scada/b`;
const POLLER = `spiffe://${TD}/poller`;
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const verify = { allowMissingCheckpoints: true };
const root = mkdtempSync(join(tmpdir(), 'vg-learn-units-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));

/** An answered request as the gateway records it: a holding read (fc 3) or single-register write (fc 6). */
function answered(id: string, unit: number, op: { read: number } | { write: number; value: number }): AuditEventInput {
  const isRead = 'read' in op;
  return {
    type: 'request.decision',
    session: 's1',
    identity: id,
    device: 'turbine-1',
    unit,
    fc: isRead ? 3 : 6,
    reads: isRead ? [{ table: 'holding', start: op.read, count: 2 }] : [],
    writes: isRead ? [] : [{ table: 'holding', start: op.write, count: 1, values: [op.value] }],
    decision: 'allow',
    ruleId: 'commissioned',
    reason: 'allowed',
    outcome: 'ok',
    latencyMs: 1,
    policyVersion: 'test',
  };
}

async function trail(events: readonly AuditEventInput[]): Promise<string> {
  const dir = mkdtempSync(join(root, 'trail-'));
  const timers = new FakeTimers(T0);
  const log = await AuditLog.open({ dir, fsync: 'never', values: 'include', timers });
  for (const e of events) {
    log.append(e);
    timers.advance(100);
  }
  await log.close();
  return dir;
}

const traffic: AuditEventInput[] = [
  answered(HMI, 1, { read: 0 }),
  answered(HMI, 1, { write: 100, value: 5 }),
  // same registers, different units: must not share a rule
  answered(SCADA_A, 1, { read: 10 }),
  answered(SCADA_B, 2, { read: 10 }),
  // a broadcast write (unit 0) answered under the enforced policy, and a unicast write of another register
  answered(ENG, 0, { write: 300, value: 1 }),
  answered(ENG, 1, { write: 200, value: 7 }),
  // many units: 3, 4, 5 and 7
  ...[3, 4, 5, 7].map((u) => answered(POLLER, u, { read: 20 })),
];

t.test('learned rules name the units seen; other units stay denied; broadcasts seen are granted', async (t) => {
  const dir = await trail(traffic);
  const r = learnPolicy({ dir, verify, window: {}, base: null });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const units = (id: string) => r.rules.filter((x) => x.identities.includes(id)).map((x) => x.units);
  t.same(units(HMI), [[1]], 'the HMI used unit 1: units [1]');
  t.same(units(POLLER), [['3-5', 7]], 'consecutive units compact into a range');
  t.same(units(ENG).sort(), [[0], [1]], 'unit 0 (broadcast) is a rule of its own');
  t.match(r.text, /units: \[ 1 \]/, 'the YAML names the units');
  t.match(r.text, /units: \[ 3-5, 7 \]/);

  const policy = compilePolicyText(r.text, 'proposed.yaml');
  const decide = (id: string, unit: number, more: { fc: number; address: number; count?: number; value?: number }) =>
    explain(policy, { id, device: 'turbine-1', unit, ...more }).decision;
  t.equal(decide(HMI, 1, { fc: 3, address: 0, count: 2 }).effect, 'allow', 'HMI at unit 1: allowed');
  t.match(decide(HMI, 2, { fc: 3, address: 0, count: 2 }), { effect: 'deny', reason: /^unit-not-allowed/ }, 'unit 2');
  t.equal(decide(HMI, 2, { fc: 6, address: 100, value: 5 }).effect, 'deny', 'HMI write at unit 2: denied');
  t.equal(decide(POLLER, 6, { fc: 3, address: 20, count: 2 }).effect, 'deny', 'poller: the unit in the gap');
  t.equal(decide(POLLER, 4, { fc: 3, address: 20, count: 2 }).effect, 'allow');
  t.equal(decide(ENG, 0, { fc: 6, address: 300, value: 1 }).effect, 'allow', 'the broadcast write seen is granted');
  t.equal(
    decide(ENG, 0, { fc: 6, address: 200, value: 7 }).effect,
    'deny',
    'a register only written at unit 1 gets no broadcast grant',
  );
  t.equal(decide(ENG, 1, { fc: 6, address: 300, value: 1 }).effect, 'deny', 'nor the reverse');

  const rep = replayTrail({ dir, verify, window: {}, candidate: policy });
  if (!rep.ok) throw new Error('replay failed');
  t.equal(rep.tightened, 0, 'replay: every answered request (the broadcast too) stays allowed');
  t.equal(r.notAllowed, 0);
  t.match(r.text, /near-miss fc3 @0×2 unit 2"[^}]*reason: unit-not-allowed/, 'a generated test pins the units down');
  t.match(
    r.text,
    /near-miss fc6 @300=2 unit 0"[^}]*reason: value-not-allowed/,
    "the unit-0 rule's value bound is tested at unit 0, where that rule applies",
  );
  t.match(r.text, /near-miss fc3 @22 unit 3"[^}]*reason: address-not-allowed/, "the poller's range, at its unit");

  const file = join(root, 'proposed.yaml');
  writeFileSync(file, r.text);
  const io = memoryIo();
  t.equal(await policyCommand(['check', file], io), 0, io.stderr.join('\n'));
  t.match(io.stdout.join('\n'), /tests passed/);
});

t.test('identities alike in registers but not in units are not merged into one rule', async (t) => {
  const dir = await trail(traffic);
  const r = learnPolicy({ dir, verify, window: {}, base: null });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const scada = r.rules.filter((x) => x.identities.some((id) => id.startsWith(`spiffe://${TD}/scada/`)));
  t.same(
    scada.map((x) => [x.principals, x.units]),
    [
      [[SCADA_A], [1]],
      [[SCADA_B], [2]],
    ],
  );
  const policy = compilePolicyText(r.text, 'proposed.yaml');
  const effect = (id: string, unit: number) =>
    explain(policy, { id, device: 'turbine-1', unit, fc: 3, address: 10, count: 2 }).decision.effect;
  t.equal(effect(SCADA_A, 2), 'deny', "a's grant does not reach b's unit");
  t.equal(effect(SCADA_B, 1), 'deny');
  t.equal(effect(SCADA_B, 2), 'allow');
});

t.test('an event with a unit id outside one byte is not learned (no `units:` could name it)', async (t) => {
  const dir = await trail([answered(HMI, 1, { read: 0 }), answered(HMI, 300, { read: 50 })]);
  const r = learnPolicy({ dir, verify, window: {}, base: null });
  if (!r.ok) throw new Error(JSON.stringify(r));
  t.equal(r.skipped.get('unit ids outside 0-255 (malformed events)'), 1);
  t.same(
    r.rules.map((x) => x.units),
    [[1]],
  );
  t.notOk(r.text.includes('50-51'), 'its registers are not granted');
});

// Behind a Modbus TCP/RTU gateway every unit id is another slave on the serial line.
const RTU = `spiffe://${TD}/rtu/master`;
const SWEEP_A = `spiffe://${TD}/sweep/a`;
const SWEEP_B = `spiffe://${TD}/sweep/b`;
const SWEEP_C = `spiffe://${TD}/sweep/c`;
const slaves: AuditEventInput[] = [
  // one identity, different registers per slave: never pooled
  answered(RTU, 1, { write: 100, value: 5 }),
  answered(RTU, 2, { write: 200, value: 7 }),
  // the same registers on slaves 1 and 2 (c also polls slave 3 elsewhere)
  ...[SWEEP_A, SWEEP_B, SWEEP_C].flatMap((id) => [answered(id, 1, { read: 10 }), answered(id, 2, { read: 10 })]),
  answered(SWEEP_C, 3, { read: 50 }),
];

t.test('registers seen at different units are granted only at the unit they were seen at', async (t) => {
  const dir = await trail(slaves);
  const r = learnPolicy({ dir, verify, window: {}, base: null });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const policy = compilePolicyText(r.text, 'proposed.yaml');
  const write = (unit: number, address: number, value: number) =>
    explain(policy, { id: RTU, device: 'turbine-1', unit, fc: 6, address, value }).decision.effect;
  t.equal(write(1, 100, 5), 'allow', '100 at unit 1, as seen');
  t.equal(write(2, 200, 7), 'allow', '200 at unit 2, as seen');
  t.equal(write(1, 200, 7), 'deny', '200 was never written at unit 1');
  t.equal(write(2, 100, 5), 'deny', '100 was never written at unit 2');
  t.same(
    r.rules.filter((x) => x.identities.includes(RTU)).map((x) => [x.id, x.units]),
    [
      ['learned-rtu-master-turbine-1-u1', [1]],
      ['learned-rtu-master-turbine-1-u2', [2]],
    ],
    'one rule per unit, the id names the unit',
  );
  t.match(
    r.text,
    /"learned-rtu-master-turbine-1-u1: near-miss fc6 @100=5 unit 2", [^}]*expect: deny/,
    "a generated test sends the unit-1 write to unit 2, where another of the identity's rules applies",
  );

  const sweep = r.rules.filter((x) => x.identities.includes(SWEEP_A));
  t.same(
    sweep.map((x) => [x.principals, x.units]),
    [[[`spiffe://${TD}/sweep/*`], ['1-2']]],
    'the same registers at units 1 and 2: one rule naming both, shared by the identities that did the same',
  );
  t.same(
    r.rules.filter((x) => x.identities.includes(SWEEP_C)).map((x) => [x.id, x.units]),
    [
      ['learned-sweep-c-turbine-1-u3', [3]],
      ['learned-sweep-turbine-1-u1', ['1-2']],
    ],
    "c's unit 3 reads are its own rule; its units 1-2 share the others' rule",
  );
  const read = (id: string, unit: number, address: number) =>
    explain(policy, { id, device: 'turbine-1', unit, fc: 3, address, count: 2 }).decision.effect;
  t.equal(read(SWEEP_B, 2, 10), 'allow');
  t.equal(read(SWEEP_B, 3, 10), 'deny', 'b never polled unit 3');
  t.equal(read(SWEEP_C, 3, 10), 'deny', 'c read only 50 at unit 3');
  t.equal(read(SWEEP_C, 1, 50), 'deny', 'and 50 only at unit 3');
  t.equal(read(SWEEP_C, 3, 50), 'allow');

  const rep = replayTrail({ dir, verify, window: {}, candidate: policy });
  if (!rep.ok) throw new Error('replay failed');
  t.equal(rep.tightened, 0, 'replay: 0 allow→deny');
  t.equal(r.notAllowed, 0);
  const file = join(root, 'slaves.yaml');
  writeFileSync(file, r.text);
  const io = memoryIo();
  t.equal(await policyCommand(['check', file], io), 0, io.stderr.join('\n'));
  t.match(io.stdout.join('\n'), /tests passed/);
});

t.test("a rule's rate covers its identity's busiest second at all its units together", async (t) => {
  // events 100 ms apart from a second boundary: each identity's 6 requests fall in one second
  const dir = await trail([
    ...[1, 2, 1, 2, 1, 2].map((u) => answered(SWEEP_A, u, { read: 10 })),
    ...[1, 2, 3, 4].map(() => answered(POLLER, 9, { read: 0 })),
    ...[1, 2, 1, 2, 1, 2].map((u) => answered(RTU, u, u === 1 ? { write: 100, value: 5 } : { write: 200, value: 7 })),
  ]);
  const r = learnPolicy({ dir, verify, window: {}, base: null, options: { rateMargin: 1 } });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const rate = (id: string) => r.rules.filter((x) => x.identities.includes(id)).map((x) => [x.units, x.rate]);
  t.same(rate(SWEEP_A), [[['1-2'], '6/s']], 'one rule, one bucket: 3 + 3 requests in its busiest second');
  t.same(
    rate(RTU),
    [
      [[1], '3/s'],
      [[2], '3/s'],
    ],
    'a rule per unit, a bucket per rule: 3 each',
  );
  const rep = replayTrail({ dir, verify, window: {}, candidate: compilePolicyText(r.text, 'proposed.yaml') });
  if (!rep.ok) throw new Error('replay failed');
  t.equal(rep.tightened, 0, 'even at margin 1, replay is never rate-limited');
});
