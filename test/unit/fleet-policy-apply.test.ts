/**
 * Applying the site bucket's signed policy (gateway/fleet/fleet-policy-apply.ts) through a real PolicyHolder:
 * verify, the hot-reload path, the file written only after success, the revision persisted, every refusal
 * audited with source fleet and the old policy kept; a failed write retried without advancing the revision, an
 * envelope signed in the future or by a chain the bundle does not know yet checked again, the applied revision
 * with another text refused as revision-conflict. Clock: fake timers.
 */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { fleetIds } from '../../gateway/fleet/fleet-topology.js';
import { FleetPolicyApply, type FleetPolicyApplyOptions } from '../../gateway/fleet/fleet-policy-apply.js';
import { BundleSet } from '../../gateway/identity/bundle-set.js';
import { signPolicyEnvelope } from '../../gateway/fleet/policy-envelope.js';
import { PolicyHolder } from '../../gateway/policy/policy-holder.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { makePki, TD } from '../helpers/pki.js';

const pki = await makePki();
const CONTROL = fleetIds.control(TD);
const control = await pki.mint(CONTROL);

const policy = (max: number, expect: 'allow' | 'deny' = 'allow'): string => `version: 1
trustDomain: ${TD}
rules:
  - id: hmi-write
    principals: [spiffe://${TD}/hmi]
    devices: [plc]
    allow: [{ access: write, table: holding, addresses: 0-9, values: "0..${max}" }]
tests:
  - { id: "spiffe://${TD}/hmi", device: plc, fc: 6, address: 1, value: 50, expect: ${expect} }
`;

function setup(t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-apply-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policy(100));
  const events: AuditEventInput[] = [];
  const audit = { append: (e: AuditEventInput) => (events.push(e), { ok: true as const, seq: events.length }) };
  const holder = PolicyHolder.load(file, { audit });
  t.teardown(() => holder.close());
  const timers = new FakeTimers(Date.now());
  const make = (more: Partial<FleetPolicyApplyOptions> = {}) => {
    const apply = new FleetPolicyApply({
      site: 'site-a',
      signers: [CONTROL],
      bundles: () => pki.bundles,
      policy: holder,
      policyFile: file,
      stateDir: join(dir, 'state'),
      audit,
      now: () => timers.now(),
      timers,
      ...more,
    });
    t.teardown(() => apply.close());
    return apply;
  };
  return { dir, file, events, holder, make, timers };
}

const envelope = (revision: number, text: string, site = 'site-a', signedAt?: Date) =>
  JSON.parse(
    JSON.stringify(signPolicyEnvelope({ site, revision, policy: text, ...(signedAt ? { signedAt } : {}) }, control)),
  ) as unknown;
const refusals = (events: AuditEventInput[]) =>
  events.map((e) => (e.type === 'policy.reload-failed' ? (e.code ?? e.type) : e.type));

t.test('a good envelope is enforced, written over the policy file and its revision persisted', async (t) => {
  const { file, events, holder, make, dir } = setup(t);
  const apply = make();
  t.equal(apply.appliedRevision(), 0);
  const before = holder.current.version;
  const r = apply.apply(envelope(1, policy(60)));
  t.match(r, { applied: true, revision: 1 });
  t.not(holder.current.version, before, 'swapped');
  t.equal(readFileSync(file, 'utf8'), policy(60), 'file rewritten');
  t.match(events, [{ type: 'policy.reloaded', source: 'fleet', revision: 1 }]);
  t.match(JSON.parse(readFileSync(join(dir, 'state', 'fleet', 'policy-revision.json'), 'utf8')), { revision: 1 });
  t.equal(make().appliedRevision(), 1, 'a restart knows the applied revision');
  t.match(apply.apply(envelope(1, policy(60))), { applied: false, code: 'already-applied' });
  t.equal(events.length, 1, 'the revision in force re-delivered is not audited');
});

t.test('a bad signature is refused, audited with source fleet, and nothing changes', async (t) => {
  const { file, events, holder, make } = setup(t);
  const apply = make();
  const before = holder.current.version;
  const e = envelope(2, policy(60)) as Record<string, unknown>;
  const sig = Buffer.from(e.signature as string, 'base64');
  sig[10] = (sig[10] as number) ^ 0xff;
  t.match(apply.apply({ ...e, signature: sig.toString('base64') }), { applied: false });
  t.equal(holder.current.version, before);
  t.equal(readFileSync(file, 'utf8'), policy(100), 'file untouched');
  t.equal(apply.appliedRevision(), 0);
  t.match(events, [
    { type: 'policy.reload-failed', source: 'fleet', revision: 2, keptVersion: before, error: /refused/ },
  ]);
  t.match(events[0], { code: /bad-signature|untrusted-signer-chain/ });
});

t.test('a policy failing its in-file tests is refused by the reload path; the old one stays', async (t) => {
  const { file, events, holder, make } = setup(t);
  const apply = make();
  const before = holder.current.version;
  t.match(apply.apply(envelope(3, policy(10, 'allow'))), { applied: false, code: 'policy-test-failed' });
  t.equal(holder.current.version, before);
  t.equal(readFileSync(file, 'utf8'), policy(100));
  t.match(events, [{ type: 'policy.reload-failed', source: 'fleet', revision: 3, code: 'policy-test-failed' }]);
  t.match(apply.apply(envelope(4, 'version: 1\nrules: oops\n')), { applied: false, code: 'policy-invalid' });
  t.equal(apply.appliedRevision(), 0);
});

t.test('another site, a replayed revision and a foreign signer are refused and audited', async (t) => {
  const { events, make } = setup(t);
  const apply = make();
  t.match(apply.apply(envelope(5, policy(60))), { applied: true });
  t.match(apply.apply(envelope(4, policy(70))), { applied: false, code: 'stale-revision' });
  t.match(apply.apply(envelope(6, policy(70), 'site-b')), { applied: false, code: 'wrong-site' });
  const other = await pki.mint(`spiffe://${TD}/someone`);
  const foreign = JSON.parse(
    JSON.stringify(signPolicyEnvelope({ site: 'site-a', revision: 7, policy: policy(70) }, other)),
  ) as unknown;
  t.match(apply.apply(foreign), { applied: false, code: 'signer-not-allowed' });
  t.same(
    events.map((e) => (e.type === 'policy.reload-failed' ? e.code : e.type)),
    ['policy.reloaded', 'stale-revision', 'wrong-site', 'signer-not-allowed'],
  );
});

t.test('a policy file that cannot be written: the revision stays, the write is retried', async (t) => {
  const { file, events, holder, make, timers } = setup(t);
  const apply = make();
  const before = holder.current.version;
  const blocker = `${file}.${process.pid}.tmp`;
  mkdirSync(blocker); // the atomic write's temp file cannot be created
  t.match(apply.apply(envelope(1, policy(60))), { applied: true, revision: 1, persisted: false });
  const enforced = holder.current.version;
  t.not(enforced, before, 'in force at once');
  t.equal(apply.appliedRevision(), 0, 'not claimed as applied while the file holds the old policy');
  t.equal(apply.unpersistedRevision(), 1);
  t.equal(readFileSync(file, 'utf8'), policy(100));
  holder.reload('file-change'); // a local reload reads the old file meanwhile
  t.equal(holder.current.version, before);
  timers.advance(30_000);
  t.equal(apply.appliedRevision(), 0, 'still failing: still not advanced');
  rmdirSync(blocker);
  timers.advance(30_000);
  t.equal(apply.appliedRevision(), 1, 'written at last');
  t.equal(apply.unpersistedRevision(), null);
  t.equal(holder.current.version, enforced, 'the fleet revision is in force again');
  t.equal(readFileSync(file, 'utf8'), policy(60));
  t.equal(make().appliedRevision(), 1, 'a restart knows it');
  t.same(refusals(events), ['policy.reloaded', 'policy.reloaded', 'policy.reloaded']);
  t.equal(timers.pending, 0, 'nothing left to retry');
});

t.test('an envelope signed ahead of our clock is applied once the clock catches up', async (t) => {
  const { events, make, timers } = setup(t);
  const apply = make();
  const ahead = envelope(2, policy(60), 'site-a', new Date(timers.now() + 5 * 60_000));
  t.match(apply.apply(ahead), { applied: false, code: 'signed-in-future' });
  timers.advance(30_000);
  t.equal(apply.appliedRevision(), 0);
  t.same(refusals(events), ['signed-in-future'], 'audited once, not at every re-check');
  timers.advance(4 * 60_000);
  t.equal(apply.appliedRevision(), 2, 'kept and applied once within 60 s of our clock');
  t.same(refusals(events), ['signed-in-future', 'policy.reloaded']);
  t.equal(timers.pending, 0);
});

t.test('an envelope whose signer chain the bundle does not know yet is applied after a bundle update', async (t) => {
  const { events, make, timers } = setup(t);
  let bundles = BundleSet.of([pki.otherCa.bundle()]); // our trust domain's bundle not there yet
  const apply = make({ bundles: () => bundles });
  t.match(apply.apply(envelope(3, policy(60))), { applied: false, code: 'untrusted-signer-chain' });
  apply.recheck();
  t.equal(apply.appliedRevision(), 0);
  bundles = pki.bundles;
  apply.recheck(); // the identity source's update
  t.equal(apply.appliedRevision(), 3);
  t.same(refusals(events), ['untrusted-signer-chain', 'policy.reloaded']);
  t.equal(timers.pending, 0);
});

t.test('a newer bucket entry replaces the envelope kept for a re-check', async (t) => {
  const { events, make, timers } = setup(t);
  const apply = make();
  apply.apply(envelope(4, policy(60), 'site-a', new Date(timers.now() + 5 * 60_000)));
  t.match(apply.apply(envelope(5, policy(70))), { applied: true, revision: 5 });
  timers.advance(10 * 60_000);
  t.equal(apply.appliedRevision(), 5);
  t.same(refusals(events), ['signed-in-future', 'policy.reloaded'], 'revision 4 is not checked again');
});

t.test('the applied revision with another text is a revision-conflict, not already-applied', async (t) => {
  const { events, holder, make } = setup(t);
  const apply = make();
  t.match(apply.apply(envelope(1, policy(60))), { applied: true });
  const inForce = holder.current.version;
  // the policy key was deleted (or the bucket recreated) at the hub and the next publish started at 1 again
  t.match(apply.apply(envelope(1, policy(70))), { applied: false, code: 'revision-conflict' });
  t.equal(holder.current.version, inForce);
  t.match(events.at(-1), { type: 'policy.reload-failed', source: 'fleet', revision: 1, code: 'revision-conflict' });
  t.match(make().apply(envelope(1, policy(70))), { code: 'revision-conflict' }, 'known after a restart too');
  const forged = { ...(envelope(1, policy(80)) as Record<string, unknown>), signature: 'AAAA' };
  t.match(apply.apply(forged), { applied: false, code: 'bad-signature' }, 'checked like any envelope');
  const n = events.length;
  t.match(apply.apply(envelope(1, policy(60))), { applied: false, code: 'already-applied' });
  t.equal(events.length, n, 'the same text again is silently in force');
});

t.test(
  'while a revision in force is not yet written, an envelope below it does not roll the enforced text back',
  async (t) => {
    const { file, events, holder, make, timers } = setup(t);
    const apply = make();
    t.match(apply.apply(envelope(4, policy(70))), { applied: true, persisted: true });
    const blocker = `${file}.${process.pid}.tmp`;
    mkdirSync(blocker); // revision 6's file write fails: in force, not persisted
    t.match(apply.apply(envelope(6, policy(90))), { applied: true, revision: 6, persisted: false });
    const enforced = holder.current.version;
    t.match(apply.apply(envelope(5, policy(80))), { applied: false, code: 'stale-revision' }, 'below the one in force');
    t.equal(holder.current.version, enforced, 'revision 6 stays in force');
    t.match(apply.apply(envelope(6, policy(90))), { applied: false, code: 'already-applied' });
    t.match(apply.apply(envelope(6, policy(95))), { applied: false, code: 'revision-conflict' });
    rmdirSync(blocker);
    timers.advance(30_000);
    t.equal(apply.appliedRevision(), 6, 'written at last');
    t.equal(readFileSync(file, 'utf8'), policy(90));
    // the retry re-enforces the same text: no new reload event
    t.same(refusals(events), ['policy.reloaded', 'policy.reloaded', 'stale-revision', 'revision-conflict']);
  },
);

t.test('a new revision signed before the one in force is refused, also after a restart', async (t) => {
  const { events, make, timers } = setup(t);
  const apply = make();
  const t0 = timers.now();
  t.match(apply.apply(envelope(7, policy(70), 'site-a', new Date(t0))), { applied: true, persisted: true });
  const older = envelope(8, policy(80), 'site-a', new Date(t0 - 60_000));
  t.match(apply.apply(older), { applied: false, code: 'signed-before-applied' });
  t.match(make().apply(older), { applied: false, code: 'signed-before-applied' }, 'the signedAt in force is persisted');
  t.match(apply.apply(envelope(8, policy(80), 'site-a', new Date(t0 + 1000))), { applied: true });
  t.same(refusals(events), ['policy.reloaded', 'signed-before-applied', 'signed-before-applied', 'policy.reloaded']);
});

t.test(
  'fleet.policyMaxAge: an envelope signed before an edge outage longer than 24 h applies when allowed',
  async (t) => {
    const { events, make, timers } = setup(t);
    const signed = envelope(3, policy(60), 'site-a', new Date(timers.now()));
    timers.advance(30 * 3600_000); // the edge was cut off from its hub for 30 h
    t.match(make().apply(signed), { applied: false, code: 'signed-too-long-ago' }, 'the default bound is 24 h');
    t.same(refusals(events), ['signed-too-long-ago']);
    const patient = make({ maxAgeMs: 72 * 3600_000 });
    t.match(patient.apply(signed), { applied: true, revision: 3 }, 'a site configured for 72 h takes it');
  },
);
