/**
 * Locks from the fleet hub (gateway/fleet/fleet-locks.ts) through the real trust runtime: a put ends matching
 * sessions at once and refuses new requests and sessions, audited `lock.created` with `source: fleet` and the
 * hub's id/by/reason/expiry; idempotent re-delivery; delete and resync remove only fleet locks; the store is
 * durable (a restart while cut off still enforces); hostile values are skipped. Clock: fake timers.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyText } from '../../gateway/policy/index.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession, SessionView } from '../../gateway/trust/runtime-gate.js';
import { FleetLocks, parseLock } from '../../gateway/fleet/fleet-locks.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const POLICY = loadPolicyText(
  `version: 1
trustDomain: td.example
rules:
  - id: rw
    principals: [spiffe://td.example/**]
    devices: [plc-*]
    allow: [{ access: read-write, table: holding, addresses: 0-99 }]
`,
  'policy.yaml',
);
const HMI = 'spiffe://td.example/hmi/1';
const OTHER = 'spiffe://td.example/hmi/2';
const READ: ClassifiedRequest = {
  fc: 3,
  unit: 1,
  kind: 'read',
  reads: [{ table: 'holding', start: 0, count: 1 }],
  writes: [],
};
const ALLOW = { effect: 'allow', ruleId: 'rw', reason: 'allowed' } as const;

interface TestSession extends GateSession {
  ended: string | null;
}
function session(id: string): TestSession {
  const s: TestSession = {
    id: `S-${id}`,
    peer: { id, role: null, notAfter: new Date(Date.now() + 3_600_000), fingerprint256: 'x' },
    readOnly: false,
    ended: null,
    setReadOnly: () => undefined,
    end(r: string) {
      s.ended = r;
    },
  };
  return s;
}
function sessionView(list: TestSession[]): SessionView {
  return {
    all: () => list.filter((s) => s.ended === null),
    countFor: (id) => list.filter((s) => s.peer.id === id && s.ended === null).length,
    endMatching: (p, reason) => list.filter((s) => s.ended === null && p(s)).map((s) => s.end(reason)).length,
  };
}

function hubLock(id: string, value: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    target: { kind: 'identity', value },
    by: 'spiffe://td.example/soc/alice',
    reason: 'incident 42',
    createdAt: '2026-12-01T10:00:00.000Z',
    ...extra,
  };
}

async function setup(
  dir = mkdtempSync(join(tmpdir(), 'vg-fleet-locks-')),
  timers = new FakeTimers(Date.parse('2026-12-01T10:00:01Z')),
) {
  const events: AuditEventInput[] = [];
  const sessions = [session(HMI), session(OTHER)];
  const trust = await TrustRuntime.open({
    dir,
    policy: () => POLICY,
    sessions: sessionView(sessions),
    audit: { append: (e) => (events.push(e), { ok: true, seq: events.length }) },
    timers,
    tickMs: 0,
  });
  return { dir, timers, events, sessions, trust, fleet: new FleetLocks({ trust }) };
}

t.test('a hub lock ends matching sessions at once, refuses new ones, audited with source fleet', async (t) => {
  const { events, sessions, trust, fleet } = await setup();
  fleet.lock('L1', hubLock('L1', HMI, { expiresAt: '2026-12-01T11:00:00.000Z' }));
  t.equal(sessions[0]?.ended, 'locked', 'the locked identity is cut off in the same turn');
  t.equal(sessions[1]?.ended, null, 'others stay');
  t.match(trust.admit({ id: HMI, role: null, notAfter: new Date(), fingerprint256: 'x' }, 0), {
    ok: false,
    code: 'locked',
    detail: 'L1',
  });
  t.match(trust.check(session(HMI), 'plc-1', READ, ALLOW, 0), { effect: 'deny', code: 'locked', detail: 'L1' });
  t.same(events, [
    {
      type: 'lock.created',
      lockId: 'L1',
      target: { kind: 'identity', value: HMI },
      by: 'spiffe://td.example/soc/alice',
      reason: 'incident 42',
      expiresAt: '2026-12-01T11:00:00.000Z',
      source: 'fleet',
    },
  ]);
  t.match(trust.locks.list(), [{ id: 'L1', source: 'fleet', createdAt: '2026-12-01T10:00:00.000Z' }]);

  fleet.lock('L1', hubLock('L1', HMI, { expiresAt: '2026-12-01T11:00:00.000Z' }));
  t.equal(events.length, 1, 're-delivery of the same lock changes nothing');

  fleet.lock('L1', null);
  t.same(events[1], { type: 'lock.removed', lockId: 'L1', by: 'fleet', source: 'fleet' });
  t.same(trust.locks.list(), []);
  t.match(trust.check(session(HMI), 'plc-1', READ, ALLOW, 0), { effect: 'allow' });
});

t.test('resync removes fleet locks missing from the bucket and keeps local ones', async (t) => {
  const { events, trust, fleet } = await setup();
  const local = trust.lock({ kind: 'device', value: 'plc-9' }, 'spiffe://td.example/ops/bob', 'local work');
  if (!local.ok) throw new Error(local.message);
  fleet.lock('L1', hubLock('L1', HMI));
  fleet.lock('L2', hubLock('L2', OTHER));
  fleet.reconcile(new Set(['L2']), Date.parse('2026-12-01T10:00:02Z')); // a heartbeat after both locks' createdAt
  t.same(
    trust.locks
      .list()
      .map((l) => l.id)
      .sort(),
    [local.lock.id, 'L2'].sort(),
  );
  t.match(events.at(-1), { type: 'lock.removed', lockId: 'L1', source: 'fleet' });
  fleet.lock(local.lock.id, null);
  t.ok(
    trust.locks.list().some((l) => l.id === local.lock.id),
    'a hub delete never removes a lock made through the local admin API',
  );
});

t.test('a hub key with the id of a local lock never turns it into a fleet lock', async (t) => {
  const { events, sessions, trust, fleet } = await setup();
  const local = trust.lock({ kind: 'device', value: 'plc-9' }, 'spiffe://td.example/ops/bob', 'local work');
  if (!local.ok) throw new Error(local.message);
  const n = events.length;
  fleet.lock(local.lock.id, hubLock(local.lock.id, OTHER));
  t.same(trust.locks.list(), [local.lock], 'the local lock unchanged: no source, its own target');
  t.equal(events.length, n, 'nothing audited as applied');
  t.equal(sessions[1]?.ended, null);
  fleet.lock(local.lock.id, null);
  t.same(trust.locks.list(), [local.lock], 'so a later hub delete cannot remove it');
});

t.test('a lock store that cannot be written: the lock still ends sessions and is audited', async (t) => {
  const { dir, events, sessions, trust } = await setup();
  const errors: string[] = [];
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: (_o: object, msg?: string) => void errors.push(msg ?? ''),
  };
  const fleet = new FleetLocks({ trust, logger });
  mkdirSync(join(dir, `locks.json.${process.pid}.tmp`)); // the atomic write's temp file cannot be created
  fleet.lock('L1', hubLock('L1', HMI));
  t.equal(sessions[0]?.ended, 'locked', 'matching sessions end all the same');
  t.match(events, [{ type: 'lock.created', lockId: 'L1', source: 'fleet' }]);
  t.match(trust.check(session(HMI), 'plc-1', READ, ALLOW, 0), { effect: 'deny', code: 'locked' });
  t.match(errors, [/not stored durably/], 'the store failure is reported');
});

t.test('fleet locks are durable: a gateway restarted while cut off still enforces them', async (t) => {
  const first = await setup();
  first.fleet.lock('L1', hubLock('L1', HMI));
  first.trust.close();
  const again = await setup(first.dir, first.timers);
  t.match(again.trust.locks.list(), [{ id: 'L1', source: 'fleet' }]);
  t.match(again.trust.check(session(HMI), 'plc-1', READ, ALLOW, 0), { effect: 'deny', code: 'locked' });
});

t.test('an expired hub lock is not applied; one expiring later leaves with lock.removed (expired)', async (t) => {
  const { events, timers, trust, fleet } = await setup();
  fleet.lock('OLD', hubLock('OLD', HMI, { expiresAt: '2026-12-01T09:00:00.000Z' }));
  t.same(trust.locks.list(), [], 'already past its expiry');
  fleet.lock('L1', hubLock('L1', HMI, { expiresAt: '2026-12-01T10:00:31.000Z' }));
  timers.advance(29_000);
  t.match(trust.check(session(HMI), 'plc-1', READ, ALLOW, 0), { effect: 'deny', code: 'locked' });
  timers.advance(1_000);
  trust.tick();
  t.match(events.at(-1), { type: 'lock.removed', lockId: 'L1', reason: 'expired' });
  t.match(trust.check(session(HMI), 'plc-1', READ, ALLOW, 0), { effect: 'allow' });
});

t.test('hostile bucket values are skipped, never thrown', async (t) => {
  const { events, trust, fleet } = await setup();
  const bad: unknown[] = [
    'not json',
    42,
    [],
    hubLock('OTHER-ID', HMI),
    { ...hubLock('L1', HMI), target: { kind: 'planet', value: 'x' } },
    { ...hubLock('L1', HMI), target: { kind: 'identity', value: 'http://not-spiffe' } },
    { ...hubLock('L1', HMI), reason: '  ' },
    { ...hubLock('L1', HMI), createdAt: 'yesterday' },
    { ...hubLock('L1', HMI), expiresAt: 7 },
  ];
  for (const v of bad) t.doesNotThrow(() => fleet.lock('L1', v));
  t.same(trust.locks.list(), []);
  t.same(events, []);
  t.match(parseLock('L1', hubLock('L1', HMI)), { id: 'L1', target: { kind: 'identity', value: HMI } });
  t.equal(parseLock('L1', { ...hubLock('L1', HMI), by: '' }), 'no by');
});
