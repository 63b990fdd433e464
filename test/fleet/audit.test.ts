/**
 * Issue 15 "Verified by" 4 — audit: under load with two link cuts, a `kill -9` of an edge leaf and of a
 * gateway process (`verigate run` as a child process), the hub holds every (gateway, seq) 1..N with no gap and
 * no duplicate, the chains and checkpoints verify at the centre, and the counts equal the local files; a tiny
 * edge stream cap triggers fail-closed (healthy() false, /readyz says why, the held metric) and loses nothing
 * once the centre drains the edge stream.
 *
 * The issue's 60 s of load, with two cuts and two kill -9 in it (the fleet suite stays inside issue 15 item 8's
 * 4 minutes at -j2). The tiny-cap site runs beside it;
 * only once its cap was hit does `verigate control serve` start (as an operator runs it: heartbeat, collector,
 * edge purges across the leaf link) and drain it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { NatsAuditCollector } from '../../gateway/fleet/audit-collector-nats.js';
import { AUDIT_STREAM, controlInboxPrefix, fleetIds, HUB_DOMAIN } from '../../gateway/fleet/fleet-topology.js';
import { systemTimers } from '../../gateway/timers.js';
import { eventually } from '../helpers/eventually.js';
import { localRecords } from '../helpers/fleet-audit.js';
import { TestMbapsClient, type ClientCreds } from '../helpers/gateway-harness.js';
import { startFleetGateway, type FleetGateway } from './fleet-gateway.js';
import { serveAudit } from './control-serve-lab.js';
import { startFleetLab, type FleetLab } from './fleet-lab.js';

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
const LOAD_MS = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests in a loop against whatever port the gateway has now (it changes when the child restarts). */
function load(port: () => number | null, creds: ClientCreds, answers: Map<string, number>) {
  let running = true;
  const loop = async () => {
    let c: TestMbapsClient | null = null;
    while (running) {
      try {
        const p = port();
        if (p === null) throw new Error('no gateway');
        c ??= await TestMbapsClient.connect(p, creds);
        const r = await c.request(1, READ, 2000);
        const a = r === null ? 'none' : (r[0] ?? 0) & 0x80 ? `exception ${r[1]}` : 'ok';
        answers.set(a, (answers.get(a) ?? 0) + 1);
        if (r === null) throw new Error('closed');
        await sleep(15);
      } catch {
        c?.close();
        c = null;
        await sleep(200);
      }
    }
    c?.close();
  };
  const done = Promise.all([loop(), loop()]);
  return async () => {
    running = false;
    await done;
  };
}

/** `verigate run` on the gateway.yaml of a fleet gateway, as a child process; resolves once it is ready. */
async function runChild(yaml: string): Promise<{ proc: ChildProcess; mbaps: number; metrics: number }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'gateway/cli/verigate.ts', 'run', '--config', yaml], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`verigate run did not start: ${out.slice(-2000)}`)), 30_000);
    proc.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n').find((l) => l.includes('"verigate ready"'));
      if (line && timer) {
        clearTimeout(timer);
        const r = JSON.parse(line) as { mbaps: number; metrics: number };
        resolve({ proc, mbaps: r.mbaps, metrics: r.metrics });
      }
    });
    proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
    proc.once('exit', (code) => reject(new Error(`verigate run exited ${code}: ${out.slice(-2000)}`)));
  });
}

function collector(lab: FleetLab, dir: string, nc: Awaited<ReturnType<FleetLab['connectControl']>>, sites: string[]) {
  return new NatsAuditCollector(nc, {
    dir,
    timers: systemTimers,
    trustBundlePem: lab.caPem,
    signerFor: (site, gw) => fleetIds.gateway(lab.trustDomain, site, gw),
    name: `audit-${sites.join('-')}`,
    filterSubjects: sites.map((s) => `audit.${s}.>`),
    siteConnection: (site) => lab.connectAs(lab.control, lab.hubUrls, { inboxPrefix: controlInboxPrefix(site) }),
  });
}

/**
 * Every (seq) of one gateway's blocks in the hub stream, as stored there (duplicates would show twice), and the
 * bytes of its event blocks.
 */
async function hubSeqs(lab: FleetLab): Promise<{ seqs: Map<string, number[]>; bytes: Map<string, number> }> {
  const nc = await lab.connectControl();
  const jsm = await jetstreamManager(nc, { domain: HUB_DOMAIN });
  const total = (await jsm.streams.info(AUDIT_STREAM)).state.messages;
  const oc = await jetstream(nc, { domain: HUB_DOMAIN }).consumers.get(AUDIT_STREAM);
  const seqs = new Map<string, number[]>();
  const bytes = new Map<string, number>();
  let seen = 0;
  while (seen < total) {
    const batch = await oc.fetch({ max_messages: 1000, expires: 2000 });
    let n = 0;
    for await (const m of batch) {
      n++;
      if (!m.subject.endsWith('.events')) continue;
      const key = m.subject.split('.').slice(1, 3).join('/');
      const b = JSON.parse(m.string()) as { events: AuditRecord[] };
      seqs.set(key, [...(seqs.get(key) ?? []), ...b.events.map((e) => e.seq)]);
      bytes.set(key, (bytes.get(key) ?? 0) + m.data.length);
    }
    if (n === 0) break;
    seen += n;
  }
  return { seqs, bytes };
}

async function metricsText(port: number): Promise<{ ready: number; readyz: string; metrics: string }> {
  const r = await fetch(`http://127.0.0.1:${port}/readyz`);
  const m = await fetch(`http://127.0.0.1:${port}/metrics`);
  return { ready: r.status, readyz: await r.text(), metrics: await m.text() };
}

t.test('audit reaches the hub complete and verified through cuts and kill -9; a full edge fails closed', async (t) => {
  // site-c's tiny cap is set when its stream is made (a gateway may create it, not change it)
  const lab = await startFleetLab({ sites: ['site-a', 'site-b', 'site-c'], auditMaxBytesBySite: { 'site-c': 65536 } });
  t.teardown(() => lab.stop());
  const gws: FleetGateway[] = [];
  t.teardown(async () => {
    for (const g of gws) await g.stop();
  });
  const start = async (site: string, fleetYaml?: string) => {
    const g = await startFleetGateway(lab, site, 'gw-1', { policy: POLICY, ...(fleetYaml ? { fleetYaml } : {}) });
    gws.push(g);
    return g;
  };
  const gwA = await start('site-a');
  // site-b's gateway runs as `verigate run` (child process): made by the same helper, then handed over
  const hostB = await start('site-b');
  await hostB.gateway().stop();
  const yamlB = join(hostB.harness.dir, 'gateway.yaml');
  let childB = await runChild(yamlB);
  t.teardown(() => void childB.proc.kill('SIGKILL'));
  // site-c: a tiny edge stream cap (the schema's minimum), fail-closed (the default)
  const gwC = await start('site-c', 'audit: { streamMaxBytes: 65536 }');

  const control = await lab.connectControl();
  const mainDir = join(lab.dir, 'control-audit');
  const main = collector(lab, mainDir, control, ['site-a', 'site-b']);
  await main.start();
  t.teardown(() => main.stop());

  const answers = new Map<string, number>();
  const creds = [await gwA.mint(READER), await hostB.mint(READER), await gwC.mint(READER)];
  const stops = [
    load(() => gwA.port(), creds[0]!, new Map()),
    load(
      () => (childB.proc.exitCode === null && childB.proc.signalCode === null ? childB.mbaps : null),
      creds[1]!,
      new Map(),
    ),
    load(() => gwC.port(), creds[2]!, answers),
  ];
  const began = Date.now();

  // The tiny cap fills while no collector drains site-c: the audit failure policy applies.
  await eventually('site-c edge stream full', () => gwC.gateway().fleet?.publisher.streamFull, {
    timeoutMs: 15_000,
    intervalMs: 50,
  });
  t.notOk(gwC.gateway().audit.healthy(), 'fail-closed: the gateway denies while its edge stream is full');
  const atFill = localRecords(gwC.gateway().config.audit.dir).length;
  const held = await metricsText(gwC.gateway().endpoints.metrics!.port);
  t.equal(held.ready, 503, '/readyz fails');
  t.match(held.readyz, /edge stream is full \(maximum bytes exceeded\)/, '/readyz says why');
  t.match(held.metrics, /verigate_audit_held\{by="fleet-audit"\} 1/, 'the held metric');
  t.match(held.metrics, /verigate_fleet_audit_stream_full 1/);
  await eventually('requests refused', () => (answers.get('exception 6') ?? 0) > 0, { timeoutMs: 5000 });

  // Two link cuts, a leaf and a gateway killed, all under load.
  await lab.site('site-a').cutLink();
  await sleep(3000);
  await lab.site('site-a').restoreLink();
  await lab.site('site-b').kill9Leaf();
  await sleep(1000);
  await lab.site('site-b').restartLeaf();
  await lab.site('site-b').cutLink();
  await sleep(3000);
  await lab.site('site-b').restoreLink();
  childB.proc.kill('SIGKILL');
  await new Promise((r) => childB.proc.once('exit', r));
  childB = await runChild(yamlB);

  // `verigate control serve` drains site-c's edge stream (its purges cross the leaf link on a connection with
  // site-c's control inbox prefix): publishing resumes where it stopped, the hold is released
  const cDir = join(lab.dir, 'control-audit-c');
  const colC = await serveAudit(lab, cDir, ['site-c']);
  t.teardown(() => colC.stop());
  await eventually('site-c released', () => gwC.gateway().audit.healthy(), { timeoutMs: 20_000, intervalMs: 100 });
  const servedAgain = answers.get('ok') ?? 0;
  await eventually('site-c serves again', () => (answers.get('ok') ?? 0) > servedAgain, { timeoutMs: 5000 });
  t.equal((await metricsText(gwC.gateway().endpoints.metrics!.port)).ready, 200, '/readyz ok again');

  await sleep(Math.max(0, LOAD_MS - (Date.now() - began)));
  // Enough audit through site-c's tiny edge stream that it was drained and filled again (however fast this
  // machine is): then "nothing lost" below covers more than one fill.
  await eventually(
    `site-c wrote twice the ${atFill} events that filled its edge stream`,
    () => localRecords(gwC.gateway().config.audit.dir).length >= 2 * atFill,
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  for (const stop of stops) await stop();
  // a checkpoint over each in-process gateway's tail now, rather than at its 60 s interval
  gwA.gateway().audit.checkpointNow();
  gwC.gateway().audit.checkpointNow();

  const gateways = [
    { key: 'site-a/gw-1', dir: gwA.gateway().config.audit.dir, trail: join(mainDir, 'site-a', 'gw-1'), col: main },
    { key: 'site-b/gw-1', dir: join(hostB.harness.dir, 'audit'), trail: join(mainDir, 'site-b', 'gw-1'), col: main },
    { key: 'site-c/gw-1', dir: gwC.gateway().config.audit.dir, trail: join(cDir, 'site-c', 'gw-1'), col: colC },
  ].map((g) => ({ ...g, minEvents: g.key === 'site-c/gw-1' ? 2 * atFill : 300 }));
  for (const g of gateways) {
    const local = await eventually(
      `${g.key} collected up to its local head`,
      () => {
        const local = localRecords(g.dir);
        const r = g.col.report().find((x) => `${x.site}/${x.gateway}` === g.key);
        return r !== undefined && r.lastSeq === local.length && local.length > 0 ? local : null;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    const r = g.col.report().find((x) => `${x.site}/${x.gateway}` === g.key)!;
    t.same(r.problems, [], `${g.key}: no verification problem`);
    t.ok(local.length >= g.minEvents, `${g.key}: ${local.length} events under load (≥ ${g.minEvents})`);
    t.same(localRecords(g.trail), local, `${g.key}: the centre's trail equals the local file, event for event`);
    const [site, gw] = g.key.split('/');
    const v = verifyAuditDir(g.trail, {
      trustBundlePem: lab.caPem,
      signer: fleetIds.gateway(lab.trustDomain, site!, gw!),
    });
    t.ok(v.ok, `${g.key}: chain and checkpoints verify at the centre ${JSON.stringify(v)}`);
    t.ok(v.ok && v.checkpoints > 0, `${g.key}: checkpoints arrived`);
  }
  const hub = await hubSeqs(lab);
  for (const g of gateways) {
    const n = localRecords(g.dir).length;
    const seqs = hub.seqs.get(g.key) ?? [];
    const dup = seqs.length - new Set(seqs).size;
    const missing = Array.from({ length: n }, (_, i) => i + 1).filter((s) => !seqs.includes(s));
    t.equal(dup, 0, `${g.key}: no (gateway, seq) twice in the hub stream`);
    t.same(missing, [], `${g.key}: every seq 1..${n} in the hub stream`);
  }
  const throughC = hub.bytes.get('site-c/gw-1') ?? 0;
  t.ok(throughC > 65_536, `${throughC} bytes of site-c blocks passed through its 65536-byte edge stream, none lost`);
  // The purge is answered: its reply comes back under site-c's control inbox prefix, the only replies the
  // leaf may send across the link (over the plain hub connection the leaf purges but its answer is dropped, so
  // every purge waits out its timeout and is sent again: none is ever answered). One that timed out on a busy
  // machine stays due and is sent again after the next fetch (about a second): the last one must be answered.
  t.ok(colC.purges('site-c').includes('ok'), 'edge purges of control serve are answered');
  await eventually('the last edge purge of site-c to be answered', () => colC.purges('site-c').at(-1) === 'ok', {
    timeoutMs: 30_000,
  });
  const purges = colC.purges('site-c');
  t.pass(
    `the last edge purge was answered (${purges.filter((p) => p === 'failed').length} of ${purges.length} timed out and were sent again)`,
  );
  const recovered = localRecords(gateways[1]!.dir).filter((e) => e.type === 'audit.started').length;
  t.ok(recovered >= 3, `site-b's gateway ran ${recovered} times (in-process, child, child after kill -9)`);
  t.ok((answers.get('exception 6') ?? 0) > 0, `site-c answered 0x06 while held (${JSON.stringify([...answers])})`);
});
