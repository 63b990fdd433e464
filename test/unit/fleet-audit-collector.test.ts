/**
 * The centre's audit collector, transport-free: blocks made by the real publisher from a real audit log (via
 * the in-memory edge stream) are verified and appended; re-sends are ignored; gaps, tampering, conflicting
 * blocks, foreign blocks and bad checkpoints are problems that are never appended and stop the purge; the
 * per-gateway trail verifies with `verifyAuditDir` and survives a restart; verified events reach the SIEM sink.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint } from '../../gateway/audit/audit-checkpoint.js';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { AuditBlockPublisher } from '../../gateway/fleet/audit-block-publisher.js';
import { AuditCollector, type CollectedMessage } from '../../gateway/fleet/audit-collector.js';
import { edgeSeqOf } from '../../gateway/fleet/hub-provision.js';
import { isStreamFullError } from '../../gateway/fleet/audit-stream-nats.js';
import { gatewayAuditSourceName } from '../../gateway/fleet/hub-provision.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { FakeAuditStream, localRecords, SIGNER_ID, testSigner } from '../helpers/fleet-audit.js';

const SITE = 'site-a';
const GW = 'gw-1';

function tmp(t: { teardown(fn: () => void): void }, tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `vg-fleet-col-${tag}-`));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** A gateway's log with signed checkpoints, published in blocks of 5 into an in-memory edge stream. */
async function gatewayTrail(t: Test, events: number, checkpointsAt: readonly number[] = []) {
  const { signer, certPem } = await testSigner();
  const dir = tmp(t, 'gw');
  const log = await AuditLog.open({ dir, fsync: 'never', checkpoint: { signer } });
  t.teardown(() => log.close());
  const port = new FakeAuditStream();
  const timers = new FakeTimers(Date.now());
  const pub = new AuditBlockPublisher({ site: SITE, gateway: GW, dir, log, port, timers, maxBlockEvents: 5 });
  t.teardown(() => pub.close());
  await pub.ready();
  for (let i = 1; i < events; i++) {
    log.append({ type: 'jit.expired', grantId: `g-${i}` });
    log.flush();
    if (checkpointsAt.includes(i + 1)) log.checkpointNow();
  }
  for (let i = 0; i < 20; i++) {
    await timers.tick(200);
    await flushIo();
  }
  const msgs: CollectedMessage[] = port.msgs.map((m) => ({ subject: m.subject, data: m.body, edgeSeq: m.seq }));
  return { dir, log, msgs, certPem };
}

function collector(
  t: Test,
  dir: string,
  certPem?: string,
  sink: { events: AuditRecord[]; cps: Checkpoint[] } = { events: [], cps: [] },
) {
  const c = new AuditCollector({
    dir,
    ...(certPem === undefined ? {} : { trustBundlePem: certPem }),
    signerFor: () => SIGNER_ID,
    sink: { event: (_s, _g, r) => sink.events.push(r), checkpoint: (_s, _g, cp) => sink.cps.push(cp) },
  });
  t.teardown(() => c.close());
  return c;
}

const feed = (c: AuditCollector, msgs: readonly CollectedMessage[]) => {
  for (const m of msgs) c.handle(m);
  c.commit();
};

function withBody(
  m: CollectedMessage,
  edit: (b: { events: Record<string, unknown>[] } & Record<string, unknown>) => void,
): CollectedMessage {
  const b = JSON.parse(Buffer.from(m.data).toString()) as { events: Record<string, unknown>[] } & Record<
    string,
    unknown
  >;
  edit(b);
  return { ...m, data: Buffer.from(JSON.stringify(b)) };
}

t.test('verified in order: trail equals the local file, checkpoints verify, SIEM sees each once', async (t) => {
  const g = await gatewayTrail(t, 23, [10, 20]);
  const out = tmp(t, 'ctl');
  const sink = { events: [] as AuditRecord[], cps: [] as Checkpoint[] };
  const c = collector(t, out, g.certPem, sink);
  feed(c, g.msgs);
  const [r] = c.report();
  t.match(r, { site: SITE, gateway: GW, lastSeq: 23, lastCheckpointSeq: 20, problems: [] });
  t.equal(r!.headHash, g.log.head().hash);
  const trail = join(out, SITE, GW);
  t.same(localRecords(trail), localRecords(g.dir), 'the centre holds the same events');
  const v = verifyAuditDir(trail, { trustBundlePem: g.certPem, signer: SIGNER_ID, allowMissingCheckpoints: true });
  t.ok(v.ok, 'the trail verifies like a gateway audit directory');
  t.match(v, { events: 23, checkpoints: 2 });
  t.same(
    sink.events.map((e) => e.seq),
    Array.from({ length: 23 }, (_, i) => i + 1),
    'each event exported once, in order',
  );
  t.same(
    sink.cps.map((cp) => cp.seq),
    [10, 20],
  );
  const last = g.msgs.filter((m) => m.subject.endsWith('.events')).at(-1)!;
  t.same(
    c.purgeTargets(),
    [{ site: SITE, gateway: GW, keepFrom: last.edgeSeq }],
    'purge up to, not incl., the last block',
  );
});

t.test('re-sent identical blocks (and a re-grouped overlap) are ignored; nothing appended twice', async (t) => {
  const g = await gatewayTrail(t, 15);
  const sink = { events: [] as AuditRecord[], cps: [] as Checkpoint[] };
  const c = collector(t, tmp(t, 'ctl'), undefined, sink);
  feed(c, g.msgs);
  feed(c, g.msgs); // a redelivery of everything
  const blocks = g.msgs.filter((m) => m.subject.endsWith('.events'));
  // a publisher restart that re-groups: events 3..12 in one block overlapping what is verified
  const b1 = JSON.parse(Buffer.from(blocks[0]!.data).toString()) as { events: AuditRecord[] };
  const b2 = JSON.parse(Buffer.from(blocks[1]!.data).toString()) as { events: AuditRecord[] };
  const b3 = JSON.parse(Buffer.from(blocks[2]!.data).toString()) as { events: AuditRecord[] };
  const events = [...b1.events, ...b2.events, ...b3.events].slice(2, 12);
  const regrouped = {
    site: SITE,
    gateway: GW,
    first: 3,
    last: 12,
    prev: events[0]!.prev,
    head: events.at(-1)!.hash,
    events,
  };
  c.handle({ subject: blocks[0]!.subject, data: Buffer.from(JSON.stringify(regrouped)), edgeSeq: 99 });
  c.commit();
  t.match(c.report()[0], { lastSeq: 15, problems: [] });
  t.equal(localRecords(join(c['opts'].dir, SITE, GW)).length, 15, 'no event twice');
  t.same(
    sink.events.map((e) => e.seq),
    Array.from({ length: 15 }, (_, i) => i + 1),
    'the SIEM got each event once',
  );
});

t.test('gap, tampering, conflicting block, foreign block: problems, never appended, purge stops', async (t) => {
  const g = await gatewayTrail(t, 20);
  const blocks = g.msgs.filter((m) => m.subject.endsWith('.events'));
  t.equal(blocks.length, 4);
  const out = tmp(t, 'ctl');
  const c = collector(t, out);
  feed(c, [blocks[0]!]);
  t.equal(c.purgeTargets().length, 1);

  feed(c, [blocks[2]!]); // 11-15 before 6-10: a gap
  t.match(c.report()[0], { lastSeq: 5, problems: [/gap: events 6-10 missing/] });
  t.same(c.purgeTargets(), [], 'no purge past a problem');

  feed(c, [withBody(blocks[1]!, (b) => (b.events[2]!['grantId'] = 'forged'))]);
  t.match(c.report()[0]!.problems.at(-1), /event 8 does not match its hash \(modified\)/);

  feed(c, [withBody(blocks[1]!, (b) => b.events.splice(1, 1))]);
  t.match(c.report()[0]!.problems.at(-1), /do not span first..last|seq/, 'a deleted event');

  // a different, self-consistent block for seqs 1-5: a re-chained trail
  const other = await gatewayTrail(t, 6);
  feed(c, [other.msgs.find((m) => m.subject.endsWith('.events'))!]);
  t.match(c.report()[0]!.problems.at(-1), /conflict: block 1-5 differs/);

  feed(c, [withBody(blocks[1]!, (b) => (b['gateway'] = 'gw-2'))]);
  t.match(c.report()[0]!.problems.at(-1), /names site-a\/gw-2 on site-a\/gw-1/);
  feed(c, [{ ...blocks[1]!, data: Buffer.from('{"not":"a block"') }]);
  t.match(c.report()[0]!.problems.at(-1), /not valid JSON/);

  t.equal(c.report()[0]!.lastSeq, 5, 'nothing bad was appended');
  feed(c, [blocks[1]!, blocks[2]!, blocks[3]!]);
  t.equal(c.report()[0]!.lastSeq, 20, 'the genuine blocks still verify after the problems');
  t.same(c.purgeTargets(), [], 'the recorded problems keep the edge from being purged');
  c.close();
  const again = collector(t, out);
  feed(again, []);
  t.equal(again.purgeTargets().length, 0);
  feed(again, [blocks[3]!]);
  t.match(again.report()[0], { lastSeq: 20 }, 'a restart recovers the head from the trail');
  t.equal(again.report()[0]!.problems.length, 6, 'and the problems from problems.jsonl');
  t.ok(verifyAuditDir(join(out, SITE, GW), { allowMissingCheckpoints: true }).ok, 'the trail itself is intact');
});

t.test('checkpoints: bad signature, wrong signer, rewritten head; one ahead of the chain waits', async (t) => {
  const g = await gatewayTrail(t, 12, [10]);
  const cpMsg = g.msgs.find((m) => m.subject.endsWith('.checkpoints'))!;
  const blocks = g.msgs.filter((m) => m.subject.endsWith('.events'));
  const edit = (f: (cp: Record<string, unknown>) => void) => {
    const b = JSON.parse(Buffer.from(cpMsg.data).toString()) as { checkpoint: Record<string, unknown> };
    f(b.checkpoint);
    return { ...cpMsg, data: Buffer.from(JSON.stringify(b)) };
  };
  const c = collector(t, tmp(t, 'ctl'), g.certPem);
  feed(c, [cpMsg]);
  t.match(c.report()[0], { pendingCheckpoints: 1, lastCheckpointSeq: 0 }, 'ahead of the chain: pending');
  t.equal(c.purgeTargets().length, 0, 'nothing verified yet');
  feed(c, blocks);
  t.match(c.report()[0], { pendingCheckpoints: 0, lastCheckpointSeq: 10, problems: [] }, 'verified once its event is');
  feed(c, [edit((cp) => (cp['sig'] = Buffer.alloc(64).toString('base64url')))]);
  t.match(c.report()[0]!.problems.at(-1), /bad checkpoint signature/);
  feed(c, [edit((cp) => (cp['headHash'] = 'f'.repeat(64)))]);
  t.match(c.report()[0]!.problems.at(-1), /bad checkpoint signature/, 'a changed head breaks the signature');
  const foreign = await testSigner('spiffe://plant.example/fleet/site/site-a/gateway/gw-9');
  const strict = new AuditCollector({
    dir: tmp(t, 'ctl2'),
    trustBundlePem: foreign.certPem,
    signerFor: () => SIGNER_ID,
  });
  t.teardown(() => strict.close());
  feed(strict, [...blocks, cpMsg]);
  t.match(strict.report()[0]!.problems.at(-1), /does not chain to the trust bundle/);
});

t.test('more checkpoints ahead of the chain than are kept: the edge is not purged past a dropped one', async (t) => {
  const ahead = Array.from({ length: 17 }, (_, i) => 41 + i); // 17 checkpoints > MAX_PENDING (16)
  const g = await gatewayTrail(t, 60, ahead);
  const blocks = g.msgs.filter((m) => m.subject.endsWith('.events'));
  const cps = g.msgs.filter((m) => m.subject.endsWith('.checkpoints') && ahead.includes(seqOfCheckpoint(m)));
  t.equal(cps.length, 17);
  const c = collector(t, tmp(t, 'ctl'), g.certPem);
  // edge order as a gap would leave it: events 1-20, then the checkpoints naming 41-57, then events 21-30
  let edgeSeq = 0;
  const at = (m: CollectedMessage): CollectedMessage => ({ ...m, edgeSeq: ++edgeSeq });
  feed(c, blocks.slice(0, 4).map(at));
  const firstCheckpointEdgeSeq = edgeSeq + 1;
  feed(c, cps.map(at));
  feed(c, blocks.slice(4, 6).map(at));
  t.equal(c.report()[0]!.lastSeq, 30);
  const target = c.purgeTargets().find((x) => x.gateway === GW);
  t.ok(
    target === undefined || target.keepFrom <= firstCheckpointEdgeSeq,
    `the oldest unverified checkpoint (edge seq ${firstCheckpointEdgeSeq}) is never purged (target ${JSON.stringify(target)})`,
  );
  t.match(c.report()[0]!.problems, [/checkpoint 41 dropped unverified/], 'and the drop is recorded');
});

function seqOfCheckpoint(m: CollectedMessage): number {
  return (JSON.parse(Buffer.from(m.data).toString()) as { checkpoint: { seq: number } }).checkpoint.seq;
}

/** One gateway's messages as another gateway's (subject and body), e.g. for name-bound tests. */
function asGateway(msgs: readonly CollectedMessage[], site: string, gw: string): CollectedMessage[] {
  return msgs.map((m) => {
    const kind = m.subject.split('.')[3]!;
    const b = JSON.parse(Buffer.from(m.data).toString()) as Record<string, unknown>;
    return {
      ...m,
      subject: `audit.${site}.${gw}.${kind}`,
      data: Buffer.from(JSON.stringify({ ...b, site, gateway: gw })),
    };
  });
}

t.test("a message counts for a gateway only if the hub sourced it from that gateway's edge stream", async (t) => {
  const g = await gatewayTrail(t, 10);
  const out = tmp(t, 'ctl');
  const c = new AuditCollector({ dir: out, sites: ['site-a', 'site-b'], sourceOf: gatewayAuditSourceName });
  t.teardown(() => c.close());
  // site-a's leaf stored a chain of its own making under site-b's subject, in a stream of the same gateway name
  const forged = asGateway(g.msgs, 'site-b', GW).map((m) => ({ ...m, source: gatewayAuditSourceName(SITE, GW) }));
  feed(c, forged);
  t.same(c.report(), [], 'no trail for site-b from what came through site-a');
  t.notOk(existsSync(join(out, 'site-b')), 'nothing written for site-b');
  t.equal(c.ignored, forged.length);
  // ... and a sibling's chain stored in gw-1's stream (a gateway's stream made with a sibling's subjects)
  const sibling = asGateway(g.msgs, SITE, 'gw-2').map((m) => ({ ...m, source: gatewayAuditSourceName(SITE, GW) }));
  feed(c, sibling);
  t.same(c.report(), [], "no trail for gw-2 from what came through gw-1's stream");
  t.notOk(existsSync(join(out, SITE, 'gw-2')), 'nothing written for gw-2');
  feed(
    c,
    g.msgs.map((m) => ({ ...m, source: null })),
  );
  t.same(c.report(), [], 'not sourced at all: ignored too');
  t.equal(c.ignored, forged.length + sibling.length + g.msgs.length);
  feed(
    c,
    g.msgs.map((m) => ({ ...m, source: gatewayAuditSourceName(SITE, GW) })),
  );
  t.match(c.report(), [{ site: SITE, gateway: GW, lastSeq: 10, problems: [] }], 'positive control: its own stream');
  t.not(gatewayAuditSourceName('site-a', GW), gatewayAuditSourceName('site-b', GW));
  t.not(gatewayAuditSourceName(SITE, 'gw-1'), gatewayAuditSourceName(SITE, 'gw-2'));
});

t.test(
  'only configured sites; at most maxGatewaysPerSite trails per site, a new one only from a good first message',
  async (t) => {
    const g = await gatewayTrail(t, 10);
    const out = tmp(t, 'ctl');
    const c = new AuditCollector({ dir: out, sites: ['site-a'], maxGatewaysPerSite: 2 });
    t.teardown(() => c.close());
    feed(c, asGateway(g.msgs, 'site-q', 'gw-1'));
    t.notOk(existsSync(join(out, 'site-q')), 'a site not configured: no trail');
    const junk = (gw: string): CollectedMessage => ({
      subject: `audit.site-a.${gw}.events`,
      data: Buffer.from('{'),
      edgeSeq: 1,
    });
    feed(c, [junk('gw-7')]);
    t.notOk(existsSync(join(out, 'site-a', 'gw-7')), 'a new name whose first message is junk: no trail');
    feed(c, asGateway(g.msgs, 'site-a', 'gw-2'));
    feed(c, asGateway(g.msgs, 'site-a', 'gw-3'));
    feed(c, asGateway(g.msgs, 'site-a', 'gw-4'));
    t.same(
      c.report().map((r) => r.gateway),
      ['gw-2', 'gw-3'],
      'two trails at site-a, the third name ignored',
    );
    t.notOk(existsSync(join(out, 'site-a', 'gw-4')));
    c.close();
    // after a restart a trail on disk is reopened by any message: junk on it is a problem, not ignored
    const again = new AuditCollector({ dir: out, sites: ['site-a'], maxGatewaysPerSite: 2 });
    t.teardown(() => again.close());
    feed(again, [junk('gw-2')]);
    t.match(again.report(), [{ gateway: 'gw-2', problems: [/not valid JSON/] }]);
  },
);

t.test('the edge seq of a sourced message; the stream-full answers of nats-server', async (t) => {
  const hdr = (v: string | undefined) => ({ headers: { get: () => v } }) as unknown as Parameters<typeof edgeSeqOf>[0];
  t.equal(edgeSeqOf(hdr('AUDIT:x1TzAtgz 3 > > audit.site-a.gw-1.events pGN7FueS')), 3, 'nats-server 2.15 format');
  t.equal(edgeSeqOf(hdr('AUDIT 42')), 42, 'the short form');
  t.equal(edgeSeqOf(hdr(undefined)), null, 'not sourced: unknown');
  t.equal(edgeSeqOf(hdr('garbage')), null);
  t.equal(edgeSeqOf({ headers: undefined }), null);
  for (const full of ['maximum bytes exceeded', 'maximum messages exceeded', 'maximum messages per subject exceeded'])
    t.ok(isStreamFullError(new Error(full)), full);
  t.ok(isStreamFullError(new Error('insufficient resources')));
  t.notOk(isStreamFullError(new Error('TIMEOUT')), 'a timeout is not a full stream');
  t.notOk(isStreamFullError(new Error('no responders available for request')));
});
