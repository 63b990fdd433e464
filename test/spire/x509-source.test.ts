/**
 * X509Source (gateway/identity/x509-source.ts) against a real SPIRE agent: the gateway's SVID arrives
 * over the Workload API with the right ID, trust domain, key and chain; and when the agent restarts the
 * stream recovers (stale → ok, then fresh rotations arrive) [WORKLOAD-API; docs/architecture.md "SPIRE facts"].
 */
import t from 'tap';
import { createPublicKey } from 'node:crypto';
import { X509Source, type X509SourceState } from '../../gateway/identity/x509-source.js';
import type { X509Svid } from '../../gateway/identity/x509-svid.js';
import { startTestLab, uidSelector, TRUST_DOMAIN } from '../helpers/spire.js';
import { eventually } from '../helpers/eventually.js';

const lab = await startTestLab(t);
const GW_ID = `spiffe://${TRUST_DOMAIN}/verigate/gateway`;
// Short TTL so the agent rotates every few seconds (at ~half the 30+10 s lifetime)
// [docs/architecture.md "SPIRE facts"].
const TTL_S = 30;
await lab.createEntry({ spiffeId: GW_ID, selectors: [uidSelector()], x509SvidTtlSeconds: TTL_S });

// The first message blocks until the SVID is minted: a generous create() timeout, no short deadline.
const source = await X509Source.create({ address: `unix://${lab.agentSocket}`, timeoutMs: 45_000 });
t.teardown(() => source.close());

const updates: { at: number; svid: X509Svid }[] = [];
const states: { at: number; state: X509SourceState }[] = [];
source.on('update', (svid) => updates.push({ at: Date.now(), svid }));
source.on('state', (state) => states.push({ at: Date.now(), state }));

const serial = (s: X509Svid): string => s.chain[0]?.serialNumber ?? '';

t.test('the source serves the gateway SVID issued by SPIRE', async (t) => {
  const svid = source.getX509Svid();
  t.equal(svid.id.toString(), GW_ID, 'SPIFFE ID of the entry');
  t.equal(svid.id.trustDomain.name, TRUST_DOMAIN, 'trust domain plant.example');
  t.equal(source.state(), 'ok');
  const leaf = svid.chain[0];
  t.ok(leaf, 'leaf present');
  if (!leaf) return;
  t.same(
    createPublicKey(svid.privateKey).export({ type: 'spki', format: 'der' }),
    leaf.publicKey.export({ type: 'spki', format: 'der' }),
    'the private key matches the leaf',
  );
  t.equal(leaf.publicKey.asymmetricKeyType, 'ec', 'SPIRE issues EC keys');
  const lifetime = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 1000;
  t.ok(lifetime >= TTL_S && lifetime <= TTL_S + 15, `entry TTL honoured (${lifetime} s incl. backdate)`);
  const bundle = source.getBundleSet().get(TRUST_DOMAIN);
  t.ok(bundle, 'bundle of plant.example present');
  const ca = bundle?.authorities[0];
  t.ok(ca && leaf.verify(ca.publicKey), 'leaf signed by the trust domain CA');
  t.ok(ca && leaf.checkIssued(ca), 'issuer matches the CA');
  t.ok(source.secondsUntilExpiry() > 0 && source.secondsUntilExpiry() <= TTL_S, 'expires within the entry TTL');
});

t.test('the source follows rotations', async (t) => {
  const first = serial(source.getX509Svid());
  await eventually('a rotated SVID', () => updates.some((u) => serial(u.svid) !== first), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  const rotated = source.getX509Svid();
  t.not(serial(rotated), first, 'a new certificate');
  t.equal(rotated.id.toString(), GW_ID, 'same identity');
});

t.test('after an agent restart the stream recovers', async (t) => {
  const restartedAt = Date.now();
  await lab.restartAgent();
  const backUp = Date.now();
  // The broken stream is noticed (stale: the last SVID is still valid), then a new stream message brings it back.
  const stale = await eventually('state stale', () => states.find((s) => s.at >= restartedAt && s.state === 'stale'), {
    timeoutMs: 15_000,
    intervalMs: 100,
  });
  t.pass('the source noticed the agent going away (stale)');
  await eventually('state ok again', () => states.find((s) => s.at >= stale.at && s.state === 'ok'), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  t.pass('and came back to ok from a new stream message');
  t.notOk(
    states.some((s) => s.at >= restartedAt && s.state === 'failed-closed'),
    'never failed closed: the SVID was still valid',
  );
  const before = new Set(updates.filter((u) => u.at < restartedAt).map((u) => serial(u.svid)));
  const fresh = await eventually(
    'an update after restart',
    () => updates.find((u) => u.at >= backUp && !before.has(serial(u.svid))),
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  t.equal(fresh.svid.id.toString(), GW_ID, 'update after restart carries the gateway ID');
  t.equal(
    serial(source.getX509Svid()),
    serial(updates[updates.length - 1]?.svid ?? source.getX509Svid()),
    'source serves the latest',
  );
  t.equal(source.state(), 'ok');
});
