/**
 * The gateway's fleet link against one real nats-server standing in for the site's leaf (mutual TLS with dev-CA
 * SVIDs, JetStream, a plain KV bucket `site-site-a` where the fleet has the hub's mirror): the link starts
 * without the leaf and connects once it is up, SVID rotation connects anew then drains the old connection, the
 * site-state watch dispatches every key once in order across a rotation, the initial sync reconciles keys
 * deleted while no gateway watched, and the status beat is published.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { fleetIds, siteBucket, statusSubject } from '../../gateway/fleet/fleet-topology.js';
import { FleetLink } from '../../gateway/fleet/fleet-link.js';
import { SiteStateWatch } from '../../gateway/fleet/site-state-watch.js';
import type { FleetHeartbeat, FleetStatePresent } from '../../gateway/fleet/fleet-state-handlers.js';
import { StatusBeat } from '../../gateway/fleet/status-beat.js';
import { authorizeId } from '../../gateway/identity/authorizers.js';
import { clientTlsOptions } from '../../gateway/identity/tls-options.js';
import { derToPem, type X509Svid } from '../../gateway/identity/x509-svid.js';
import { systemTimers } from '../../gateway/timers.js';
import { freePort } from '../helpers/free-port.js';
import { NatsServerProcess } from '../fleet/nats-process.js';
import { eventually } from '../helpers/eventually.js';
import { makePki, TD } from '../helpers/pki.js';

const SITE = 'site-a';
const root = t;
const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-link-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const pem = (svid: X509Svid, label: string) => {
  const cert = join(dir, `${label}.pem`);
  const key = join(dir, `${label}.key`);
  writeFileSync(cert, svid.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''));
  writeFileSync(key, derToPem(svid.keyDer, 'PRIVATE KEY'));
  return { cert, key };
};
const leafSvid = await pki.mint(fleetIds.leaf(TD, SITE));
const leafFiles = pem(leafSvid, 'leaf');
const caFile = join(dir, 'ca.pem');
writeFileSync(caFile, pki.ca.bundlePem());
const port = await freePort();
const url = `tls://127.0.0.1:${port}`;
const conf = join(dir, 'leaf.conf');
writeFileSync(
  conf,
  [
    'server_name: "test-leaf"',
    'host: "127.0.0.1"',
    `port: ${port}`,
    `tls { cert_file: "${leafFiles.cert}", key_file: "${leafFiles.key}", ca_file: "${caFile}", verify: true, timeout: 5 }`,
    `jetstream { domain: "${SITE}", store_dir: "${join(dir, 'js')}", max_memory_store: 8MB, max_file_store: 64MB }`,
  ].join('\n') + '\n',
);
const leaf = new NatsServerProcess('test-leaf', conf, join(dir, 'leaf.log'));
t.teardown(() => leaf.stop());

let gatewaySvid = await pki.mint(fleetIds.gateway(TD, SITE, 'gw-1'));
const tlsNow = () => clientTlsOptions(gatewaySvid, pki.bundles, { authorizer: authorizeId(fleetIds.leaf(TD, SITE)) });
const link = new FleetLink({
  url,
  name: 'gw-1',
  tls: tlsNow,
  timers: systemTimers,
  backoff: { initialMs: 50, maxMs: 200 },
});
t.teardown(() => link.close());
const seen: NatsConnection[] = [];
link.onConnection((nc) => seen.push(nc));

t.test('the link starts while the leaf is down and connects once it is up', async (t) => {
  link.start(); // returns at once: the data path never waits for the leaf
  t.equal(link.current(), null);
  t.equal(link.isConnected(), false);
  leaf.start();
  await eventually('the link connects', () => link.isConnected(), { timeoutMs: 10_000 });
  t.equal(seen.length, 1);
});

let control: NatsConnection;
let kv: KV;
t.test('a control-side connection creates the bucket (the mirror at a real leaf)', async (t) => {
  const controlSvid = await pki.mint(fleetIds.control(TD));
  control = await connect({ servers: url, tls: tlsFor(controlSvid) });
  root.teardown(() => control.close());
  kv = await new Kvm(control).create(siteBucket(SITE), { history: 1 });
  t.ok(kv);
});

const calls: string[] = [];
const presents: FleetStatePresent[] = [];
const policies: number[] = [];
const handlers = {
  lock: (id: string, v: unknown) => calls.push(`lock ${id} ${v === null ? 'deleted' : JSON.stringify(v)}`),
  grant: (id: string, v: unknown) => calls.push(`grant ${id} ${v === null ? 'deleted' : JSON.stringify(v)}`),
  heartbeat: (hb: FleetHeartbeat) => calls.push(`heartbeat ${hb.seq}`),
  reconcile: (p: FleetStatePresent) => presents.push(p),
};

t.test('the watch: a full sync reconciles, then every change arrives once, in order, across a rotation', async (t) => {
  await kv.put('locks.l1', JSON.stringify({ id: 'l1' }));
  await kv.put('locks.gone', JSON.stringify({ id: 'gone' }));
  await kv.delete('locks.gone');
  await kv.put('grants.g1', JSON.stringify({ id: 'g1' }));
  await kv.put('heartbeat', JSON.stringify({ time: new Date().toISOString(), seq: 1, by: 'x' }));
  await kv.put('policy', JSON.stringify({ kind: 'x' }));
  const watch = new SiteStateWatch({
    site: SITE,
    handlers,
    policy: (_v, revision) => void policies.push(revision),
    timers: systemTimers,
  });
  root.teardown(() => watch.close()); // it goes on watching in the tests below
  link.onConnection((nc) => watch.attach(nc));
  await eventually('synced', () => watch.isSynced());
  t.same([...(presents[0]?.locks ?? [])], ['l1'], 'a deleted lock is not present');
  t.same([...(presents[0]?.grants ?? [])], ['g1']);
  t.same(calls, ['lock l1 {"id":"l1"}', 'lock gone deleted', 'grant g1 {"id":"g1"}', 'heartbeat 1']);
  t.equal(policies.length, 1);
  calls.length = 0;

  await kv.put('locks.l2', '{"id":"l2"}');
  await eventually('l2', () => calls.length === 1);
  const before = link.current();
  gatewaySvid = await pki.mint(fleetIds.gateway(TD, SITE, 'gw-1')); // rotation
  link.rotate();
  for (let i = 0; i < 20; i++) await kv.put(`locks.r${i}`, '{}'); // while the connections swap
  await eventually('a new connection', () => link.current() !== before && link.isConnected());
  await eventually('the old connection is drained', () => before?.isClosed() === true, { timeoutMs: 8000 });
  await kv.delete('locks.l1');
  await eventually('all changes', () => calls.length === 22);
  t.same(calls, ['lock l2 {"id":"l2"}', ...Array.from({ length: 20 }, (_, i) => `lock r${i} {}`), 'lock l1 deleted']);
  t.equal(presents.length, 1, 'a rotation resumes, it does not sync again');
  t.equal(seen.length, 2);
});

t.test('a new process syncs from scratch: what was deleted meanwhile is absent from reconcile', async (t) => {
  await kv.delete('locks.l2');
  const got: FleetStatePresent[] = [];
  const watch = new SiteStateWatch({
    site: SITE,
    handlers: { ...handlers, reconcile: (p) => got.push(p) },
    policy: () => undefined,
    timers: systemTimers,
  });
  t.teardown(() => watch.close());
  watch.attach(link.current() as NatsConnection);
  await eventually('synced', () => got.length === 1);
  t.notOk(got[0]?.locks.has('l2'));
  t.notOk(got[0]?.locks.has('l1'));
  t.ok(got[0]?.locks.has('r0'));
  t.equal(got[0]?.locks.size, 20);
});

t.test('a bucket without a control heartbeat (a mirror that never reached the hub) is not reconciled', async (t) => {
  const kvB = await new Kvm(control).create(siteBucket('site-b'), { history: 1 });
  await kvB.put('locks.b1', '{}');
  const got: FleetStatePresent[] = [];
  const watch = new SiteStateWatch({
    site: 'site-b',
    handlers: { ...handlers, reconcile: (p) => got.push(p) },
    policy: () => undefined,
    timers: systemTimers,
  });
  t.teardown(() => watch.close());
  calls.length = 0;
  watch.attach(link.current() as NatsConnection);
  await eventually('the snapshot is delivered', () => calls.includes('lock b1 {}'));
  await kvB.put('locks.b2', '{}');
  await kvB.delete('locks.b1');
  await eventually('later changes too', () => calls.includes('lock b1 deleted'));
  t.equal(got.length, 0, 'no reconcile on the word of a bucket without a heartbeat');
  t.equal(watch.isSynced(), false);
  await kvB.put('heartbeat', JSON.stringify({ time: new Date().toISOString(), seq: 1, by: 'x' }));
  await eventually('reconciled once the heartbeat is there', () => got.length === 1);
  t.same([...(got[0]?.locks ?? [])], ['b2'], 'the ids tracked since the snapshot');
  t.equal(watch.isSynced(), true);
});

t.test(
  'a mirror older than the newest heartbeat this gateway knew (a restored leaf store) is not reconciled',
  async (t) => {
    const kvC = await new Kvm(control).create(siteBucket('site-c'), { history: 1 });
    const known = Date.now();
    await kvC.put('heartbeat', JSON.stringify({ time: new Date(known - 60_000).toISOString(), seq: 1, by: 'x' }));
    const got: FleetStatePresent[] = [];
    const watch = new SiteStateWatch({
      site: 'site-c',
      handlers: { ...handlers, reconcile: (p) => got.push(p) },
      policy: () => undefined,
      knownHeartbeat: () => ({ time: new Date(known).toISOString(), seq: 9, by: 'x' }),
      timers: systemTimers,
    });
    t.teardown(() => watch.close());
    calls.length = 0;
    watch.attach(link.current() as NatsConnection);
    await eventually('the old heartbeat is delivered', () => calls.includes('heartbeat 1'));
    await kvC.put('locks.c1', '{}');
    await eventually('a later change too', () => calls.includes('lock c1 {}'));
    t.equal(got.length, 0, 'no reconcile on the word of a mirror older than what this gateway had seen');
    t.equal(watch.isSynced(), false);
    await kvC.put('heartbeat', JSON.stringify({ time: new Date(known).toISOString(), seq: 9, by: 'x' }));
    await eventually('reconciled at a heartbeat as new as the known one', () => got.length === 1);
    t.same([...(got[0]?.locks ?? [])], ['c1']);
    t.equal(got[0]?.heartbeatTime, known);
  },
);

t.test('the status beat publishes the contract fields on statusSubject', async (t) => {
  const sub = control.subscribe(statusSubject(SITE, 'gw-1'), { max: 1 });
  await control.flush();
  const beat = new StatusBeat({
    site: SITE,
    gateway: 'gw-1',
    everyMs: 100,
    timers: systemTimers,
    connection: () => (link.isConnected() ? link.current() : null),
    sources: {
      policyRevision: () => 7,
      policyVersion: () => 'abc',
      stalenessSeconds: () => 1.5,
      sessions: () => 3,
      audit: () => ({ lastSeq: 10, publishedSeq: 9 }),
    },
  });
  beat.start();
  t.teardown(() => beat.stop());
  for await (const m of sub) {
    t.match(m.json(), {
      site: SITE,
      gateway: 'gw-1',
      time: String,
      policyRevision: 7,
      policyVersion: 'abc',
      stalenessSeconds: 1.5,
      sessions: 3,
      audit: { lastSeq: 10, publishedSeq: 9 },
    });
  }
});

t.test('the leaf going away and back: the link reconnects, the watch goes on', async (t) => {
  await leaf.stop();
  await eventually('disconnected', () => !link.isConnected());
  leaf.start();
  await eventually('reconnected', () => link.isConnected(), { timeoutMs: 15_000 });
  const c2 = await connect({ servers: url, tls: tlsFor(await pki.mint(fleetIds.control(TD))) });
  t.teardown(() => c2.close());
  const kv2 = await new Kvm(c2).open(siteBucket(SITE));
  calls.length = 0;
  await kv2.put('locks.after', '{}');
  await eventually('the watch sees a change made after the leaf restarted', () => calls.includes('lock after {}'), {
    timeoutMs: 15_000,
  });
  t.pass();
});

function tlsFor(svid: X509Svid) {
  return clientTlsOptions(svid, pki.bundles) as unknown as { cert: string; key: string; ca: string };
}
