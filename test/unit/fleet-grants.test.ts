/**
 * JIT grants from the fleet hub (gateway/fleet/fleet-grants.ts) through the real trust runtime: an active hub
 * grant is imported when it fits the local JIT rule and maxDuration (audited with `source: fleet`), refused and
 * audited when not; delete / `revoked` revoke; expiry is local (fake timers); resync revokes fleet grants gone
 * from the bucket; in fleet mode the local approve path accepts only `siteLocalApprovers`.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyText } from '../../gateway/policy/index.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession } from '../../gateway/trust/runtime-gate.js';
import { FleetGrants, parseGrant } from '../../gateway/fleet/fleet-grants.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const POLICY = loadPolicyText(
  `version: 1
trustDomain: td.example
rules:
  - id: maint
    principals: [spiffe://td.example/eng/*]
    devices: [plc-*]
    allow: [{ access: write, table: holding, addresses: 0-99 }]
    jit: { approvers: [spiffe://td.example/ops/*], maxDuration: 10m, siteLocalApprovers: [spiffe://td.example/site-a/lead] }
  - id: maint-hub-only
    principals: [spiffe://td.example/eng/*]
    devices: [plc-*]
    allow: [{ access: write, table: coils, addresses: 0-9 }]
    jit: { approvers: [spiffe://td.example/ops/*], maxDuration: 10m }
`,
  'policy.yaml',
);
const ENG = 'spiffe://td.example/eng/bob';
const T0 = Date.parse('2026-12-01T10:00:00Z');
const WRITE: ClassifiedRequest = {
  fc: 6,
  unit: 1,
  kind: 'write',
  reads: [],
  writes: [{ table: 'holding', start: 5, count: 1, values: [1] }],
};
const JIT_VERDICT = {
  effect: 'allow',
  ruleId: 'maint',
  reason: 'allowed',
  obligations: { jit: { ruleId: 'maint', approvers: [], maxDurationMs: 600_000, threshold: 1 } },
} as const;

function session(id: string): GateSession {
  return {
    id: `S-${id}`,
    peer: { id, role: null, notAfter: new Date(T0 + 3_600_000), fingerprint256: 'x' },
    readOnly: false,
    setReadOnly: () => undefined,
    end: () => undefined,
  };
}

function hubGrant(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    requester: ENG,
    ruleId: 'maint',
    device: 'plc-1',
    table: 'holding',
    start: 0,
    end: 9,
    access: 'write',
    durationMs: 300_000,
    reason: 'valve swap',
    status: 'active',
    approvals: ['spiffe://td.example/ops/carol'],
    requestedAt: new Date(T0 - 60_000).toISOString(),
    expiresAt: new Date(T0 + 300_000).toISOString(),
    ...extra,
  };
}

async function setup() {
  const timers = new FakeTimers(T0);
  const events: AuditEventInput[] = [];
  const trust = await TrustRuntime.open({
    dir: mkdtempSync(join(tmpdir(), 'vg-fleet-grants-')),
    policy: () => POLICY,
    sessions: { all: () => [], countFor: () => 0, endMatching: () => 0 },
    audit: { append: (e) => (events.push(e), { ok: true, seq: events.length }) },
    timers,
    tickMs: 1000,
  });
  t.teardown(() => trust.close());
  trust.grants.fleetMode = true;
  return { timers, events, trust, fleet: new FleetGrants({ grants: trust.grants }) };
}

t.test('an active hub grant that fits is imported, honoured and ends at its expiry locally', async (t) => {
  const { timers, events, trust, fleet } = await setup();
  t.match(trust.check(session(ENG), 'plc-1', WRITE, JIT_VERDICT, T0), { effect: 'deny', code: 'jit-required' });
  fleet.grant('G1', hubGrant('G1'));
  t.match(trust.check(session(ENG), 'plc-1', WRITE, JIT_VERDICT, T0), { effect: 'allow', grantId: 'G1' });
  t.match(events, [
    { type: 'jit.requested', grantId: 'G1', requester: ENG, ruleId: 'maint', devices: ['plc-1'], source: 'fleet' },
    { type: 'jit.approved', grantId: 'G1', approver: 'spiffe://td.example/ops/carol', source: 'fleet' },
  ]);
  fleet.grant('G1', hubGrant('G1'));
  t.equal(events.length, 2, 're-delivery of the same grant changes nothing');
  // the link is cut from here on: nothing more arrives, the local clock ends the grant
  timers.advance(299_000);
  t.match(trust.check(session(ENG), 'plc-1', WRITE, JIT_VERDICT, timers.now()), { effect: 'allow' });
  timers.advance(1_000);
  t.match(events.at(-1), { type: 'jit.expired', grantId: 'G1' });
  t.match(trust.check(session(ENG), 'plc-1', WRITE, JIT_VERDICT, timers.now()), {
    effect: 'deny',
    code: 'jit-required',
  });
  fleet.grant('G1', hubGrant('G1'));
  t.match(trust.grants.list(), [{ id: 'G1', status: 'expired' }], 'an expired grant is not brought back');
});

t.test('a hub grant that does not fit the local policy is refused and audited', async (t) => {
  const { events, trust, fleet } = await setup();
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['A', { ruleId: 'nope' }, /no JIT rule nope/],
    ['B', { requester: 'spiffe://td.example/ops/eve' }, /no JIT rule maint lets/],
    ['C', { device: 'hmi-1' }, /no JIT rule maint lets/],
    ['D', { end: 150 }, /not inside rule maint/],
    ['E', { expiresAt: new Date(T0 + 601_000).toISOString() }, /beyond rule maint's maxDuration/],
    ['F', { expiresAt: new Date(T0 - 1).toISOString() }, /already expired/],
    ['G', { expiresAt: undefined }, /no valid expiresAt/],
    ['H', { access: 'read-write' }, /not inside rule maint/],
  ];
  for (const [id, extra, why] of cases) {
    fleet.grant(id, hubGrant(id, extra));
    t.match(events.at(-1), { type: 'jit.denied', grantId: id, by: 'local-policy', reason: why, source: 'fleet' }, id);
  }
  t.same(trust.grants.list(), [], 'none imported');
  t.match(trust.check(session(ENG), 'plc-1', WRITE, JIT_VERDICT, T0), { effect: 'deny', code: 'jit-required' });
});

t.test('a hub delete, a revoked put and a resync revoke fleet grants; local grants stay', async (t) => {
  const { events, trust, fleet } = await setup();
  fleet.grant('G1', hubGrant('G1'));
  fleet.grant('G2', hubGrant('G2'));
  fleet.grant('G3', hubGrant('G3'));
  const local = trust.grants.request({
    requester: ENG,
    device: 'plc-1',
    table: 'holding',
    start: 0,
    end: 9,
    access: 'write',
    durationMs: 60_000,
    reason: 'local',
  });
  if (!local.ok) throw new Error(local.message);

  fleet.grant('G1', null);
  t.match(events.at(-1), { type: 'jit.revoked', grantId: 'G1', by: 'fleet', source: 'fleet' });
  fleet.grant('G2', hubGrant('G2', { status: 'revoked', closedReason: 'done early' }));
  t.match(events.at(-1), { type: 'jit.revoked', grantId: 'G2', reason: 'done early', source: 'fleet' });
  fleet.reconcile(new Set(['G2']));
  t.match(events.at(-1), { type: 'jit.revoked', grantId: 'G3', reason: /absent from the fleet bucket/ });
  fleet.grant(local.grant.id, null);
  t.match(
    trust.grants.list().find((g) => g.id === local.grant.id),
    { status: 'pending' },
    'a hub delete never touches a local grant',
  );
  t.match(trust.check(session(ENG), 'plc-1', WRITE, JIT_VERDICT, T0), { effect: 'deny', code: 'jit-required' });
});

t.test('a hub update of an active grant: the new version replaces it, or the old one ends', async (t) => {
  const { events, trust, fleet } = await setup();
  const write = (address: number) =>
    trust.check(
      session(ENG),
      'plc-1',
      { ...WRITE, writes: [{ table: 'holding', start: address, count: 1, values: [1] }] },
      JIT_VERDICT,
      T0,
    );
  fleet.grant('G1', hubGrant('G1'));
  t.match(write(5), { effect: 'allow', grantId: 'G1' });
  fleet.grant('G1', hubGrant('G1', { end: 4 })); // narrowed at the hub, same expiry
  t.match(write(5), { effect: 'deny', code: 'jit-required' }, 'the narrowed scope is in force');
  t.match(write(4), { effect: 'allow', grantId: 'G1' });
  t.match(events.at(-1), { type: 'jit.approved', grantId: 'G1', source: 'fleet' });

  const before = events.length;
  fleet.grant('G1', hubGrant('G1', { end: 150 })); // an update the local rule does not allow
  t.match(events.slice(before), [
    { type: 'jit.denied', grantId: 'G1', by: 'local-policy', reason: /not inside rule maint/, source: 'fleet' },
    { type: 'jit.revoked', grantId: 'G1', by: 'local-policy', reason: /update was refused/, source: 'fleet' },
  ]);
  t.match(write(4), { effect: 'deny', code: 'jit-required' }, 'the old version does not stay in force');

  fleet.grant('G2', hubGrant('G2'));
  fleet.grant('G2', hubGrant('G2', { status: 'revoked', start: 'zero' })); // malformed, whatever it meant
  t.match(events.at(-1), { type: 'jit.revoked', grantId: 'G2', by: 'fleet', reason: /unreadable grant entry/ });
  fleet.grant('G3', hubGrant('G3'));
  fleet.grant('G3', 'not json at all');
  t.match(events.at(-1), { type: 'jit.revoked', grantId: 'G3', reason: /not a JSON object/ });
  t.match(write(4), { effect: 'deny', code: 'jit-required' });
  t.same(
    trust.grants.list().map((g) => [g.id, g.status]),
    [
      ['G1', 'revoked'],
      ['G2', 'revoked'],
      ['G3', 'revoked'],
    ],
  );
});

t.test('fleet mode: the local approve path accepts only siteLocalApprovers', async (t) => {
  const { trust } = await setup();
  const ask = (table: 'holding' | 'coils') => {
    const r = trust.grants.request({
      requester: ENG,
      device: 'plc-1',
      table,
      start: 0,
      end: 1,
      access: 'write',
      durationMs: 60_000,
      reason: 'x',
      ruleId: table === 'holding' ? 'maint' : 'maint-hub-only',
    });
    if (!r.ok) throw new Error(r.message);
    return r.grant.id;
  };
  const g = ask('holding');
  t.match(trust.grants.approve(g, 'spiffe://td.example/ops/carol'), {
    ok: false,
    code: 'forbidden',
    message: /come from the fleet hub/,
  });
  t.match(trust.grants.approve(g, 'spiffe://td.example/site-a/lead'), { ok: true, grant: { status: 'active' } });
  const hubOnly = ask('coils');
  t.match(trust.grants.approve(hubOnly, 'spiffe://td.example/site-a/lead'), {
    ok: false,
    message: /maint-hub-only come from the fleet hub/,
  });
  trust.grants.fleetMode = false;
  t.match(trust.grants.approve(hubOnly, 'spiffe://td.example/ops/carol'), { ok: true }, 'standalone: approvers');
});

t.test('hostile grant values are skipped, never thrown', async (t) => {
  const { events, fleet } = await setup();
  const bad: unknown[] = [
    'x',
    [],
    hubGrant('OTHER'),
    hubGrant('G', { start: '0' }),
    hubGrant('G', { table: 'registers' }),
    hubGrant('G', { status: 'maybe' }),
    hubGrant('G', { approvals: [1] }),
    hubGrant('G', { requester: '' }),
  ];
  for (const v of bad) t.doesNotThrow(() => fleet.grant('G', v));
  t.same(events, []);
  t.match(parseGrant('G', hubGrant('G')), { id: 'G', status: 'active', approvals: ['spiffe://td.example/ops/carol'] });
});
