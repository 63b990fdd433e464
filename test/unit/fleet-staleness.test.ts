/**
 * Fleet staleness (gateway/fleet/fleet-staleness.ts) and `lockMode: strict` at the trust runtime: staleness
 * from the newest heartbeat's time on an injected clock (fake timers, no sleeps), a hub clock ahead of ours
 * clamped, a restart resuming the persisted staleness, the gauge `verigate_fleet_staleness_seconds`, and the
 * gate refusing a strict rule's writes past maxStaleness (`fleet-stale`) while reads go on; a gateway that is
 * not a fleet member is unaffected. `createFleetEnforcement` wires it all.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explain, loadPolicyText } from '../../gateway/policy/index.js';
import type { StrictObligation } from '../../gateway/policy/compiled-policy.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession } from '../../gateway/trust/runtime-gate.js';
import { FleetStaleness } from '../../gateway/fleet/fleet-staleness.js';
import { createFleetEnforcement, HEARTBEAT_FILE } from '../../gateway/fleet/fleet-enforcement.js';
import { GatewayMetrics } from '../../gateway/observability/metrics.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const BY = 'spiffe://td.example/fleet/control';
const hb = (ms: number, seq = 1) => ({ time: new Date(ms).toISOString(), seq, by: BY });

const POLICY = loadPolicyText(
  `version: 1
trustDomain: td.example
rules:
  - id: strict-10s
    principals: [spiffe://td.example/hmi]
    devices: [plc-1]
    lockMode: strict
    maxStaleness: 10s
    allow: [{ access: read-write, table: holding, addresses: 0-9 }]
  - id: strict-default
    principals: [spiffe://td.example/hmi]
    devices: [plc-1]
    lockMode: strict
    allow: [{ access: read-write, table: holding, addresses: 10-19 }]
  - id: loose
    principals: [spiffe://td.example/hmi]
    devices: [plc-1]
    allow: [{ access: read-write, table: holding, addresses: 20-29 }]
`,
  'policy.yaml',
);
const HMI = 'spiffe://td.example/hmi';
const SESSION: GateSession = {
  id: 'S',
  peer: { id: HMI, role: null, notAfter: new Date(T0 + 3_600_000), fingerprint256: 'x' },
  readOnly: false,
  setReadOnly: () => undefined,
  end: () => undefined,
};

/** The gate's answer for a write (fc 6) or read (fc 3) of `address`, with the policy's own decision. */
function gate(trust: TrustRuntime, fc: 3 | 6, address: number) {
  const q = { id: HMI, device: 'plc-1', fc, address, ...(fc === 6 ? { value: 1 } : {}) };
  const { decision, request } = explain(POLICY, q);
  return trust.check(SESSION, 'plc-1', request, decision, 0);
}

async function trustRuntime(timers: FakeTimers) {
  const events: AuditEventInput[] = [];
  const trust = await TrustRuntime.open({
    dir: mkdtempSync(join(tmpdir(), 'vg-fleet-stale-')),
    policy: () => POLICY,
    sessions: { all: () => [], countFor: () => 0, endMatching: () => 0 },
    audit: { append: (e) => (events.push(e), { ok: true, seq: events.length }) },
    timers,
    tickMs: 0,
  });
  return { trust, events };
}

t.test(
  'staleness is now minus the newest heartbeat time; older ones and hub clock skew cannot freshen it',
  async (t) => {
    const timers = new FakeTimers(T0);
    const s = new FleetStaleness({
      file: join(mkdtempSync(join(tmpdir(), 'vg-hb-')), 'hb.json'),
      now: () => timers.now(),
    });
    t.equal(s.stalenessMs(), Infinity, 'never heard: infinitely stale');
    t.ok(s.isStale(1e12));
    s.heartbeat(hb(T0 - 500));
    t.equal(s.stalenessMs(), 500);
    timers.advance(4_000);
    t.equal(s.stalenessSeconds(), 4.5);
    s.heartbeat(hb(T0 - 10_000, 0));
    t.equal(s.stalenessMs(), 4_500, 'a replayed older heartbeat is ignored');
    s.heartbeat(hb(timers.now() + 3_600_000, 2));
    t.equal(s.stalenessMs(), 0, 'a heartbeat from the future counts as received now');
    timers.advance(61_000);
    t.equal(s.stalenessMs(), 61_000, '…and ages from then');
    t.ok(s.isStale(null), 'past the default 60 s');
    t.notOk(s.isStale(120_000));
    s.heartbeat({ time: 'yesterday', seq: 3, by: BY });
    t.equal(s.stalenessMs(), 61_000, 'an unreadable time is ignored');
  },
);

t.test('a wall clock stepped backwards never makes the box look fresher (receipt on a monotonic clock)', async (t) => {
  let wall = T0;
  let mono = 5_000;
  const s = new FleetStaleness({
    file: join(mkdtempSync(join(tmpdir(), 'vg-hb-')), 'hb.json'),
    now: () => wall,
    monotonic: () => mono,
  });
  s.heartbeat(hb(T0 - 2_000)); // already 2 s old when it arrives
  wall += 30_000;
  mono += 30_000;
  t.equal(s.stalenessMs(), 32_000);
  wall -= 3_600_000; // the clock is stepped back an hour (NTP, an operator)
  mono += 1_000;
  wall += 1_000;
  t.equal(s.stalenessMs(), 33_000, 'the monotonic clock goes on counting');
  t.ok(s.isStale(30_000), 'a strict rule with 30 s still refuses writes');
  // the control's clock is right: its next heartbeat is newer than the kept one, though "future" for ours
  s.heartbeat(hb(T0 + 33_000, 2));
  t.equal(s.stalenessMs(), 0, 'a newer heartbeat is taken (newest judged on the control clock)');
  s.heartbeat(hb(T0 + 20_000, 1));
  t.same(s.last(), hb(T0 + 33_000, 2), 'an older one is still a replay');
  mono += 4_000;
  wall += 4_000;
  t.equal(s.stalenessMs(), 4_000);
  wall += 7_200_000; // and stepped forward again: the wall clock says older, the larger one counts
  t.equal(s.stalenessMs(), 7_204_000);
});

t.test('a restart while cut off resumes the persisted staleness (never resets to fresh)', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'vg-hb-')), 'hb.json');
  const timers = new FakeTimers(T0);
  const first = new FleetStaleness({ file, now: () => timers.now(), persistEveryMs: 5_000 });
  first.heartbeat(hb(T0));
  timers.advance(1_000);
  first.heartbeat(hb(T0 + 1_000, 2));
  t.equal(first.last()?.seq, 2);
  // crash without flush: the persisted one is the first (throttled), so the restart looks staler, never fresher
  timers.advance(20_000);
  const crashed = new FleetStaleness({ file, now: () => timers.now() });
  crashed.load();
  t.equal(crashed.stalenessMs(), 21_000);
  first.flush();
  const restarted = new FleetStaleness({ file, now: () => timers.now() });
  restarted.load();
  t.equal(restarted.stalenessMs(), 20_000);
  t.same(restarted.last(), hb(T0 + 1_000, 2));
  const fresh = new FleetStaleness({ file: join(tmpdir(), 'vg-none', 'hb.json'), now: () => timers.now() });
  fresh.load();
  t.equal(fresh.stalenessMs(), Infinity, 'no file: never heard');
});

t.test('strict rules refuse writes past their maxStaleness and serve reads; best_effort rules never', async (t) => {
  const timers = new FakeTimers(T0);
  const { trust } = await trustRuntime(timers);
  t.match(gate(trust, 6, 1), { effect: 'allow' }, 'not a fleet member: strict has no effect');
  const s = new FleetStaleness({
    file: join(mkdtempSync(join(tmpdir(), 'vg-hb-')), 'hb.json'),
    now: () => timers.now(),
    defaultMaxStalenessMs: 30_000,
  });
  trust.setFleetFreshness(s);
  t.match(gate(trust, 6, 1), { effect: 'deny', code: 'fleet-stale', detail: 'strict-10s' }, 'never heard');
  s.heartbeat(hb(T0));
  t.match(gate(trust, 6, 1), { effect: 'allow' });
  timers.advance(10_000);
  t.match(gate(trust, 6, 1), { effect: 'allow' }, 'at exactly maxStaleness still fresh');
  timers.advance(1);
  t.match(gate(trust, 6, 1), { effect: 'deny', code: 'fleet-stale', detail: 'strict-10s' });
  t.match(gate(trust, 3, 1), { effect: 'allow' }, 'reads are still served');
  t.match(gate(trust, 6, 11), { effect: 'allow' }, 'strict-default uses fleet.maxStaleness (30 s)');
  timers.advance(20_000);
  t.match(gate(trust, 6, 11), { effect: 'deny', code: 'fleet-stale', detail: 'strict-default' });
  t.match(gate(trust, 6, 21), { effect: 'allow' }, 'best_effort rules keep serving writes');
  s.heartbeat(hb(timers.now(), 2));
  t.match(gate(trust, 6, 1), { effect: 'allow' }, 'a heartbeat makes writes possible again');
  trust.setFleetFreshness(null);
  timers.advance(3_600_000);
  t.match(gate(trust, 6, 1), { effect: 'allow' });
});

t.test('an obligation from several strict rules: the tighter of its limit and the default binds', async (t) => {
  const timers = new FakeTimers(T0);
  const { trust } = await trustRuntime(timers);
  const s = new FleetStaleness({
    file: join(mkdtempSync(join(tmpdir(), 'vg-hb-')), 'hb.json'),
    now: () => timers.now(),
    defaultMaxStalenessMs: 30_000,
  });
  trust.setFleetFreshness(s);
  s.heartbeat(hb(T0));
  const { request } = explain(POLICY, { id: HMI, device: 'plc-1', fc: 6, address: 1, value: 1 });
  const verdict = (strict: StrictObligation) =>
    ({ effect: 'allow', ruleId: 'a', reason: 'allowed', obligations: { strict } }) as const;
  const both = verdict({ ruleId: 'ten-min', maxStalenessMs: 600_000, defaultRuleId: 'by-default' });
  const alone = verdict({ ruleId: 'ten-min', maxStalenessMs: 600_000 });
  timers.advance(30_001);
  t.match(trust.check(SESSION, 'plc-1', request, both, 0), {
    effect: 'deny',
    code: 'fleet-stale',
    detail: 'by-default',
  });
  t.match(trust.check(SESSION, 'plc-1', request, alone, 0), { effect: 'allow' }, 'without it, 10 m');
  timers.advance(600_000);
  t.match(trust.check(SESSION, 'plc-1', request, both, 0), { effect: 'deny', code: 'fleet-stale', detail: 'ten-min' });
});

t.test('createFleetEnforcement wires handlers, fleet mode, the strict gate and the gauge', async (t) => {
  const timers = new FakeTimers(T0);
  const { trust, events } = await trustRuntime(timers);
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const gauge = async (): Promise<string> =>
    (await metrics.registry.getSingleMetricAsString('verigate_fleet_staleness_seconds')).split('\n').at(-1) ?? '';
  t.equal(await gauge(), 'verigate_fleet_staleness_seconds 0', 'not a member: 0');
  const stateDir = mkdtempSync(join(tmpdir(), 'vg-fleet-state-'));
  const fleet = createFleetEnforcement({ trust, stateDir, now: () => timers.now(), maxStalenessMs: 60_000, metrics });
  t.equal(trust.grants.fleetMode, true);
  t.equal(await gauge(), 'verigate_fleet_staleness_seconds +Inf', 'member, never heard');
  fleet.handlers.heartbeat(hb(T0));
  timers.advance(12_500);
  t.equal(await gauge(), 'verigate_fleet_staleness_seconds 12.5');
  t.match(gate(trust, 6, 1), { effect: 'deny', code: 'fleet-stale' });
  fleet.handlers.lock('L1', {
    id: 'L1',
    target: { kind: 'identity', value: HMI },
    by: BY,
    reason: 'r',
    createdAt: new Date(T0).toISOString(),
  });
  t.match(gate(trust, 3, 1), { effect: 'deny', code: 'locked', detail: 'L1' });
  fleet.handlers.reconcile({ locks: new Set(), grants: new Set(), heartbeatTime: T0 + 1000 });
  t.match(events.at(-1), { type: 'lock.removed', lockId: 'L1', source: 'fleet' });
  fleet.close();
  const again = new FleetStaleness({ file: join(stateDir, HEARTBEAT_FILE), now: () => timers.now() });
  again.load();
  t.equal(again.stalenessMs(), 12_500, 'close() persisted the newest heartbeat');
  t.match(gate(trust, 6, 1), { effect: 'allow' }, 'detached');
});
