/**
 * The gRPC admin plane against a real gateway: authorization by the policy's `admins:` (and the JIT rule's
 * principals/approvers), sessions list/kill, a lock ending a live gRPC session, the JIT lifecycle on one
 * channel (request → approve by another identity → write allowed → revoke → next write denied), reload.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { VerigateClient } from '../../gateway/cli/admin-client.js';
import type {
  GrantMessage,
  ListGrantsResponse,
  ListLocksResponse,
  ListSessionsResponse,
  LockMessage,
  ReloadPolicyResponse,
  WatchUpdate,
} from '../../gateway/frontdoor/grpc-proto.js';
import { ENG, HMI, LEAD, STRANGER, basePolicy, startHarness, value } from '../helpers/grpc-harness.js';
import { when } from '../helpers/when.js';

const h = await startHarness();
t.teardown(() => h.stop());
const lead = await h.client('Admin', LEAD);
const dev = 'turbine-1';

const codeOf = (r: { ok: boolean; code?: number }): number => (r.ok ? -1 : (r.code ?? -1));

function watchEnd(client: VerigateClient): { first: Promise<WatchUpdate>; end: Promise<grpc.ServiceError | null> } {
  const stream = (client.raw as unknown as { Watch(r: object): grpc.ClientReadableStream<WatchUpdate> }).Watch({
    device: dev,
    table: 'INPUT_REGISTERS',
    address: 0,
    count: 1,
    intervalMs: 100,
  });
  const first = new Promise<WatchUpdate>((resolve) => stream.once('data', resolve));
  const end = new Promise<grpc.ServiceError | null>((resolve) => {
    stream.on('error', resolve);
    stream.on('end', () => resolve(null));
  });
  return { first, end };
}

t.test('a non-admin identity is refused every admin operation', async (t) => {
  const hmiAdmin = await h.client('Admin', HMI);
  for (const [method, req] of [
    ['ListSessions', {}],
    ['KillSession', { spiffeId: ENG }],
    ['ListLocks', {}],
    ['CreateLock', { kind: 'device', value: dev, reason: 'x' }],
    ['RemoveLock', { lockId: 'x' }],
    ['ReloadPolicy', {}],
    ['ListGrants', {}],
  ] as const) {
    const r = await hmiAdmin.call(method, req);
    t.equal(codeOf(r), grpc.status.PERMISSION_DENIED, method);
  }
  t.equal(h.gw.trust.locks.list().length, 0, 'no lock was created');
});

t.test('sessions list shows live gRPC sessions with trust; kill by id and by identity', async (t) => {
  const hmi = await h.client('Modbus', HMI);
  value(await hmi.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 }));
  const list = value(await lead.call<ListSessionsResponse>('ListSessions', {}));
  const s = list.sessions.find((x) => x.spiffeId === HMI && x.transport === 'grpc' && x.requests > 0);
  t.ok(s, 'the hmi gRPC session is listed');
  if (!s) return;
  t.equal(s.trustState, 'normal');
  t.ok(s.trustScore > 0 && s.trustScore <= 1, 'trust score in (0,1]');
  t.equal(s.devices[dev], 1);
  t.ok(
    list.sessions.some((x) => x.spiffeId === LEAD),
    "the caller's own session too",
  );

  const w = watchEnd(hmi);
  await w.first;
  t.same(value(await lead.call('KillSession', { sessionId: s.id, reason: 'test' })), { ended: 1 });
  t.ok(await w.end, 'the live Watch on that session ends with an error');
  await when(h.gw.sessions, 'removed', () => h.gw.sessions.get(s.id) === undefined); // the server saw the close
  t.equal(
    codeOf(await lead.call('KillSession', { sessionId: s.id })),
    grpc.status.NOT_FOUND,
    'a dead session is not found',
  );
  t.equal(codeOf(await lead.call('KillSession', {})), grpc.status.INVALID_ARGUMENT, 'neither id nor identity');

  const eng = await h.client('Modbus', ENG);
  value(await eng.call('ReadCoils', { device: dev, address: 0, count: 1 }));
  t.same(value(await lead.call('KillSession', { spiffeId: ENG })), { ended: 1 }, 'every session of an identity');
  await when(h.gw.sessions, 'removed', () => h.gw.sessions.countFor(ENG) === 0);
});

t.test('a lock ends a live gRPC session at once and refuses new ones until removed', async (t) => {
  const hmi = await h.client('Modbus', HMI);
  const w = watchEnd(hmi);
  await w.first;
  const lock = value(
    await lead.call<LockMessage>('CreateLock', {
      kind: 'identity',
      value: HMI,
      reason: 'suspicious writes',
      ttlS: 600,
    }),
  );
  t.ok(lock.sessionsEnded >= 1, 'the live session was ended');
  t.equal(lock.by, LEAD);
  t.ok(lock.expiresAt, 'ttl gives an expiry');
  const e = await w.end;
  t.ok(e, 'the Watch ended with an error');
  await when(h.gw.sessions, 'removed', () => h.gw.sessions.countFor(HMI) === 0);
  const fresh = await h.client('Modbus', HMI);
  t.equal(
    codeOf(await fresh.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 }, 3000)),
    grpc.status.UNAVAILABLE,
    'a locked identity gets no session',
  );
  t.equal(h.gw.sessions.countFor(HMI), 0);
  const locks = value(await lead.call<ListLocksResponse>('ListLocks', {}));
  t.same(
    locks.locks.map((l) => l.id),
    [lock.id],
  );
  t.equal(
    codeOf(await lead.call('CreateLock', { kind: 'planet', value: 'x', reason: 'r' })),
    grpc.status.INVALID_ARGUMENT,
    'bad kind',
  );
  t.equal(
    codeOf(await lead.call('CreateLock', { kind: 'device', value: dev, reason: '' })),
    grpc.status.INVALID_ARGUMENT,
    'reason mandatory',
  );
  t.same(value(await lead.call('RemoveLock', { lockId: lock.id })), { removed: true });
  t.equal(codeOf(await lead.call('RemoveLock', { lockId: lock.id })), grpc.status.NOT_FOUND, 'already removed');
  const again = await h.client('Modbus', HMI);
  t.ok(
    (await again.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 })).ok,
    'admitted again after removal',
  );
});

t.test(
  'JIT: request → approve by another identity → write allowed → revoke → next write denied, same channel',
  async (t) => {
    const eng = await h.client('Modbus', ENG);
    const engAdmin = await h.client('Admin', ENG);
    const hmiAdmin = await h.client('Admin', HMI);
    const write = () => eng.call('WriteRegisters', { device: dev, address: 5, values: [77] });

    const before = await write();
    t.equal(codeOf(before), grpc.status.PERMISSION_DENIED);
    t.match(before.ok ? '' : before.metadata['verigate-reason'], /^jit-required eng-maintenance/);
    t.equal(before.ok ? '' : before.metadata['verigate-rule-id'], 'eng-maintenance');

    const req = {
      device: dev,
      table: 'HOLDING_REGISTERS',
      start: 0,
      end: 9,
      access: 'write',
      durationS: 120,
      reason: 'replace sensor',
    };
    t.equal(
      codeOf(await hmiAdmin.call('RequestGrant', req)),
      grpc.status.PERMISSION_DENIED,
      'no JIT rule names the hmi',
    );
    t.equal(
      codeOf(await engAdmin.call('RequestGrant', { ...req, reason: '' })),
      grpc.status.INVALID_ARGUMENT,
      'reason mandatory',
    );
    t.equal(
      codeOf(await engAdmin.call('RequestGrant', { ...req, durationS: 3600 })),
      grpc.status.INVALID_ARGUMENT,
      'longer than maxDuration',
    );
    const g = value(await engAdmin.call<GrantMessage>('RequestGrant', req));
    t.equal(g.status, 'pending');
    t.equal(g.requester, ENG, 'the requester is the verified caller');
    t.equal(g.ruleId, 'eng-maintenance');

    t.equal(
      codeOf(await engAdmin.call('ApproveGrant', { grantId: g.id })),
      grpc.status.PERMISSION_DENIED,
      'no self-approval',
    );
    t.equal(
      codeOf(await hmiAdmin.call('ApproveGrant', { grantId: g.id })),
      grpc.status.PERMISSION_DENIED,
      'not an approver',
    );
    t.equal(
      codeOf(await hmiAdmin.call('DenyGrant', { grantId: g.id })),
      grpc.status.PERMISSION_DENIED,
      'not an approver may not deny',
    );
    t.equal(codeOf(await write()), grpc.status.PERMISSION_DENIED, 'still denied while pending');

    const approved = value(await lead.call<GrantMessage>('ApproveGrant', { grantId: g.id }));
    t.equal(approved.status, 'active');
    t.same(approved.approvals, [LEAD]);
    t.ok(approved.expiresAt);
    t.same(value(await write()), { address: 5, count: 1 }, 'write allowed under the grant');
    t.same(h.sim.store(255).snapshot('holding', 5, 1), [77]);
    const out = await eng.call('WriteRegisters', { device: dev, address: 50, values: [1] });
    t.equal(codeOf(out), grpc.status.PERMISSION_DENIED, 'outside the granted range');

    const listed = value(await lead.call<ListGrantsResponse>('ListGrants', {}));
    t.ok(
      listed.grants.some((x) => x.id === g.id && x.status === 'active'),
      'grant admins list it',
    );
    t.equal(
      codeOf(await hmiAdmin.call('RevokeGrant', { grantId: g.id })),
      grpc.status.PERMISSION_DENIED,
      'only requester or grant admins revoke',
    );
    const revoked = value(await engAdmin.call<GrantMessage>('RevokeGrant', { grantId: g.id, reason: 'done' }));
    t.equal(revoked.status, 'revoked');
    const after = await write();
    t.equal(codeOf(after), grpc.status.PERMISSION_DENIED, 'next write on the same channel is denied');
    t.match(after.ok ? '' : after.metadata['verigate-reason'], /^jit-required/);

    const g2 = value(await engAdmin.call<GrantMessage>('RequestGrant', req));
    t.equal(value(await lead.call<GrantMessage>('DenyGrant', { grantId: g2.id, reason: 'not now' })).status, 'denied');
    t.equal(
      codeOf(await lead.call('ApproveGrant', { grantId: g2.id })),
      grpc.status.NOT_FOUND,
      'a denied grant cannot be approved',
    );
    t.equal(codeOf(await lead.call('RevokeGrant', { grantId: 'nope' })), grpc.status.NOT_FOUND);
  },
);

t.test('reload: a new policy is enforced on the next call; a broken one is refused with file:line', async (t) => {
  const hmi = await h.client('Modbus', HMI);
  t.ok((await hmi.call('WriteRegisters', { device: dev, address: 150, values: [1] })).ok, 'allowed before');
  const same = value(await lead.call<ReloadPolicyResponse>('ReloadPolicy', {}));
  t.same({ ok: same.ok, changed: same.changed }, { ok: true, changed: false }, 'unchanged file');
  writeFileSync(h.policyFile, basePolicy('0-99'));
  const r = value(await lead.call<ReloadPolicyResponse>('ReloadPolicy', {}));
  t.equal(r.ok, true);
  t.equal(r.changed, true);
  t.equal(r.version, h.gw.policy.current.version);
  t.equal(
    codeOf(await hmi.call('WriteRegisters', { device: dev, address: 150, values: [1] })),
    grpc.status.PERMISSION_DENIED,
    'denied after reload',
  );
  writeFileSync(h.policyFile, basePolicy('0-99') + 'rules: [oops\n');
  const bad = value(await lead.call<ReloadPolicyResponse>('ReloadPolicy', {}));
  t.equal(bad.ok, false);
  t.equal(bad.version, r.version, 'the old policy stays in force');
  t.match(bad.error, /policy\.yaml:\d+/);
  writeFileSync(h.policyFile, basePolicy());
  t.ok(value(await lead.call<ReloadPolicyResponse>('ReloadPolicy', {})).ok);
  const stranger = await h.client('Admin', STRANGER);
  t.equal(codeOf(await stranger.call('ReloadPolicy', {})), grpc.status.PERMISSION_DENIED);
});
