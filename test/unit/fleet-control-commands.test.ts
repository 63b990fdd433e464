/**
 * `verigate control` against a real nats-server (JetStream domain `hub`, mutual TLS; test/helpers/nats-hub.ts):
 *  - lock fan-out: one id, made once, under `locks.<id>` in every selected site bucket; remove deletes it
 *    everywhere; list groups by id;
 *  - policy publish: refused (nothing written) when the policy's own tests fail; otherwise signed with the
 *    control SVID, verifiable by a gateway, revision = previous + 1 per bucket;
 *  - grant issue: judged against the site's published JIT rule (approvers, threshold), written as active.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { controlCommand } from '../../gateway/cli/control-command.js';
import { fleetIds, KEY_POLICY, lockKey, grantKey, siteBucket } from '../../gateway/fleet/fleet-topology.js';
import { verifyPolicyEnvelope } from '../../gateway/fleet/policy-envelope.js';
import { BundleSet } from '../../gateway/identity/bundle-set.js';
import type { Lock } from '../../gateway/trust/lock-service.js';
import type { Grant } from '../../gateway/trust/grant-service.js';
import { HUB_TD, startTestHub, type TestHub } from '../helpers/nats-hub.js';

const POLICY = (expect: 'allow' | 'deny'): string => `version: 1
trustDomain: plant.example
rules:
  - id: eng-maintenance
    principals: [spiffe://plant.example/eng/*]
    devices: [turbine-1]
    allow:
      - { access: write, table: holding, addresses: 0-999 }
    jit: { approvers: [spiffe://plant.example/ops/*], maxDuration: 30m, threshold: 2 }
tests:
  - { name: eng writes under a grant, id: "spiffe://plant.example/eng/ann", device: turbine-1, fc: 6, address: 5, value: 1, expect: ${expect} }
`;

let hub: TestHub;
t.before(async () => {
  hub = await startTestHub(['site-a', 'site-b', 'site-c']);
  await hub.createBuckets(['site-a', 'site-b', 'site-c']);
});
t.teardown(() => hub?.stop());

async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({}, hub.dir);
  const code = await controlCommand([...args, '--config', hub.configFile], io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

async function entry(site: string, key: string): Promise<{ op: string; value: unknown } | null> {
  const kv = await new Kvm(await hub.connect()).open(siteBucket(site));
  const e = await kv.get(key);
  return e === null ? null : { op: e.operation, value: e.operation === 'PUT' ? e.json() : null };
}

t.test('lock create: one id, written to every selected site bucket under locks.<id>', async (t) => {
  const r = await run(
    'lock',
    'create',
    '--identity',
    'spiffe://plant.example/eng/*',
    '--reason',
    'incident 42',
    '--json',
  );
  t.equal(r.code, 0, r.err);
  const { lock, sites } = JSON.parse(r.out) as { lock: Lock; sites: string[] };
  t.same(sites, ['site-a', 'site-b', 'site-c'], 'no --site: every site of the config');
  t.match(lock.id, /^[0-9a-f-]{36}$/);
  t.equal(lock.by, fleetIds.control(HUB_TD), 'the control is the one authority');
  for (const site of sites) {
    const e = await entry(site, lockKey(lock.id));
    t.same(e?.value, lock, `${site} holds the same lock under ${lockKey(lock.id)}`);
  }

  const one = await run(
    'lock',
    'create',
    '--role',
    'operator',
    '--reason',
    'r',
    '--site',
    'site-b',
    '--until',
    '10m',
    '--json',
  );
  t.equal(one.code, 0, one.err);
  const only = JSON.parse(one.out) as { lock: Lock; sites: string[] };
  t.same(only.sites, ['site-b']);
  t.ok(only.lock.expiresAt, '--until as a duration becomes expiresAt');
  t.equal(await entry('site-a', lockKey(only.lock.id)), null, 'not written outside the selection');

  const listed = await run('lock', 'list', '--json');
  const rows = JSON.parse(listed.out) as { lock: Lock; sites: string[] }[];
  t.same(
    rows.map((x) => [x.lock.id, x.sites]),
    [
      [lock.id, ['site-a', 'site-b', 'site-c']],
      [only.lock.id, ['site-b']],
    ],
  );

  const removed = await run('lock', 'remove', lock.id, '--json');
  t.equal(removed.code, 0, removed.err);
  t.same((JSON.parse(removed.out) as { sites: string[] }).sites, ['site-a', 'site-b', 'site-c']);
  for (const site of sites) t.equal((await entry(site, lockKey(lock.id)))?.op, 'DEL', `${site}: KV delete of the key`);
  const again = await run('lock', 'remove', lock.id);
  t.equal(again.code, 1, 'removing a lock nobody holds fails');
  t.match(again.err, /no lock/);
});

t.test('lock create: usage errors exit 2 and write nothing', async (t) => {
  const both = await run('lock', 'create', '--identity', 'spiffe://plant.example/x', '--role', 'r', '--reason', 'x');
  t.equal(both.code, 2);
  t.match(both.err, /exactly one of --identity, --role, --device or --grant/);
  const noReason = await run('lock', 'create', '--device', 'turbine-1');
  t.equal(noReason.code, 2);
  t.match(noReason.err, /--reason is required/);
  const badSite = await run('lock', 'create', '--device', 'turbine-1', '--reason', 'x', '--site', 'site-q');
  t.equal(badSite.code, 2);
  t.match(badSite.err, /"site-q" is not a site/);
  const past = await run('lock', 'create', '--device', 'turbine-1', '--reason', 'x', '--until', '2001-01-01T00:00:00Z');
  t.equal(past.code, 2);
  t.match(past.err, /not in the future/);
});

t.test('policy publish: a policy whose in-file tests fail is refused and nothing is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-publish-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, POLICY('deny'));
  const r = await run('policy', 'publish', '--site', 'site-c', '--file', bad);
  t.equal(r.code, 1);
  t.match(
    r.err,
    new RegExp(`${bad.replace(/[.]/g, '\\.')}:11:5: eng writes under a grant: .*expected deny, got allow`),
  );
  t.match(r.err, /not published/);
  t.equal(await entry('site-c', KEY_POLICY), null, 'no envelope in the bucket');
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'version: 1\nrules: nope\n');
  const b = await run('policy', 'publish', '--site', 'site-c', '--file', broken);
  t.equal(b.code, 1);
  t.match(b.err, /broken\.yaml:\d+:\d+:/, 'schema errors located');
  t.equal(await entry('site-c', KEY_POLICY), null);
});

t.test('policy publish: signed with the control SVID, a gateway verifies it, revision = previous + 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-publish-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.yaml');
  writeFileSync(good, POLICY('allow'));
  const first = await run('policy', 'publish', '--group', 'all', '--file', good, '--json');
  t.equal(first.code, 0, first.err);
  t.same((JSON.parse(first.out) as { published: unknown[] }).published, [
    { site: 'site-a', revision: 1 },
    { site: 'site-b', revision: 1 },
    { site: 'site-c', revision: 1 },
  ]);
  const second = await run('policy', 'publish', '--site', 'site-b', '--file', good);
  t.equal(second.code, 0, second.err);
  t.match(second.out, /published revision 2 to site-b/);
  const env = (await entry('site-b', KEY_POLICY))?.value as { revision: number; group: string | null };
  t.equal(env.revision, 2);
  t.equal(env.group, null, '--site: no group');
  t.equal(((await entry('site-a', KEY_POLICY))?.value as { group: string }).group, 'all', '--group names the group');
  const verdict = verifyPolicyEnvelope(env, {
    bundle: BundleSet.of([hub.ca.bundle()]),
    signers: [fleetIds.control(HUB_TD)],
    site: 'site-b',
    appliedRevision: 1,
    now: new Date(),
  });
  t.same(verdict, { ok: true, policyText: POLICY('allow'), revision: 2 }, 'a gateway of site-b accepts it');
});

t.test('grant issue: judged against the published JIT rule, written active to every site', async (t) => {
  const base = [
    'grant',
    'issue',
    '--requester',
    'spiffe://plant.example/eng/ann',
    '--device',
    'turbine-1',
    '--table',
    'holding',
    '--addresses',
    '10-19',
    '--access',
    'write',
    '--duration',
    '15m',
    '--reason',
    'valve swap',
    '--site',
    'site-a',
    '--site',
    'site-b',
  ];
  const short = await run(...base, '--approver', 'spiffe://plant.example/ops/lead', '--json');
  t.equal(short.code, 1, 'threshold 2, one approver');
  t.match(short.err, /needs 2 distinct approver/);
  const outsider = await run(
    ...base,
    '--approver',
    'spiffe://plant.example/ops/a',
    '--approver',
    'spiffe://plant.example/eng/bob',
  );
  t.equal(outsider.code, 1);
  t.match(outsider.err, /not an approver of rule eng-maintenance/);
  const tooLong = await run(
    ...base.map((a) => (a === '15m' ? '2h' : a)),
    '--approver',
    'spiffe://plant.example/ops/a',
    '--approver',
    'spiffe://plant.example/ops/b',
  );
  t.equal(tooLong.code, 1);
  t.match(tooLong.err, /duration must be/);

  const ok = await run(
    ...base,
    '--approver',
    'spiffe://plant.example/ops/a',
    '--approver',
    'spiffe://plant.example/ops/b',
    '--json',
  );
  t.equal(ok.code, 0, ok.err);
  const { grant, sites } = JSON.parse(ok.out) as { grant: Grant; sites: string[] };
  t.same(sites, ['site-a', 'site-b']);
  t.equal(grant.status, 'active');
  t.equal(grant.ruleId, 'eng-maintenance');
  t.same(grant.approvals, ['spiffe://plant.example/ops/a', 'spiffe://plant.example/ops/b']);
  t.equal(Date.parse(grant.expiresAt ?? '') - Date.parse(grant.requestedAt), 15 * 60_000);
  for (const site of sites) t.same((await entry(site, grantKey(grant.id)))?.value, grant, `${site} holds it`);

  const revoked = await run('grant', 'revoke', grant.id, '--reason', 'done early');
  t.equal(revoked.code, 0, revoked.err);
  const after = (await entry('site-a', grantKey(grant.id)))?.value as Grant;
  t.equal(after.status, 'revoked');
  t.equal(after.closedBy, fleetIds.control(HUB_TD));
  t.equal(after.closedReason, 'done early');
  const list = await run('grant', 'list');
  t.match(list.out, new RegExp(`${grant.id} revoked .* sites=site-a,site-b`));
});

t.test('grant revoke: one site failing does not stop the others; each failure reported, exit 1', async (t) => {
  const issued = await run(
    'grant',
    'issue',
    '--requester',
    'spiffe://plant.example/eng/ann',
    '--device',
    'turbine-1',
    '--table',
    'holding',
    '--addresses',
    '20-29',
    '--access',
    'write',
    '--duration',
    '15m',
    '--reason',
    'pump swap',
    '--approver',
    'spiffe://plant.example/ops/a',
    '--approver',
    'spiffe://plant.example/ops/b',
    '--site',
    'site-a',
    '--site',
    'site-b',
    '--json',
  );
  t.equal(issued.code, 0, issued.err);
  const { grant } = JSON.parse(issued.out) as { grant: Grant };
  // site-a (the first in order) refuses every write: a sealed stream.
  const nc = await hub.connect();
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${siteBucket('site-a')}`;
  const info = await jsm.streams.info(stream);
  // `sealed` is a stream setting the client's update type does not list (nats-server accepts it on update)
  await jsm.streams.update(stream, { ...info.config, sealed: true } as never);
  t.teardown(async () => {
    await jsm.streams.delete(stream);
    await hub.createBuckets(['site-a']);
  });

  const r = await run('grant', 'revoke', grant.id, '--reason', 'pump done', '--json');
  t.equal(r.code, 1, 'a site that was not revoked fails the command');
  t.match(r.err, /NOT revoked at site-a/);
  t.same((JSON.parse(r.out) as { sites: string[] }).sites, ['site-b'], 'the sites that were revoked');
  t.equal(((await entry('site-b', grantKey(grant.id)))?.value as Grant).status, 'revoked', 'site-b revoked');
  t.equal(((await entry('site-a', grantKey(grant.id)))?.value as Grant).status, 'active', 'site-a still active');
});

t.test('hub unreachable: exit 1 with the reason', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-nohub-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(hub.dir, 'unreachable.yaml');
  writeFileSync(
    cfg,
    (await import('node:fs'))
      .readFileSync(hub.configFile, 'utf8')
      .replace(/tls:\/\/127\.0\.0\.1:\d+/, 'tls://127.0.0.1:9'),
  );
  const io = memoryIo({}, hub.dir);
  t.equal(await controlCommand(['lock', 'list', '--config', cfg], io), 1);
  t.match(io.stderr.join('\n'), /cannot reach the hub/);
});
