/**
 * The fleet lab itself (test/fleet/fleet-lab.ts) and the provisioning it runs: a put at the hub reaches the
 * site's leaf mirror within seconds, the mirror survives a leaf restart while the whole hub is down, and a
 * gateway's audit block published into its own edge stream is sourced into the hub AUDIT stream, and a
 * gateway stream made later is found at the site and sourced too (`control serve`'s discovery).
 */
import t from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { startFleetLab } from './fleet-lab.js';
import { eventually } from '../helpers/eventually.js';
import {
  AUDIT_STREAM,
  HUB_DOMAIN,
  auditEventsSubject,
  blockMsgId,
  controlInboxPrefix,
  edgeAuditStream,
  siteBucket,
} from '../../gateway/fleet/fleet-topology.js';
import { ensureHubResources } from '../../gateway/fleet/hub-provision.js';
import { ensureEdgeResources } from '../../gateway/fleet/edge-provision.js';
import { syncSiteAuditSources } from '../../gateway/fleet/audit-source-sync.js';

t.test('fleet lab: mirror hub → leaf, offline survival, audit sourcing', async (t) => {
  const lab = await startFleetLab();
  t.teardown(() => lab.stop());
  const control = await lab.connectControl();
  const hubKv = await new Kvm(control).open(siteBucket('site-a'));
  const gw = await lab.connectGateway('site-a', 'gw-1');
  const leafKv = await new Kvm(gw).open(siteBucket('site-a'));

  await t.test('a put at the hub reaches the leaf mirror within 5 s', async (t) => {
    const t0 = Date.now();
    await hubKv.put('locks.l1', JSON.stringify({ id: 'l1' }));
    const e = await eventually('mirrored lock', async () => (await leafKv.get('locks.l1'))?.string(), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    t.equal(e, '{"id":"l1"}');
    t.comment(`hub → leaf mirror latency ${Date.now() - t0} ms`);
  });

  await t.test('provisioning is idempotent', async (t) => {
    const gateways = { 'site-a': ['gw-1'], 'site-b': ['gw-1'] };
    const again = await ensureHubResources(control, { sites: lab.sites, gateways });
    t.same(again, { bucketsCreated: [], mirrorConsumersCreated: [], sourcesAdded: [] });
    const edge = await ensureEdgeResources(gw, { site: 'site-a', gateway: 'gw-1', auditMaxBytes: 64 * 1024 * 1024 });
    t.same(edge, { mirrorCreated: false, auditCreated: false, auditUpdated: false, auditMismatch: null });
    const hubSources = (await (await jetstreamManager(control)).streams.info(AUDIT_STREAM)).config.sources ?? [];
    t.same(
      hubSources.map((s) => [s.external?.api, s.name]),
      [
        ['$JS.site-a.API', 'AUDIT-gw-1'],
        ['$JS.site-b.API', 'AUDIT-gw-1'],
      ],
      "one source per gateway stream: the provisioned gateway's at each site",
    );
  });

  await t.test('an audit block published at the leaf is sourced into the hub AUDIT stream', async (t) => {
    const subject = auditEventsSubject('site-a', 'gw-1');
    const ack = await jetstream(gw).publish(subject, '{"first":1,"last":1}', { msgID: blockMsgId('gw-1', 1, 1) });
    t.equal(ack.stream, edgeAuditStream('gw-1'), "stored in the gateway's own edge stream");
    const jsm = await jetstreamManager(control);
    const m = await eventually(
      'block at the hub',
      async () => jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject }),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
      },
    );
    t.equal(m.string(), '{"first":1,"last":1}');
    // control purges the edge stream through the link, with its per-site inbox prefix (leaf-link permissions).
    const c = await lab.connectAs(lab.control, lab.hubUrls, { inboxPrefix: controlInboxPrefix('site-a') });
    const edge = await jetstreamManager(c, { domain: 'site-a', checkAPI: false });
    const purged = await edge.streams.purge(edgeAuditStream('gw-1'), { seq: 2 });
    t.equal(purged.purged, 1, "the gateway's edge stream purged up to what the hub holds");
  });

  await t.test("a gateway's stream made later is found at its site and sourced", async (t) => {
    const gw2 = await lab.connectGateway('site-a', 'gw-2');
    const made = await ensureEdgeResources(gw2, { site: 'site-a', gateway: 'gw-2', auditMaxBytes: 1024 * 1024 });
    t.equal(made.auditCreated, true, 'gw-2 made its own stream');
    const c = await lab.connectAs(lab.control, lab.hubUrls, { inboxPrefix: controlInboxPrefix('site-a') });
    const edge = await jetstreamManager(c, { domain: 'site-a', checkAPI: false });
    const hub = await jetstreamManager(control, { domain: HUB_DOMAIN });
    const synced = await syncSiteAuditSources(edge, hub, 'site-a', 256);
    t.same(synced, { gateways: ['gw-1', 'gw-2'], consumersEnsured: ['gw-2'], sourcesAdded: ['site-a/gw-2'] });
    t.same(await syncSiteAuditSources(edge, hub, 'site-a', 256), {
      gateways: ['gw-1', 'gw-2'],
      consumersEnsured: [],
      sourcesAdded: [],
    });
    t.same((await syncSiteAuditSources(edge, hub, 'site-a', 1)).gateways, ['gw-1'], 'at most maxGateways');
    const subject = auditEventsSubject('site-a', 'gw-2');
    await jetstream(gw2).publish(subject, '{"first":1,"last":1}', { msgID: blockMsgId('gw-2', 1, 1) });
    const m = await eventually('gw-2 block at the hub', async () =>
      (await jetstreamManager(control)).streams.getMessage(AUDIT_STREAM, { last_by_subj: subject }),
    );
    t.equal(m.string(), '{"first":1,"last":1}');
    await gw2.close();
  });

  await t.test('the leaf keeps its mirror across a restart while the whole hub is down, then catches up', async (t) => {
    await gw.close();
    for (const n of [1, 2, 3]) await lab.hub.stop(n);
    const site = lab.site('site-a');
    await site.kill9Leaf();
    t.equal(site.pid, undefined, 'leaf is down');
    await site.restartLeaf();
    const gw2 = await lab.connectGateway('site-a', 'gw-1');
    const kv = await new Kvm(gw2).open(siteBucket('site-a'));
    t.equal((await kv.get('locks.l1'))?.string(), '{"id":"l1"}', 'last mirrored state served offline');
    for (const n of [1, 2, 3]) await lab.hub.start(n);
    await eventually('leaf relinked', () => site.linkUp(), { timeoutMs: 20_000, intervalMs: 200 });
    const c2 = await lab.connectControl();
    const hub2 = await new Kvm(c2).open(siteBucket('site-a'));
    await eventually('hub bucket writable again', async () => hub2.put('locks.l2', 'x'), {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    t.equal(
      await eventually('l2 mirrored', async () => (await kv.get('locks.l2'))?.string(), {
        timeoutMs: 10_000,
        intervalMs: 100,
      }),
      'x',
    );
  });
});
