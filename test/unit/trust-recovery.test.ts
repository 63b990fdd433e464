/**
 * Recovery from a trust downgrade is judged on every baseline of the identity (gateway/trust/identity-trust.ts):
 * a breach that one device's baseline caused must not be lifted by the housekeeping tick (no device) nor by a
 * request to another device while that device's anomaly goes on; and `trust.changed` names that device's signals.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify } from '../../protocols/modbus/index.js';
import { compilePolicyText, evaluate } from '../../gateway/policy/index.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession, SessionView } from '../../gateway/trust/runtime-gate.js';

const TD = 'spiffe://plant.example';
const HMI = { id: `${TD}/hmi/line1`, role: null };
const rd = (a: number) => classify({ type: 'read-registers', fc: 3, address: a, quantity: 1 }, 1);
const wr = (a: number, v: number) => classify({ type: 'write-single-register', fc: 6, address: a, value: v }, 1);
const policy = compilePolicyText(
  `version: 1
trustDomain: plant.example
trust: { threshold: 0.85, onBreach: read-only }
rules:
  - id: r
    principals: [${TD}/hmi/line1]
    devices: [dev-a, dev-b]
    allow: [{ access: read-write, table: holding, addresses: 0-199 }]
`,
  'p.yaml',
);

function session(): GateSession {
  const s = {
    id: 's',
    peer: { ...HMI, notAfter: new Date(Date.parse('2027-01-01T00:00:00Z')), fingerprint256: 'x' },
    readOnly: false,
    setReadOnly(ro: boolean) {
      s.readOnly = ro;
    },
    end() {},
  };
  return s;
}

/** 40 s of habit (dev-a 100 req/s, dev-b 1 req/s), then a 200 req/s burst on dev-b, judged by `judge` each second. */
async function burstOnDevB(
  t: Test,
  judge: (rt: TrustRuntime, s: GateSession, now: number) => void,
): Promise<{
  rt: TrustRuntime;
  s: GateSession;
  events: AuditEventInput[];
  clock: { now: number };
  normalAgainAt: number;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-trust-recovery-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = { now: Date.parse('2026-03-04T10:00:00Z') };
  const s = session();
  const sessions: SessionView = { all: () => [s], countFor: () => 1, endMatching: () => 0 };
  const events: AuditEventInput[] = [];
  const audit = { append: (e: AuditEventInput) => (events.push(e), { ok: true as const, seq: events.length }) };
  const rt = await TrustRuntime.open({ dir, policy: () => policy, sessions, audit, now: () => clock.now, tickMs: 0 });
  for (let sec = 0; sec < 40; sec++) {
    const now = (clock.now += 1000);
    for (let i = 0; i < 100; i++) rt.observe(s, 'dev-a', rd(i % 8), false, now);
    rt.observe(s, 'dev-b', rd(0), false, now);
  }
  t.equal(rt.trustOf(HMI.id).state, 'normal', 'the habit is normal');
  let normalAgainAt = -1;
  for (let sec = 0; sec < 70 && normalAgainAt < 0; sec++) {
    const now = (clock.now += 1000);
    for (let i = 0; i < 200; i++) rt.observe(s, 'dev-b', rd(0), false, now);
    const before = rt.trustOf(HMI.id).state;
    judge(rt, s, now);
    if (before !== 'normal' && rt.trustOf(HMI.id).state === 'normal') normalAgainAt = sec;
  }
  return { rt, s, events, clock, normalAgainAt };
}

t.test('the housekeeping tick does not lift a breach dev-b caused while the dev-b burst goes on', async (t) => {
  const { rt, s, events, clock, normalAgainAt } = await burstOnDevB(t, (rt) => rt.tick());
  const now = clock.now;
  t.equal(normalAgainAt, -1, 'still downgraded after 70 s of burst');
  t.equal(rt.trustOf(HMI.id).state, 'read-only');
  const w = wr(5, 1);
  t.match(rt.check(s, 'dev-b', w, evaluate(policy, HMI, 'dev-b', w, new Date(now)), now), {
    effect: 'deny',
    code: 'trust-read-only',
  });
  const changed = events.filter((e) => e.type === 'trust.changed');
  t.equal(changed.length, 1, 'one downgrade, no recovery');
  t.match(changed[0], { state: 'read-only', reasons: [/@dev-b$/] }, 'the downgrade names dev-b’s signals');
});

t.test('a request to another device does not lift a breach dev-b caused', async (t) => {
  const { normalAgainAt } = await burstOnDevB(t, (rt, s, now) => rt.observe(s, 'dev-a', rd(0), false, now));
  t.equal(normalAgainAt, -1, 'still downgraded after 70 s of burst');
});

t.test('once the burst stops, the tick recovers it (audited)', async (t) => {
  const { rt, events, clock } = await burstOnDevB(t, (rt) => rt.tick());
  let quietFor = 0;
  for (; quietFor < 300 && rt.trustOf(HMI.id).state !== 'normal'; quietFor++) {
    clock.now += 1000;
    rt.tick();
  }
  t.equal(rt.trustOf(HMI.id).state, 'normal', `recovered after ${quietFor} quiet s`);
  t.ok(
    quietFor >= 30 && quietFor <= 180,
    'the decayed dev-b signals end the breach by themselves (docs/zero-trust.md)',
  );
  const changed = events.filter((e) => e.type === 'trust.changed');
  t.match(changed, [{ state: 'read-only' }, { state: 'normal' }]);
});
