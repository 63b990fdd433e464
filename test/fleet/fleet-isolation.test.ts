/**
 * Issue 15 item 6, isolation: site A's leaf and gateway cannot read site B's keys or publish on its subjects; a
 * rogue-CA or certificate-less leaf or gateway is refused. Every refusal is asserted as the concrete NATS/TLS
 * error, and each has a positive control (the same path works for what IS allowed) so a dead link cannot pass.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { blockEventOf, encodeBlock, type BlockEvent } from '../../gateway/fleet/audit-block.js';
import { NatsAuditCollector } from '../../gateway/fleet/audit-collector-nats.js';
import {
  AUDIT_SOURCE_CONSUMER,
  AUDIT_STREAM,
  auditDeliverSubject,
  controlInboxPrefix,
  edgeAuditStream,
  fleetIds,
  mirrorDeliverSubject,
  siteBucket,
  statusSubject,
} from '../../gateway/fleet/fleet-topology.js';
import { addHubAuditSources, ensureSourcingConsumer } from '../../gateway/fleet/hub-provision.js';
import { systemTimers } from '../../gateway/timers.js';
import { localRecords } from '../helpers/fleet-audit.js';
import { startFleetGateway } from './fleet-gateway.js';
import { freePort } from '../helpers/free-port.js';
import { startFleetLab, type FleetLab } from './fleet-lab.js';
import { NatsServerProcess } from './nats-process.js';
import { startRogueLeaf } from './rogue-leaf.js';
import { eventually } from '../helpers/eventually.js';

/** Errors the server sends asynchronously on a connection (-ERR 'Permissions Violation …'). */
async function serverErrors(nc: NatsConnection): Promise<string[]> {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') seen.push(s.error.message);
  })();
  return seen;
}

const forgedAsB = (subject: string): boolean => /^(audit|fleet\.status)\.site-b\./.test(subject);

/** Subjects a hub subscriber (control) received within `ms`. */
async function collect(nc: NatsConnection, subject: string): Promise<string[]> {
  const got: string[] = [];
  const sub = nc.subscribe(subject);
  void (async () => {
    for await (const m of sub) got.push(m.subject);
  })();
  await nc.flush();
  return got;
}

/**
 * A nats-server on loopback that presents an SVID with `spiffeId` and lets ANY client in (no client certificate
 * asked, no users): whether a gateway connects to it is decided by the gateway's own check of the server alone.
 */
async function openServer(lab: FleetLab, name: string, spiffeId: string) {
  const creds = await lab.writeCredentials(`server-${name}`, spiffeId, { server: true });
  const port = await freePort();
  const file = join(lab.dir, `server-${name}.conf`);
  await writeFile(
    file,
    [
      `server_name: "${name}"`,
      'host: "127.0.0.1"',
      `port: ${port}`,
      `tls { cert_file: "${creds.certFile}", key_file: "${creds.keyFile}", timeout: 5 }`,
    ].join('\n') + '\n',
  );
  const proc = new NatsServerProcess(name, file, join(lab.dir, `server-${name}.log`));
  proc.start();
  return { url: `tls://127.0.0.1:${port}`, log: () => proc.log(), stop: () => proc.stop() };
}

/** A well-formed hash chain of `n` events, as blocks carry them (what a leaf can make up on its own). */
async function freshChain(dir: string, n: number): Promise<BlockEvent[]> {
  const logDir = mkdtempSync(join(dir, 'chain-'));
  const log = await AuditLog.open({ dir: logDir, fsync: 'never' });
  for (let i = 1; i < n; i++) log.append({ type: 'jit.expired', grantId: `g-${i}` });
  await log.close();
  return localRecords(logDir).slice(0, n).map(blockEventOf);
}

const POLICY = `version: 1
trustDomain: plant.example
rules:
  - id: reads
    principals: [spiffe://plant.example/op/*]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-9 }]
`;

t.test('isolation between sites, and refusal of foreign certificates', async (t) => {
  const lab: FleetLab = await startFleetLab();
  t.teardown(() => lab.stop());
  const control = await lab.connectControl();
  const hubB = await new Kvm(control).open(siteBucket('site-b'));
  await hubB.put('policy', 'site-b secret');
  const atHub = await collect(control, '>');

  await t.test("site A's gateway cannot read site B's keys or publish as B or as another gateway", async (t) => {
    const gw = await lab.connectGateway('site-a', 'gw-1');
    const errs = await serverErrors(gw);
    const local = await jetstreamManager(gw);
    await t.rejects(local.streams.info(`KV_${siteBucket('site-b')}`), {
      message: `Permissions Violation for Publish to "$JS.API.STREAM.INFO.KV_site-site-b"`,
    });
    const viaHub = await jetstreamManager(gw, { domain: 'hub', checkAPI: false });
    await t.rejects(viaHub.streams.info(`KV_${siteBucket('site-b')}`), {
      message: `Permissions Violation for Publish to "$JS.hub.API.STREAM.INFO.KV_site-site-b"`,
    });
    const sub = gw.subscribe(mirrorDeliverSubject('site-b'));
    const closed = await sub.closed;
    t.match(String(closed), /Permissions Violation for Subscription to "fleet\.mirror\.site-b"/);
    gw.publish('audit.site-b.gw-1.events', 'forged');
    gw.publish(statusSubject('site-b', 'gw-1'), 'forged');
    gw.publish('audit.site-a.gw-2.events', 'forged');
    gw.publish(statusSubject('site-a', 'gw-1'), 'mine');
    await eventually('the server refused three publishes', () => errs.length >= 6, { timeoutMs: 3000 });
    t.same(errs.sort(), [
      'Permissions Violation for Publish to "$JS.API.STREAM.INFO.KV_site-site-b"',
      'Permissions Violation for Publish to "$JS.hub.API.STREAM.INFO.KV_site-site-b"',
      'Permissions Violation for Publish to "audit.site-a.gw-2.events"',
      'Permissions Violation for Publish to "audit.site-b.gw-1.events"',
      'Permissions Violation for Publish to "fleet.status.site-b.gw-1"',
      'Permissions Violation for Subscription to "fleet.mirror.site-b"',
    ]);
    await eventually('own status beat reached the hub (positive control)', () =>
      atHub.includes(statusSubject('site-a', 'gw-1')),
    );
    t.same(atHub.filter(forgedAsB), [], 'nothing forged as site B reached the hub');
    // Its own site bucket is readable (positive control).
    const hubA = await new Kvm(control).open(siteBucket('site-a'));
    await hubA.put('policy', 'site-a policy');
    const kvA = await new Kvm(gw).open(siteBucket('site-a'));
    t.equal(await eventually('own key mirrored', async () => (await kvA.get('policy'))?.string()), 'site-a policy');
  });

  await t.test("a gateway cannot change its site's edge resources or read a sibling's replies", async (t) => {
    const gw = await lab.connectGateway('site-a', 'gw-1');
    const local = await jetstreamManager(gw);
    const own = edgeAuditStream('gw-1');
    const kv = await local.streams.info(`KV_${siteBucket('site-a')}`); // positive control: it may read them
    const audit = await local.streams.info(own);
    await t.rejects(local.streams.update(kv.config.name, { ...kv.config, max_msgs: 1 }), {
      message: `Permissions Violation for Publish to "$JS.API.STREAM.UPDATE.KV_site-site-a"`,
    });
    await t.rejects(local.streams.update(own, { ...audit.config, max_age: 1_000_000_000 }), {
      message: `Permissions Violation for Publish to "$JS.API.STREAM.UPDATE.AUDIT-gw-1"`,
    });
    await t.rejects(local.consumers.update(own, AUDIT_SOURCE_CONSUMER, { deliver_subject: '_INBOX.site-a.gw-1.x' }), {
      message: /^Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.(CREATE|INFO)\.AUDIT-gw-1\.hub-source/,
    });
    await t.rejects(local.consumers.info(own, AUDIT_SOURCE_CONSUMER), {
      message: `Permissions Violation for Publish to "$JS.API.CONSUMER.INFO.AUDIT-gw-1.hub-source"`,
    });
    const viaControl = await lab.connectAs(lab.control, lab.hubUrls, { inboxPrefix: controlInboxPrefix('site-a') });
    const source = await (
      await jetstreamManager(viaControl, { domain: 'site-a', checkAPI: false })
    ).consumers.info(own, AUDIT_SOURCE_CONSUMER);
    t.equal(source.config.deliver_subject, auditDeliverSubject('site-a', 'gw-1'), 'the source consumer is unchanged');
    t.equal((await local.streams.info(own)).config.max_age, 0, "so is the gateway's audit stream");
    for (const inbox of ['_INBOX.site-a.gw-2.>', '_INBOX.>']) {
      const sub = gw.subscribe(inbox);
      t.match(
        String(await sub.closed),
        new RegExp(`Permissions Violation for Subscription to "${inbox.replace(/[.>]/g, '\\$&')}"`),
      );
    }
  });

  await t.test('a gateway of site B is not a user at site A', async (t) => {
    const creds = await lab.gateway('site-b', 'gw-1');
    await t.rejects(lab.connectAs(creds, lab.site('site-a').leafUrl, { reconnect: false }), {
      name: 'AuthorizationError',
      message: 'Authorization Violation',
    });
  });

  await t.test('rogue-CA and certificate-less gateways are refused in the TLS handshake', async (t) => {
    const rogueCa = await DevCa.create({ trustDomain: lab.trustDomain });
    const rogue = await lab.writeCredentials('rogue-gw', fleetIds.gateway(lab.trustDomain, 'site-a', 'gw-1'), {
      ca: rogueCa,
    });
    const url = lab.site('site-a').leafUrl;
    await t.rejects(
      connect({
        servers: url,
        reconnect: false,
        timeout: 3000,
        tls: { certFile: rogue.certFile, keyFile: rogue.keyFile, caFile: lab.caFile },
      }),
      // TLS 1.3: the client finishes first, so it sees the server's alert or, racing it, the reset.
      { code: /^(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET)$/ },
    );
    await t.rejects(connect({ servers: url, reconnect: false, timeout: 3000, tls: { caFile: lab.caFile } }), {
      code: /^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ECONNRESET)$/,
    });
    const log = await eventually('the leaf logged both refusals', async () => {
      const l = await lab.site('site-a').log();
      return /client didn't provide a certificate/.test(l) && /certificate signed by unknown authority/.test(l) && l;
    });
    t.match(
      log,
      /TLS handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority/,
    );
    t.match(log, /TLS handshake error: tls: client didn't provide a certificate/);
  });

  await t.test('a compromised site-A leaf (its own valid cert, no local auth) reaches nothing of site B', async (t) => {
    const creds = await lab.writeCredentials('evil-leaf-a', fleetIds.leaf(lab.trustDomain, 'site-a'));
    const evil = await startRogueLeaf({
      dir: lab.dir,
      name: 'evil-a',
      hubLeafUrls: lab.hubLeafUrls,
      creds,
      caFile: lab.caFile,
    });
    t.teardown(() => evil.stop());
    await eventually('evil leaf linked (it holds a valid site-a leaf SVID)', () => evil.linkUp(), {
      timeoutMs: 10_000,
      intervalMs: 100,
    });
    const nc = await evil.connect();
    const mirrorB: string[] = [];
    const sub = nc.subscribe(mirrorDeliverSubject('site-b'));
    void (async () => {
      for await (const m of sub) mirrorB.push(m.subject);
    })();
    // The hub never advertises B's subjects to this leaf, so the request finds nobody to answer.
    await t.rejects(nc.request(`$JS.hub.API.STREAM.INFO.KV_site-site-b`, '', { timeout: 2000 }), {
      name: 'RequestError',
      message: "no responders: '$JS.hub.API.STREAM.INFO.KV_site-site-b'",
    });
    await t.rejects(nc.request(`$JS.hub.API.DIRECT.GET.KV_site-site-b.$KV.site-site-b.policy`, '', { timeout: 2000 }), {
      name: 'RequestError',
      message: /^no responders/,
    });
    nc.publish('audit.site-b.gw-1.events', 'forged');
    nc.publish(statusSubject('site-b', 'gw-9'), 'forged');
    nc.publish(statusSubject('site-a', 'gw-9'), 'allowed');
    await nc.flush();
    await eventually('site-a status from the evil leaf reached the hub (positive control)', () =>
      atHub.includes(statusSubject('site-a', 'gw-9')),
    );
    // A change to B's bucket flows to B's real leaf, never to the evil one.
    await hubB.put('locks.x', 'y');
    const gwB = await lab.connectGateway('site-b', 'gw-1');
    const kvB = await new Kvm(gwB).open(siteBucket('site-b'));
    await eventually('B mirror got the lock (positive control)', async () => (await kvB.get('locks.x'))?.string());
    t.same(mirrorB, [], "the evil leaf saw none of B's mirror traffic");
    t.notOk(
      atHub.some((s) => s.includes('site-b.gw')),
      'nothing forged as site B reached the hub',
    );
  });

  await t.test(
    "what a compromised site-A leaf stores under another site's or gateway's subjects is not collected as theirs",
    async (t) => {
      // The real site-a leaf is replaced by one with its valid SVID whose gw-9 stream takes every audit subject.
      await lab.site('site-a').kill9Leaf();
      const evil = await startRogueLeaf({
        dir: lab.dir,
        name: 'evil-src',
        hubLeafUrls: lab.hubLeafUrls,
        creds: await lab.writeCredentials('evil-src-a', fleetIds.leaf(lab.trustDomain, 'site-a')),
        caFile: lab.caFile,
        domain: 'site-a',
      });
      t.teardown(async () => {
        await evil.stop();
        await lab.site('site-a').restartLeaf();
      });
      await eventually('the replacement leaf linked', () => evil.linkUp(), { timeoutMs: 10_000, intervalMs: 100 });
      const nc = await evil.connect();
      const local = await jetstreamManager(nc);
      const stream = edgeAuditStream('gw-9');
      await local.streams.add({ name: stream, subjects: ['audit.>'], storage: StorageType.File });
      await ensureSourcingConsumer(local, stream, AUDIT_SOURCE_CONSUMER, auditDeliverSubject('site-a', 'gw-9'));
      const hubAudit = await jetstreamManager(control, { domain: 'hub' });
      await addHubAuditSources(hubAudit, [{ site: 'site-a', gateway: 'gw-9' }]); // as control serve finds it
      const js = jetstream(nc);
      const chain = await freshChain(lab.dir, 3);
      await js.publish('audit.site-b.gw-9.events', encodeBlock('site-b', 'gw-9', chain)); // a new name at site-b
      await js.publish('audit.site-a.gw-8.events', encodeBlock('site-a', 'gw-8', chain)); // a sibling's name
      await js.publish('audit.site-a.gw-9.events', encodeBlock('site-a', 'gw-9', chain)); // positive control
      const atHubStream = (subject: string) =>
        hubAudit.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject }).catch(() => null);
      // The hub re-establishes its source of site-a's AUDIT on the replacement leaf with its own retry back-off
      // (it lost the stream at the kill -9), so this waits up to the fleet's 30 s catch-up bound, not 5 s.
      await eventually(
        'the hub stream sourced all three (the forgeries do reach it)',
        async () =>
          Boolean(
            (await atHubStream('audit.site-b.gw-9.events')) &&
            (await atHubStream('audit.site-a.gw-8.events')) &&
            (await atHubStream('audit.site-a.gw-9.events')),
          ),
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      const dir = join(lab.dir, 'collected-evil-src');
      const collector = new NatsAuditCollector(control, {
        dir,
        timers: systemTimers,
        sites: ['site-a', 'site-b'],
        name: 'evil-src',
      });
      await collector.start();
      t.teardown(() => collector.stop());
      await eventually(
        'the collector took the block that came with its own site (positive control)',
        () => collector.report().some((r) => r.site === 'site-a' && r.gateway === 'gw-9' && r.lastSeq === 3),
        { timeoutMs: 15_000, intervalMs: 100 },
      );
      t.same(
        collector.report().filter((r) => r.site === 'site-b'),
        [],
        "no site-b trail from what came through site-a's leaf",
      );
      t.notOk(existsSync(join(dir, 'site-b')), 'nothing written for site-b');
      t.same(
        collector.report().filter((r) => r.gateway === 'gw-8'),
        [],
        "no trail for site-a's gw-8 from what came through gw-9's stream",
      );
      t.notOk(existsSync(join(dir, 'site-a', 'gw-8')), 'nothing written for gw-8');
      t.ok(collector.collector.ignored >= 2, 'both forgeries were seen and ignored');
    },
  );

  await t.test('rogue-CA and certificate-less leaves are refused by the hub', async (t) => {
    const rogueCa = await DevCa.create({ trustDomain: lab.trustDomain });
    const rogue = await lab.writeCredentials('rogue-leaf', fleetIds.leaf(lab.trustDomain, 'site-a'), { ca: rogueCa });
    const r1 = await startRogueLeaf({
      dir: lab.dir,
      name: 'rogue-ca',
      hubLeafUrls: lab.hubLeafUrls,
      creds: rogue,
      caFile: lab.caFile,
    });
    const r2 = await startRogueLeaf({
      dir: lab.dir,
      name: 'no-cert',
      hubLeafUrls: lab.hubLeafUrls,
      creds: null,
      caFile: lab.caFile,
    });
    t.teardown(() => Promise.all([r1.stop(), r2.stop()]));
    const hubLogs = async (): Promise<string> => (await Promise.all([1, 2, 3].map((n) => lab.hub.log(n)))).join('\n');
    await eventually(
      'hub refused both handshakes',
      async () => {
        const logs = await hubLogs();
        return (
          /TLS leafnode handshake error: tls: client didn't provide a certificate/.test(logs) &&
          /TLS leafnode handshake error: tls: failed to verify certificate: x509: certificate signed by unknown authority/.test(
            logs,
          )
        );
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    t.notOk(await r1.linkUp(), 'rogue-CA leaf has no link');
    t.notOk(await r2.linkUp(), 'certificate-less leaf has no link');
  });
  await t.test("a gateway connects only to a server with its site's leaf SVID (fleetIds.leaf)", async (t) => {
    const td = lab.trustDomain;
    const impostor = await openServer(lab, 'impostor', fleetIds.leaf(td, 'site-b'));
    const genuine = await openServer(lab, 'genuine', fleetIds.leaf(td, 'site-a'));
    t.teardown(() => Promise.all([impostor.stop(), genuine.stop()]));
    const bad = await startFleetGateway(lab, 'site-a', 'gw-7', { policy: POLICY, leafUrl: impostor.url });
    t.teardown(() => bad.stop());
    const good = await startFleetGateway(lab, 'site-a', 'gw-8', { policy: POLICY, leafUrl: genuine.url });
    t.teardown(() => good.stop());
    await eventually('positive control: the link is up to a server with the site-a leaf ID', () =>
      good.gateway().fleet?.link.isConnected(),
    );
    // The impostor (another site's leaf SVID, same CA) would take anyone: the gateway hangs up in the handshake.
    await eventually('the gateway tried the impostor and refused it in the TLS handshake', async () =>
      /TLS handshake error/.test(await impostor.log()),
    );
    t.notOk(bad.gateway().fleet?.link.isConnected(), "no link to a server that is not site-a's leaf");
  });
});
