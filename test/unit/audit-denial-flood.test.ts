import t from 'tap';
import type { AuditEventInput, WriteResult } from '../../gateway/audit/audit-events.js';
import { DenialFloodGuard, type DenialFloodOptions, type HoldOff } from '../../gateway/audit/denial-flood-guard.js';
import { grantsAnything, startRateBoundedAudit, type RightsView } from '../../gateway/audit/rate-bounded-audit.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const OPTS: DenialFloodOptions = { denials: 100, withinMs: 10_000, holdOffMs: 60_000, maxHoldOffMs: 600_000 };
const ID = 'spiffe://plant.example/zero';

function guard(opts: Partial<DenialFloodOptions> = {}) {
  const holds: HoldOff[] = [];
  return { g: new DenialFloodGuard({ ...OPTS, ...opts }, (h) => holds.push(h)), holds };
}

t.test('a burst of more than `denials` trips once; denials during the hold-off do not trip again', async (t) => {
  const { g, holds } = guard();
  let now = 1_000_000;
  for (let i = 0; i < 100; i++) g.observe(ID, now);
  t.equal(holds.length, 0, 'exactly `denials` is not a flood');
  g.observe(ID, now);
  t.same(holds, [{ identity: ID, until: now + 60_000, holdMs: 60_000, strike: 1 }]);
  for (let i = 0; i < 500; i++) g.observe(ID, (now += 10));
  t.equal(holds.length, 1, 'queued denials of the held identity do not extend it');
});

t.test('a sustained rate below denials/within never trips; just above it does', async (t) => {
  const { g, holds } = guard();
  let now = 0;
  for (let i = 0; i < 5000; i++) g.observe(ID, (now += 111)); // 9 per second, for ~9 minutes
  t.equal(holds.length, 0, '9/s < 10/s');
  const other = 'spiffe://plant.example/busy';
  let tripped = -1;
  for (let i = 0; i < 5000 && tripped < 0; i++) {
    if (g.observe(other, (now += 90))) tripped = i; // ~11 per second
  }
  t.ok(tripped > 100, `11/s trips after a while (${tripped} denials)`);
});

t.test('repeat floods back off longer, bounded; a quiet identity starts again at holdOff', async (t) => {
  const { g, holds } = guard();
  let now = 0;
  const flood = (): void => {
    for (let i = 0; i <= 100; i++) g.observe(ID, now);
  };
  for (let k = 0; k < 6; k++) {
    flood();
    now = holds[holds.length - 1]!.until + 1_000; // the next flood right after the hold-off ends
  }
  t.same(
    holds.map((h) => h.holdMs),
    [60_000, 120_000, 240_000, 480_000, 600_000, 600_000],
    'doubling, capped at maxHoldOff',
  );
  t.same(
    holds.map((h) => h.strike),
    [1, 2, 3, 4, 5, 6],
  );
  now += OPTS.maxHoldOffMs; // quiet for maxHoldOff after the last hold-off
  flood();
  t.equal(holds[holds.length - 1]!.holdMs, 60_000, 'forgiven: back to holdOff');
});

t.test('memory is bounded by maxTracked', async (t) => {
  const { g, holds } = guard({ maxTracked: 3 });
  for (let i = 0; i < 1000; i++) g.observe(`spiffe://plant.example/w${i}`, 0);
  t.equal(holds.length, 0);
  t.ok((g as unknown as { buckets: Map<string, unknown> }).buckets.size <= 3);
});

t.test(
  'wiring: a flood becomes an expiring identity lock by verigate (reason denial-flood); a failed lock ends the sessions',
  async (t) => {
    const written: AuditEventInput[] = [];
    const log = {
      append: (e: AuditEventInput): WriteResult => (written.push(e), { ok: true, seq: written.length }),
      healthy: () => true,
      reserveReached: () => false,
      committed: () => Promise.resolve(true),
    };
    const locks: unknown[] = [];
    const ended: string[] = [];
    let lockOk = true;
    let now = Date.parse('2026-03-01T00:00:00Z');
    const policy: RightsView = {
      rules: [{ effect: 'allow', matchesPrincipal: (p) => p.id === 'spiffe://plant.example/hmi/1' }],
      admins: { lock: [{ matches: (id: string) => id === 'spiffe://plant.example/admin' }] },
    };
    const rb = startRateBoundedAudit({
      log,
      now: () => now,
      policy: () => policy,
      throttle: { intervalMs: 60_000, perKey: 5, perClass: 20, maxEventBytes: 1536, maxKeys: 100, summaryEntries: 8 },
      denialFlood: { denials: 10, withinMs: 1_000, holdOffMs: 5_000, maxHoldOffMs: 20_000 },
      lock: (target, by, reason, expiresAt) => (
        locks.push({ target, by, reason, expiresAt: expiresAt.toISOString() }),
        lockOk ? { ok: true } : { ok: false, message: 'store unreadable' }
      ),
      endSessions: (id, reason) => ended.push(`${id} ${reason}`),
      timers: new FakeTimers(), // never advanced: the summary check does not run in these tests
    });
    const deny = (identity: string): AuditEventInput => ({
      type: 'request.decision',
      identity,
      device: 'd',
      unit: 1,
      fc: 3,
      reads: [],
      writes: [],
      decision: 'deny',
      ruleId: null,
      reason: 'no-rule',
      outcome: 'denied',
      latencyMs: 0,
      policyVersion: 'v1',
    });
    for (let i = 0; i < 11; i++) rb.throttle.append(deny(ID));
    t.same(locks, [
      {
        target: { kind: 'identity', value: ID },
        by: 'verigate',
        reason: 'denial-flood',
        expiresAt: '2026-03-01T00:00:05.000Z',
      },
    ]);
    lockOk = false;
    now += 6_000;
    for (let i = 0; i < 11; i++) rb.throttle.append(deny(ID));
    t.equal(locks.length, 2);
    t.same(ended, [`${ID} denial-flood`], 'fallback when the lock store cannot take it');
    t.ok(grantsAnything(policy, { id: 'spiffe://plant.example/hmi/1', role: null }));
    t.ok(grantsAnything(policy, { id: 'spiffe://plant.example/admin', role: null }), 'an admin has rights');
    t.notOk(grantsAnything(policy, { id: ID, role: null }));
    rb.throttle.append({ type: 'session.open', session: 's1', identity: ID, peer: '1.2.3.4:5', transport: 'mbaps' });
    rb.throttle.close();
    const s = written.find((e) => e.type === 'audit.suppressed');
    t.ok(
      s !== undefined &&
        s.type === 'audit.suppressed' &&
        s.classes.some((c) => c.class === 'zero-right' && c.recorded === 1),
      'session of a zero-right identity is classed zero-right',
    );
  },
);

t.test('a wall clock stepped back (NTP) is not a flood: two denials never trip the hold-off', async (t) => {
  // The gateway's clock is Date.now: a backward step made the elapsed time negative and the leaky bucket
  // *gain* denials/withinMs per ms of the step, so one more denial locked out an operator's identity.
  const { g, holds } = guard();
  g.observe(ID, 1_000_000);
  t.equal(g.observe(ID, 1_000_000 - 60_000), null, 'the denial after a 60 s step back does not trip');
  t.same(holds, [], 'nobody held off');
  for (let i = 0; i < 100; i++) g.observe(ID, 1_000_000 - 60_000);
  t.equal(holds.length, 1, 'a real burst after the step still trips');
});
