/**
 * Applying the site bucket's signed policy (gateway/fleet/fleet-policy-apply.ts) through a real PolicyHolder:
 * verify, the hot-reload path, the file written only after success, the revision persisted, every refusal
 * audited with source fleet and the old policy kept.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { fleetIds } from '../../gateway/fleet/fleet-topology.js';
import { FleetPolicyApply } from '../../gateway/fleet/fleet-policy-apply.js';
import { signPolicyEnvelope } from '../../gateway/fleet/policy-envelope.js';
import { PolicyHolder } from '../../gateway/policy/policy-holder.js';
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
  const make = () =>
    new FleetPolicyApply({
      site: 'site-a',
      signers: [CONTROL],
      bundles: () => pki.bundles,
      policy: holder,
      policyFile: file,
      stateDir: join(dir, 'state'),
      audit,
      now: () => Date.now(),
    });
  return { dir, file, events, holder, make };
}

const envelope = (revision: number, text: string, site = 'site-a') =>
  JSON.parse(JSON.stringify(signPolicyEnvelope({ site, revision, policy: text }, control))) as unknown;

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
