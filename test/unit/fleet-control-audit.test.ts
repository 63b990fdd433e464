/**
 * `control serve`'s audit half and `control audit verify`, against a real nats-server (test/helpers/nats-hub.ts):
 * two gateways' real audit logs (signed checkpoints, dev-CA SVIDs) are published as contract blocks into the
 * hub AUDIT stream; serve collects them into per-gateway trails; `control audit verify` passes the complete
 * trail and fails the one whose stream skipped a block (a gap the collector recorded), naming it.
 */
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import type { Checkpoint } from '../../gateway/audit/audit-checkpoint.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { svidCheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { controlCommand } from '../../gateway/cli/control-command.js';
import { controlServe, type ServeState } from '../../gateway/cli/control-serve.js';
import { blockEventOf, encodeBlock, encodeCheckpoint } from '../../gateway/fleet/audit-block.js';
import {
  AUDIT_STREAM,
  auditCheckpointsSubject,
  auditEventsSubject,
  blockMsgId,
  fleetIds,
} from '../../gateway/fleet/fleet-topology.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { nullLogger } from '../../gateway/logger.js';
import { eventually } from '../helpers/eventually.js';
import { localRecords } from '../helpers/fleet-audit.js';
import { HUB_TD, startTestHub, type TestHub } from '../helpers/nats-hub.js';

let hub: TestHub;
const EDGE_A = 'EDGE_site-a';
/** What the hub stamps on messages sourced from the stand-in (a local source: its stream name alone). */
const auditSourceOf = (site: string, _gateway: string): string => `EDGE_${site}`;
t.before(async () => {
  hub = await startTestHub(['site-a']);
  await hub.createBuckets(['site-a']);
  // One node: the hub AUDIT stream sources a local stand-in of site-a's edge stream (in the fleet it sources
  // each site's across the leaf link); serve checks each message's source against it (auditSourceOf).
  const jsm = await jetstreamManager(await hub.connect());
  await jsm.streams.add({ name: EDGE_A, subjects: ['audit.site-a.>'] });
  await jsm.streams.add({ name: AUDIT_STREAM, subjects: [], sources: [{ name: EDGE_A }] });
});
t.teardown(() => hub?.stop());

/** A gateway's real audit log: `events` events, a signed checkpoint every 10, blocks of 5 events. */
async function gatewayLog(
  t: Tap,
  gateway: string,
  events: number,
  spiffeId = fleetIds.gateway(HUB_TD, 'site-a', gateway),
) {
  const dir = mkdtempSync(join(tmpdir(), `vg-gw-audit-${gateway}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const m = await hub.ca.mintX509Svid({ spiffeId });
  const privateKey = createPrivateKey({ key: m.keyDer, format: 'der', type: 'pkcs8' });
  const chainPem = m.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join('');
  const log = await AuditLog.open({
    dir,
    fsync: 'never',
    checkpoint: { signer: svidCheckpointSigner(() => ({ privateKey, chainPem, spiffeId })) },
  });
  for (let i = 1; i < events; i++) {
    log.append({ type: 'jit.expired', grantId: `g-${i}` });
    log.flush();
    if (i % 10 === 0) log.checkpointNow();
  }
  await log.close();
  const records = localRecords(dir);
  const cps = readFileSync(join(dir, 'checkpoints.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Checkpoint);
  return { records, cps };
}
type Tap = { teardown(fn: () => unknown): void };

async function publish(gateway: string, log: Awaited<ReturnType<typeof gatewayLog>>, skipBlock?: number) {
  const js = jetstream(await hub.connect(), { domain: 'hub' });
  for (let i = 0, block = 0; i < log.records.length; i += 5, block++) {
    const events = log.records.slice(i, i + 5);
    if (block === skipBlock) continue;
    const h = headers();
    h.set('Nats-Msg-Id', blockMsgId(gateway, events[0]!.seq, events[events.length - 1]!.seq));
    await js.publish(auditEventsSubject('site-a', gateway), encodeBlock('site-a', gateway, events.map(blockEventOf)), {
      headers: h,
    });
  }
  for (const cp of log.cps)
    await js.publish(auditCheckpointsSubject('site-a', gateway), encodeCheckpoint('site-a', gateway, cp));
}

t.test('serve collects every gateway trail; audit verify passes the whole one and names the gap', async (t) => {
  const whole = await gatewayLog(t, 'gw-1', 40);
  const gappy = await gatewayLog(t, 'gw-2', 30);
  await publish('gw-1', whole);
  await publish('gw-2', gappy, 2);

  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let state: ServeState | null = null;
  const serving = controlServe(['--config', hub.configFile], memoryIo({}, hub.dir), {
    stop: stopped,
    logger: nullLogger,
    auditSourceOf,
    onReady: (s) => (state = s),
  });
  const ready = await eventually('serve ready', () => state);
  const report = await eventually(
    'gw-1 collected',
    () => {
      const r = ready.audit?.collector.report() ?? [];
      const gw1 = r.find((x) => x.gateway === 'gw-1');
      return gw1?.lastSeq === whole.records.length && r.find((x) => x.gateway === 'gw-2')?.problems.length ? r : null;
    },
    { timeoutMs: 15_000, intervalMs: 100 },
  );
  t.equal(report.find((x) => x.gateway === 'gw-1')?.lastCheckpointSeq, whole.cps.at(-1)?.seq, 'checkpoints stored');
  t.equal(report.find((x) => x.gateway === 'gw-2')?.lastSeq, 10, 'gw-2 stops before the gap (blocks 1-2 of 6)');
  stop();
  t.equal(await serving, 0);

  const trail = join(hub.dir, 'fleet-audit', 'site-a', 'gw-1');
  t.ok(existsSync(trail), 'per-gateway trail under audit.dir/<site>/<gateway>');
  const io = memoryIo({}, hub.dir);
  const code = await controlCommand(['audit', 'verify', '--config', hub.configFile], io);
  const out = io.stdout.join('\n');
  t.equal(code, 1, 'one bad trail fails the command');
  t.match(out, new RegExp(`ok: site-a/gw-1: ${whole.records.length} events, ${whole.cps.length} checkpoints`));
  t.match(out, /FAIL: site-a\/gw-2: collector: .*/);
  const json = memoryIo({}, hub.dir);
  await controlCommand(['audit', 'verify', '--config', hub.configFile, '--json'], json);
  const rows = JSON.parse(json.stdout.join('')) as { gateway: string; ok: boolean }[];
  t.same(
    rows.map((r) => [r.gateway, r.ok]),
    [
      ['gw-1', true],
      ['gw-2', false],
    ],
  );
});

/** Runs `control serve` on `config` until `done(state)` holds, then stops it; resolves with serve's exit code. */
async function serveUntil(config: string, done: (s: ServeState) => boolean): Promise<number> {
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let state: ServeState | null = null;
  const serving = controlServe(['--config', config], memoryIo({}, hub.dir), {
    stop: stopped,
    logger: nullLogger,
    auditSourceOf,
    onReady: (s) => (state = s),
  });
  const ready = await eventually('serve ready', () => state);
  await eventually('collected', () => done(ready), { timeoutMs: 15_000, intervalMs: 100 });
  stop();
  return serving;
}

t.test('checkpoints must be signed by the gateway itself (audit.checkpointSigner; `any` relaxes it)', async (t) => {
  // gw-3's log is signed by another SVID of the same trust domain: valid, but not gw-3's
  const other = await gatewayLog(t, 'gw-3', 20, `spiffe://${HUB_TD}/ops/laptop`);
  await publish('gw-3', other);
  const gw3 = (s: ServeState) => s.audit?.collector.report().find((x) => x.gateway === 'gw-3');

  t.equal(await serveUntil(hub.configFile, (s) => (gw3(s)?.problems.length ?? 0) > 0), 0);
  const io = memoryIo({}, hub.dir);
  t.equal(await controlCommand(['audit', 'verify', '--config', hub.configFile, '--site', 'site-a'], io), 1);
  t.match(
    io.stdout.join('\n'),
    new RegExp(
      `FAIL: site-a/gw-3: collector: checkpoint \\d+ signed by spiffe://${HUB_TD}/ops/laptop, expected ${fleetIds.gateway(HUB_TD, 'site-a', 'gw-3').replace(/[.]/g, '\\.')}`,
    ),
    'the default: fleetIds.gateway(td, site, gateway)',
  );

  const anyConfig = join(hub.dir, 'fleet-control-any.yaml');
  writeFileSync(
    anyConfig,
    readFileSync(hub.configFile, 'utf8').replace(
      'audit: { dir: fleet-audit }',
      'audit: { dir: fleet-audit-any, checkpointSigner: any }',
    ),
  );
  t.equal(await serveUntil(anyConfig, (s) => gw3(s)?.lastSeq === other.records.length), 0);
  const anyIo = memoryIo({}, hub.dir);
  await controlCommand(['audit', 'verify', '--config', anyConfig, '--json'], anyIo);
  const rows = JSON.parse(anyIo.stdout.join('')) as { gateway: string; ok: boolean; checkpoints: number }[];
  t.same(
    rows.filter((r) => r.gateway === 'gw-3').map((r) => [r.ok, r.checkpoints]),
    [[true, other.cps.length]],
    'checkpointSigner: any — any SVID of the bundle',
  );
});
