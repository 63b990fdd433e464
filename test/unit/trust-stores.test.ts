import t from 'tap';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicyText } from '../../gateway/policy/index.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import { nullLogger } from '../../gateway/logger.js';
import { readDurableJson, writeDurableJson } from '../../gateway/trust/durable-json.js';
import type { GateSession, SessionView } from '../../gateway/trust/runtime-gate.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';

const POLICY = `version: 1
trustDomain: td.example
admins: [spiffe://td.example/ops/**]
rules:
  - id: maint
    principals: [spiffe://td.example/eng/*]
    devices: [plc-*]
    allow: [{ access: write, table: holding, addresses: 0-99 }]
    jit: { approvers: [spiffe://td.example/ops/*], maxDuration: 5m, threshold: 2 }
  - id: fast
    principals: [spiffe://td.example/poller]
    devices: [plc-1]
    allow: [{ access: read, table: holding, addresses: 0-9 }]
    rate: 2/s
session: { maxPerIdentity: 1 }
`;
const policy = loadPolicyText(POLICY, 'policy.yaml');
const ENG = 'spiffe://td.example/eng/bob';
const w: ClassifiedRequest = {
  fc: 6,
  unit: 1,
  kind: 'write',
  reads: [],
  writes: [{ table: 'holding', start: 5, count: 1, values: [1] }],
};

function fakeSessions(list: GateSession[]): SessionView {
  return {
    all: () => list,
    countFor: (id) => list.filter((s) => s.peer.id === id).length,
    endMatching: (p, reason) => list.filter((s) => p(s)).map((s) => s.end(reason)).length,
  };
}
function session(id: string): GateSession & { ended: string | null } {
  const s = {
    id: 'S-' + id,
    peer: { id, role: null, notAfter: new Date(Date.now() + 3_600_000), fingerprint256: 'x' },
    readOnly: false,
    ended: null as string | null,
    setReadOnly(ro: boolean) {
      s.readOnly = ro;
    },
    end(r: string) {
      s.ended = r;
    },
  };
  return s;
}

t.test('JIT with a threshold of two distinct approvers, durable across restarts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-trust-'));
  const events: AuditEventInput[] = [];
  let now = 1_000_000;
  const open = (): Promise<TrustRuntime> =>
    TrustRuntime.open({
      dir,
      policy: () => policy,
      sessions: fakeSessions([]),
      audit: { append: (e) => (events.push(e), { ok: true, seq: events.length }) },
      now: () => now,
      tickMs: 0,
    });
  const rt = await open();
  const r = rt.grants.request({
    requester: ENG,
    device: 'plc-7',
    table: 'holding',
    start: 0,
    end: 9,
    access: 'write',
    durationMs: 60_000,
    reason: 'valve swap',
  });
  if (!r.ok) throw new Error(r.message);
  t.match(
    rt.grants.request({
      requester: ENG,
      device: 'plc-7',
      table: 'holding',
      start: 0,
      end: 9,
      access: 'write',
      durationMs: 60_000,
      reason: ' ',
    }),
    { ok: false, code: 'invalid' },
    'reason is mandatory',
  );
  t.match(
    rt.grants.request({
      requester: ENG,
      device: 'plc-7',
      table: 'holding',
      start: 0,
      end: 150,
      access: 'write',
      durationMs: 60_000,
      reason: 'x',
    }),
    { ok: false, code: 'forbidden' },
    'scope wider than the rule allows',
  );
  t.match(
    rt.grants.request({
      requester: 'spiffe://td.example/poller',
      device: 'plc-7',
      table: 'holding',
      start: 0,
      end: 9,
      access: 'write',
      durationMs: 1000,
      reason: 'x',
    }),
    { ok: false, code: 'forbidden' },
  );
  t.match(
    rt.grants.approve(r.grant.id, 'spiffe://td.example/ops/ann'),
    { ok: true, grant: { status: 'pending' } },
    'one of two',
  );
  t.match(
    rt.grants.approve(r.grant.id, 'spiffe://td.example/ops/ann'),
    { ok: false, code: 'conflict' },
    'same approver twice',
  );
  const verdict = {
    effect: 'allow' as const,
    ruleId: 'maint',
    reason: 'allowed',
    obligations: { jit: { ruleId: 'maint', approvers: [], maxDurationMs: 300_000, threshold: 2 } },
  };
  const s = session(ENG);
  t.match(rt.check(s, 'plc-7', w, verdict, now), { effect: 'deny', code: 'jit-required', detail: 'maint' });
  rt.close();
  const rt2 = await open();
  t.match(
    rt2.grants.approve(r.grant.id, 'spiffe://td.example/ops/cid'),
    { ok: true, grant: { status: 'active' } },
    'survived a restart; second approver activates',
  );
  t.match(rt2.check(s, 'plc-7', w, verdict, now), { effect: 'allow', grantId: r.grant.id });
  t.match(rt2.check(s, 'plc-8', w, verdict, now), { effect: 'deny' }, 'grant is for plc-7 only');
  const lock = rt2.lock({ kind: 'grant', value: r.grant.id }, 'spiffe://td.example/ops/ann', 'suspicious');
  t.ok(lock.ok);
  t.match(rt2.check(s, 'plc-7', w, verdict, now), { effect: 'deny', code: 'grant-locked', detail: r.grant.id });
  if (lock.ok) rt2.locks.remove(lock.lock.id, 'spiffe://td.example/ops/ann');
  now += 60_001;
  rt2.tick();
  t.equal(rt2.grants.list()[0]?.status, 'expired');
  t.ok(events.some((e) => e.type === 'jit.expired'));
  t.same(
    events.map((e) => e.type).filter((x) => x.startsWith('jit.')),
    ['jit.requested', 'jit.approved', 'jit.expired'],
  );
  const stale = rt2.grants.request({
    requester: ENG,
    device: 'plc-7',
    table: 'holding',
    start: 0,
    end: 9,
    access: 'write',
    durationMs: 60_000,
    reason: 'later',
  });
  if (!stale.ok) throw new Error(stale.message);
  now += 60 * 60_000;
  rt2.tick();
  t.match(
    rt2.grants.approve(stale.grant.id, 'spiffe://td.example/ops/ann'),
    { ok: false, code: 'not-found' },
    'an undecided request lapses after an hour',
  );
  rt2.close();
});

t.test('rate obligations, session limits and locks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-trust-'));
  const live = [session('spiffe://td.example/poller'), session(ENG)];
  const rt = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions: fakeSessions(live),
    audit: { append: () => ({ ok: true, seq: 1 }) },
    tickMs: 0,
  });
  t.teardown(() => rt.close());
  const rd: ClassifiedRequest = {
    fc: 3,
    unit: 1,
    kind: 'read',
    reads: [{ table: 'holding', start: 0, count: 1 }],
    writes: [],
  };
  const v = {
    effect: 'allow' as const,
    ruleId: 'fast',
    reason: 'allowed',
    obligations: { rate: { ruleId: 'fast', perSecond: 2 } },
  };
  const results = [0, 1, 2].map(() => rt.check(live[0]!, 'plc-1', rd, v, 5000).effect);
  t.same(results, ['allow', 'allow', 'deny'], 'bucket of one second');
  t.equal(rt.check(live[0]!, 'plc-1', rd, v, 5600).effect, 'allow', 'refilled');
  t.match(rt.admit(live[0]!.peer, 0), { ok: false, code: 'too-many-sessions', detail: '' }, 'maxPerIdentity: 1');
  const l = rt.lock(
    { kind: 'identity', value: 'spiffe://td.example/eng/*' },
    'spiffe://td.example/ops/ann',
    'incident',
  );
  t.ok(l.ok);
  t.equal(live[1]!.ended, 'locked', 'live session of the pattern ended');
  t.equal(live[0]!.ended, null, 'others untouched');
  t.match(rt.admit({ id: ENG, role: null, notAfter: new Date(), fingerprint256: '' }, 0), {
    ok: false,
    code: 'locked',
    detail: l.ok ? l.lock.id : 'no lock',
  });
});

t.test('an unreadable lock store fails closed by default, best-effort when configured', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-trust-'));
  writeFileSync(join(dir, 'locks.json'), '{ torn');
  const errors: string[] = [];
  const logger = { ...nullLogger, error: (_o: object, m?: string) => errors.push(m ?? '') };
  const closed = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions: fakeSessions([]),
    audit: { append: () => ({ ok: true, seq: 1 }) },
    tickMs: 0,
    logger,
  });
  t.match(closed.admit({ id: ENG, role: null, notAfter: new Date(), fingerprint256: '' }, 0), {
    ok: false,
    code: 'lock-store-unavailable',
    detail: '',
  });
  t.match(
    closed.lock({ kind: 'identity', value: ENG }, 'spiffe://td.example/ops/ann', 'x'),
    { ok: false },
    'no write over the unreadable store',
  );
  t.equal(readFileSync(join(dir, 'locks.json'), 'utf8'), '{ torn', 'the unreadable store is untouched');
  t.match(errors[0], /failing closed/);
  closed.close();
  const open = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions: fakeSessions([]),
    audit: { append: () => ({ ok: true, seq: 1 }) },
    tickMs: 0,
    logger,
    lockStoreFailure: 'best-effort',
  });
  t.match(open.admit({ id: ENG, role: null, notAfter: new Date(), fingerprint256: '' }, 0), { ok: true });
  t.ok(
    readdirSync(dir).some((f) => f.startsWith('locks.json.unreadable-')),
    'best-effort keeps the bad file aside',
  );
  open.close();
});

t.test('durable JSON distinguishes absent from unreadable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-durable-'));
  t.same(readDurableJson(join(dir, 'x.json')), { kind: 'absent' });
  writeDurableJson(join(dir, 'x.json'), { a: 1 });
  t.same(readDurableJson(join(dir, 'x.json')), { kind: 'ok', value: { a: 1 } });
  writeFileSync(join(dir, 'x.json'), '{');
  t.equal(readDurableJson(join(dir, 'x.json')).kind, 'unreadable');
});

t.test(
  'an expiring lock leaves with its lock.removed event at the next housekeeping tick, not when next listed',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-trust-'));
    const events: AuditEventInput[] = [];
    let now = 1_000_000;
    const rt = await TrustRuntime.open({
      dir,
      policy: () => policy,
      sessions: fakeSessions([]),
      audit: { append: (e) => (events.push(e), { ok: true, seq: events.length }) },
      now: () => now,
      tickMs: 0,
    });
    const r = rt.locks.create({ kind: 'identity', value: ENG }, 'verigate', 'denial-flood', new Date(now + 60_000));
    if (!r.ok) throw new Error(r.message);
    now += 30_000;
    rt.tick();
    t.equal(events.filter((e) => e.type === 'lock.removed').length, 0, 'still live');
    now += 30_001;
    rt.tick();
    t.match(
      events.filter((e) => e.type === 'lock.removed'),
      [{ lockId: r.lock.id, reason: 'expired' }],
      'removed by the tick',
    );
    rt.tick();
    t.equal(events.filter((e) => e.type === 'lock.removed').length, 1, 'once');
    rt.close();
  },
);
