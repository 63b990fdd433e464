/**
 * Issue 15 "Verified by" 5 — policy rollout: a signed policy put in each site's hub bucket (as `verigate control
 * policy publish` does) reaches both gateways (site-a and site-b, each behind its own leaf's mirror) within 5 s
 * (figure printed); a bad signature and a policy failing its in-file tests are refused on every box, the old
 * revision stays in force and on disk, and the reason is in each gateway's audit files (`policy.reload-failed`,
 * `source: fleet`, the revision and the refusal code). An SVID update reconnects the link (old connection
 * drained) and publishes keep arriving; a good revision after the refusals applies and survives a restart.
 */
import t from 'tap';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kvm, type KV } from '@nats-io/kv';
import { fleetIds, KEY_POLICY, siteBucket } from '../../gateway/fleet/fleet-topology.js';
import { signPolicyEnvelope, type PolicyEnvelope } from '../../gateway/fleet/policy-envelope.js';
import { parseX509Svid, type X509Svid } from '../../gateway/identity/x509-svid.js';
import { eventually } from '../helpers/eventually.js';
import { startFleetLab, type Credentials } from './fleet-lab.js';
import { startFleetGateway, type FleetGateway } from './fleet-gateway.js';

const SITES = ['site-a', 'site-b'] as const;
const TD = 'plant.example';
const policy = (access: 'read' | 'read-write', writeExpect: 'allow' | 'deny', note = ''): string => `version: 1
trustDomain: ${TD}
# ${note}
rules:
  - id: operators
    principals: [spiffe://${TD}/op/*]
    devices: [turbine-1]
    allow: [{ access: ${access}, table: holding, addresses: 0-99 }]
tests:
  - { id: "spiffe://${TD}/op/a", device: turbine-1, fc: 6, address: 1, value: 5, expect: ${writeExpect} }
`;
const START = policy('read-write', 'allow', 'as installed');
const REV1 = policy('read', 'deny', 'revision 1: read only');
const FAILING = policy('read', 'allow', 'revision 3: its own test fails');
const REV6 = policy('read-write', 'allow', 'revision 6');

/** The control's SVID from the lab's credentials (what `control policy publish` signs with). */
function svidOf(c: Credentials): X509Svid {
  const blocks = c.certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const der = Buffer.concat(blocks.map((b) => new X509Certificate(b).raw));
  return parseX509Svid(der, createPrivateKey(c.keyPem).export({ type: 'pkcs8', format: 'der' }));
}

const lab = await startFleetLab({ sites: [...SITES] });
t.teardown(() => lab.stop());
const signer = svidOf(lab.control);
const gws: FleetGateway[] = [];
for (const site of SITES) {
  const gw = await startFleetGateway(lab, site, 'gw-1', {
    policy: START,
    fleetYaml: `policySigners: ["${fleetIds.control(lab.trustDomain)}"]`,
  });
  gws.push(gw);
}
t.teardown(async () => {
  for (const gw of gws) await gw.stop();
});
const nc = await lab.connectControl();
const kvm = new Kvm(nc);
const buckets = new Map<string, KV>();
for (const site of SITES) buckets.set(site, await kvm.open(siteBucket(site)));

const publish = async (site: string, e: PolicyEnvelope | Record<string, unknown>): Promise<void> => {
  await buckets.get(site)?.put(KEY_POLICY, JSON.stringify(e));
};
const sign = (site: string, revision: number, text: string): PolicyEnvelope =>
  signPolicyEnvelope({ site, group: null, revision, policy: text }, signer);
const versionOf = (gw: FleetGateway): string => gw.gateway().policy.current.version;
const onDisk = (gw: FleetGateway): string => readFileSync(gw.harness.policyFile, 'utf8');
const failures = (gw: FleetGateway, revision: number) =>
  gw.auditEvents('policy.reload-failed').filter((e) => e.source === 'fleet' && e.revision === revision);

t.test('a signed publish reaches both gateways within 5 s', async (t) => {
  const before = gws.map(versionOf);
  const t0 = Date.now();
  await Promise.all(SITES.map((site) => publish(site, sign(site, 1, REV1))));
  const took = await Promise.all(
    gws.map(async (gw, i) => {
      await eventually(`${gw.site} enforces revision 1`, () => versionOf(gw) !== before[i], {
        timeoutMs: 10_000,
        intervalMs: 5,
      });
      return Date.now() - t0;
    }),
  );
  t.comment(`policy rollout: put → enforced ${took.map((ms, i) => `${SITES[i]} ${ms} ms`).join(', ')} (aim ≤ 5000 ms)`);
  for (const [i, ms] of took.entries()) t.ok(ms <= 5000, `${SITES[i]}: ${ms} ms ≤ 5 s`);
  for (const gw of gws) {
    t.equal(onDisk(gw), REV1, `${gw.site}: written over the policy file`);
    t.equal(gw.gateway().fleet?.apply.appliedRevision(), 1);
    // the event goes through the audit group commit, which can land a turn after the new policy is in force
    // (this poll runs every 5 ms; one clean-clone CI run read the file in between)
    await eventually(`${gw.site}: policy.reloaded in the trail`, () => gw.auditEvents('policy.reloaded').length > 0, {
      timeoutMs: 5_000,
    });
    t.match(gw.auditEvents('policy.reloaded'), [{ source: 'fleet', revision: 1 }]);
  }
});

t.test('a bad signature is refused on every box; the old revision stays; the reason is audited', async (t) => {
  const kept = gws.map(versionOf);
  for (const site of SITES) {
    const e = sign(site, 2, START);
    const sig = Buffer.from(e.signature, 'base64');
    sig[sig.length - 3] = (sig[sig.length - 3] as number) ^ 0x5a;
    await publish(site, { ...e, signature: sig.toString('base64') });
  }
  for (const [i, gw] of gws.entries()) {
    const [ev] = await eventually(`${gw.site} audits the refusal`, () => {
      const f = failures(gw, 2);
      return f.length > 0 ? f : null;
    });
    t.match(ev, { code: /bad-signature|untrusted-signer-chain/, keptVersion: kept[i], error: /refused/ });
    t.equal(versionOf(gw), kept[i], `${gw.site}: revision 1 still in force`);
    t.equal(onDisk(gw), REV1);
    t.equal(gw.gateway().fleet?.apply.appliedRevision(), 1);
  }
});

t.test('a policy failing its in-file tests is refused on every box; the old revision stays', async (t) => {
  const kept = gws.map(versionOf);
  await Promise.all(SITES.map((site) => publish(site, sign(site, 3, FAILING))));
  for (const [i, gw] of gws.entries()) {
    const [ev] = await eventually(`${gw.site} audits the failing tests`, () => {
      const f = failures(gw, 3);
      return f.length > 0 ? f : null;
    });
    t.match(ev, { code: 'policy-test-failed', keptVersion: kept[i], error: /test/ });
    t.equal(versionOf(gw), kept[i]);
    t.equal(onDisk(gw), REV1);
    t.equal(gw.gateway().fleet?.apply.appliedRevision(), 1);
  }
});

t.test('an SVID update makes the link connect anew and drain the old connection; rollout goes on', async (t) => {
  const gw = gws[1] as FleetGateway;
  const link = gw.gateway().fleet?.link;
  const before = link?.current();
  t.ok(before, 'connected');
  const { source } = gw.gateway().identity;
  source.emit('update', source.getX509Svid(), source.getBundleSet()); // as the Workload API stream does on rotation
  await eventually('a new connection', () => link?.current() !== before && link?.isConnected());
  await eventually('the old connection drained', () => before?.isClosed() === true, { timeoutMs: 8000 });
  await publish(gw.site, sign(gw.site, 5, REV1));
  await eventually(
    'revision 5 applied over the new connection',
    () => gw.gateway().fleet?.apply.appliedRevision() === 5,
  );
  t.equal(onDisk(gw), REV1);
});

t.test('a good revision after the refusals applies, and survives a gateway restart offline', async (t) => {
  await Promise.all(SITES.map((site) => publish(site, sign(site, 6, REV6))));
  for (const gw of gws) {
    await eventually(`${gw.site} applies revision 6`, () => gw.gateway().fleet?.apply.appliedRevision() === 6, {
      timeoutMs: 10_000,
    });
    t.equal(onDisk(gw), REV6);
  }
  const gw = gws[0] as FleetGateway;
  const version = versionOf(gw);
  await lab.site(gw.site).kill9Leaf();
  await gw.restart();
  t.equal(versionOf(gw), version, 'restarted without its leaf, the gateway enforces revision 6 from its file');
  t.equal(gw.gateway().fleet?.apply.appliedRevision(), 6, 'and knows the revision');
  await lab.site(gw.site).restartLeaf();
});
