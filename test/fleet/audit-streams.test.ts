/**
 * One edge audit stream per gateway (docs/fleet.md "Audit flow", "Sizing"), against real nats-server: while
 * the site's leaf is cut off from the hub and no collector drains it, a busy gateway (every request it answers
 * is audited) fills ITS stream — its publish is refused as no room and it holds its audit failure
 * (fail-closed) — while its sibling at the same leaf keeps publishing and serving. (A flood of denials from
 * peers without rights is rate-bounded by the audit throttle; allowed requests are not, so they fill it here.) Once the link and
 * `control serve` are back, serve finds both gateway streams at the site, sources them, and both trails are
 * collected and verified at the centre and each edge stream is purged. And with the rendered leaf configs, a
 * gateway cannot create, read or publish into a sibling's stream; what it may publish lands in its own.
 */
import { join } from 'node:path';
import t from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import {
  auditCheckpointsSubject,
  auditEventsSubject,
  controlInboxPrefix,
  fleetIds,
} from '../../gateway/fleet/fleet-topology.js';
import { eventually } from '../helpers/eventually.js';
import { localRecords } from '../helpers/fleet-audit.js';
import { serveAudit } from './control-serve-lab.js';
import { startFleetGateway, type FleetGateway } from './fleet-gateway.js';
import { startFleetLab } from './fleet-lab.js';

const TD = 'spiffe://plant.example';
const READER = `${TD}/op/reader`;
const POLICY = `version: 1
trustDomain: plant.example
rules:
  - id: read-all
    principals: [${TD}/op/*]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-99 }]
`;
const READ = Buffer.from([0x03, 0, 1, 0, 1]);
/** A's stream: the schema's minimum, filled by a few hundred audited requests. */
const A_MAX_BYTES = 65536;
/** The streams are named by the gateway (the topology's contract): written out, as an operator sees them. */
const STREAM_A = 'AUDIT-gw-1';
const STREAM_B = 'AUDIT-gw-2';

async function answer(gw: FleetGateway, who = READER): Promise<string> {
  const c = await gw.client(who);
  const r = await c.request(1, READ, 3000);
  c.close();
  return r === null ? 'none' : (r[0] ?? 0) & 0x80 ? `exception ${r[1]}` : 'ok';
}

/** Allowed reads on one connection until `until()` holds (each one audited by `gw`). */
async function flood(gw: FleetGateway, until: () => boolean): Promise<number> {
  let sent = 0;
  await eventually(
    'the flood of requests filled the stream',
    async () => {
      const c = await gw.client(READER);
      try {
        for (let i = 0; i < 50 && !until(); i++) {
          if ((await c.request(1, READ, 3000)) === null) break; // the gateway hung up: a new connection
          sent++;
        }
      } finally {
        c.close();
      }
      return until();
    },
    { timeoutMs: 30_000, intervalMs: 0 },
  );
  return sent;
}

async function serverErrors(nc: NatsConnection): Promise<string[]> {
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') seen.push(s.error.message);
  })();
  return seen;
}

t.test('a gateway whose stream is full holds alone; its sibling publishes and serves; both drain', async (t) => {
  // the lab provisions gw-1's stream with A's small cap (a gateway may create its stream, not change it)
  const lab = await startFleetLab({ sites: ['site-a'], auditMaxBytes: A_MAX_BYTES });
  t.teardown(() => lab.stop());
  const a = await startFleetGateway(lab, 'site-a', 'gw-1', {
    policy: POLICY,
    fleetYaml: `audit: { streamMaxBytes: ${A_MAX_BYTES} }`,
  });
  t.teardown(() => a.stop());
  const b = await startFleetGateway(lab, 'site-a', 'gw-2', { policy: POLICY });
  t.teardown(() => b.stop());
  t.equal(await answer(a), 'ok', 'A serves before its stream fills');
  t.equal(await answer(b), 'ok', 'B serves');
  await eventually(
    'both publish',
    () => a.gateway().fleet!.publisher.publishedSeq > 0 && b.gateway().fleet!.publisher.publishedSeq > 0,
  );

  // A WAN outage: nothing leaves the site, nothing drains its streams.
  await lab.site('site-a').cutLink();
  const requests = await flood(a, () => a.gateway().fleet?.publisher.streamFull === true);
  t.pass(`${requests} audited requests at A filled its ${A_MAX_BYTES}-byte stream`);
  t.notOk(a.gateway().audit.healthy(), 'A fails closed');
  t.match(a.gateway().audit.status().held, [
    { by: 'fleet-audit', error: /edge stream is full \(maximum bytes exceeded\)/ },
  ]);
  t.equal(await answer(a), 'exception 6', "A refuses even its authorised reader: its audit can't be buffered");

  // B's room is its own: it serves and publishes more audit than A's whole cap (a shared stream would have
  // refused it once the little room A's refused block left was taken), and holds nothing.
  const b0 = localRecords(b.gateway().config.audit.dir).length;
  const bBytes = (): number =>
    localRecords(b.gateway().config.audit.dir)
      .slice(b0)
      .reduce((n, e) => n + JSON.stringify(e).length, 0);
  const answersB = new Map<string, number>();
  const client = await b.client(READER);
  while (bBytes() < 2 * A_MAX_BYTES && answersB.size <= 1) {
    const r = await client.request(1, READ, 3000);
    const key = r === null ? 'none' : (r[0] ?? 0) & 0x80 ? `exception ${r[1]}` : 'ok';
    answersB.set(key, (answersB.get(key) ?? 0) + 1);
  }
  client.close();
  t.same([...answersB.keys()], ['ok'], `B answered all ${answersB.get('ok') ?? 0} requests while A is full`);
  const headB = localRecords(b.gateway().config.audit.dir).length;
  await eventually('B published all of it', () => b.gateway().fleet!.publisher.publishedSeq >= headB, {
    timeoutMs: 20_000,
    intervalMs: 50,
  });
  t.ok(bBytes() >= 2 * A_MAX_BYTES, `B published ${bBytes()} bytes of audit while A is full`);
  t.ok(b.gateway().audit.healthy(), 'B holds nothing');
  t.notOk(b.gateway().fleet!.publisher.streamFull, 'B never saw a full stream');
  t.ok(a.gateway().fleet!.publisher.streamFull && !a.gateway().audit.healthy(), 'A is still held meanwhile');

  // The link and the centre return: serve finds both gateway streams, sources B's too, collects and purges.
  await lab.site('site-a').restoreLink();
  const dir = join(lab.dir, 'control-audit');
  const serve = await serveAudit(lab, dir, ['site-a']);
  t.teardown(() => serve.stop());
  await eventually('A released once its stream drained', () => a.gateway().audit.healthy(), {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  // A's backlog (the refusals it audited while held) goes out first and may fill its small stream again before
  // the collector's next purge: A may hold once more for a moment, but must come back while the centre drains it.
  await eventually('A serves again', async () => (await answer(a)) === 'ok', { timeoutMs: 30_000, intervalMs: 200 });
  t.pass('A serves again');
  for (const gw of [a, b]) gw.gateway().audit.checkpointNow();
  for (const gw of [a, b]) {
    const key = `site-a/${gw.name}`;
    const local = await eventually(
      `${key} collected up to its local head`,
      () => {
        const local = localRecords(gw.gateway().config.audit.dir);
        const r = serve.report().find((x) => `${x.site}/${x.gateway}` === key);
        return r !== undefined && r.lastSeq === local.length && r.lastCheckpointSeq > 0 ? local : null;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    t.same(serve.report().find((x) => x.gateway === gw.name)?.problems, [], `${key}: no verification problem`);
    const trail = join(dir, 'site-a', gw.name);
    t.same(localRecords(trail), local, `${key}: the centre's trail equals the local file, event for event`);
    const v = verifyAuditDir(trail, {
      trustBundlePem: lab.caPem,
      signer: fleetIds.gateway(lab.trustDomain, 'site-a', gw.name),
    });
    t.ok(v.ok && v.checkpoints > 0, `${key}: chain and checkpoints verify at the centre ${JSON.stringify(v)}`);
  }
  t.ok(localRecords(a.gateway().config.audit.dir).length > requests, "A's collected trail holds every request");
  // Each edge stream was purged up to its last verified block (control across the leaf link).
  const ctl = await lab.connectAs(lab.control, lab.hubUrls, { inboxPrefix: controlInboxPrefix('site-a') });
  const edge = await jetstreamManager(ctl, { domain: 'site-a', checkAPI: false });
  for (const stream of [STREAM_A, STREAM_B])
    await eventually(
      `${stream} purged`,
      async () => {
        const s = (await edge.streams.info(stream)).state;
        return s.first_seq > 1 && s.messages < s.last_seq;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
  t.pass('both edge streams were purged');
});

t.test("with the rendered leaf config a gateway cannot create, read or fill a sibling's stream", async (t) => {
  const lab = await startFleetLab({ sites: ['site-a'] });
  t.teardown(() => lab.stop());
  // B has made its own stream, as a gateway does at start (positive control: the same calls as A's own)
  const asB = await lab.connectGateway('site-a', 'gw-2');
  const b = await startFleetGateway(lab, 'site-a', 'gw-2', { policy: POLICY });
  t.teardown(() => b.stop());
  await eventually("B's stream exists", async () => (await jetstreamManager(asB)).streams.info(STREAM_B));
  const asA = await lab.connectGateway('site-a', 'gw-1');
  const jsm = await jetstreamManager(asA);
  const seen = await serverErrors(asA);
  const errs = (): string[] => seen.filter((e) => !e.includes('$JS.API')); // the publishes below, not the API

  // What A may publish lands in its own stream, never in the one that holds B's blocks.
  const js = jetstream(asA);
  const own = [
    await js.publish(auditEventsSubject('site-a', 'gw-1'), 'x', { msgID: 'iso-1' }),
    await js.publish(auditCheckpointsSubject('site-a', 'gw-1'), 'x', { msgID: 'iso-2' }),
  ];
  t.same(
    own.map((ack) => ack.stream),
    [STREAM_A, STREAM_A],
    "A's messages are stored in its own stream",
  );
  t.equal((await jsm.streams.info(STREAM_A)).config.name, STREAM_A, 'positive control: A reads its own stream');

  await t.rejects(jsm.streams.add({ name: 'AUDIT-gw-3', subjects: ['audit.site-a.gw-3.events'] }), {
    message: 'Permissions Violation for Publish to "$JS.API.STREAM.CREATE.AUDIT-gw-3"',
  });
  await t.rejects(jsm.streams.info(STREAM_B), {
    message: `Permissions Violation for Publish to "$JS.API.STREAM.INFO.${STREAM_B}"`,
  });
  await t.rejects(jsm.direct.getMessage(STREAM_B, { last_by_subj: auditEventsSubject('site-a', 'gw-2') }), {
    message: `Permissions Violation for Publish to "$JS.API.DIRECT.GET.${STREAM_B}.audit.site-a.gw-2.events"`,
  });
  await t.rejects(jsm.streams.purge(STREAM_B), {
    message: `Permissions Violation for Publish to "$JS.API.STREAM.PURGE.${STREAM_B}"`,
  });
  asA.publish(auditEventsSubject('site-a', 'gw-2'), 'forged');
  asA.publish(auditCheckpointsSubject('site-a', 'gw-2'), 'forged');
  asA.publish('audit.site-a.gw-1.more', 'a third subject of its own');
  await eventually('the leaf refused the three publishes', () => errs().length >= 3, { timeoutMs: 3000 });
  t.same(errs().sort(), [
    'Permissions Violation for Publish to "audit.site-a.gw-1.more"',
    'Permissions Violation for Publish to "audit.site-a.gw-2.checkpoints"',
    'Permissions Violation for Publish to "audit.site-a.gw-2.events"',
  ]);
  const last = await (
    await jetstreamManager(asB)
  ).direct.getMessage(STREAM_B, {
    last_by_subj: auditEventsSubject('site-a', 'gw-2'),
  });
  t.not(last?.string(), 'forged', "nothing of A's in B's stream");
});
