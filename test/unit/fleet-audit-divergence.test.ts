/**
 * The block publisher and the durability of what it copies (gateway/fleet/audit-block-publisher.ts):
 * - it publishes only events the log has fdatasync'ed, so a power cut under fsync `interval` cannot leave the
 *   edge holding events the disk lost;
 * - an edge trail ahead of the local one (a power cut under fsync `never`, a reinstalled gateway under the same
 *   name) holds the audit log failing as "edge trail diverged" instead of silently skipping the local events
 *   up to the stream's last seq; the hold ends once an operator has cleared the gateway's edge trail;
 * - a normal restart still resumes after the last stored block, without a hold.
 * The publisher's timers are fake; the log's interval fsync runs on timers of its own, advanced by the test.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, type AuditLogOptions } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { AuditBlockPublisher, FLEET_AUDIT_DIVERGED } from '../../gateway/fleet/audit-block-publisher.js';
import { AuditCollector } from '../../gateway/fleet/audit-collector.js';
import { eventually, flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { FakeAuditStream, localRecords } from '../helpers/fleet-audit.js';

function tmp(t: Test, prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function rig(t: Test) {
  const port = new FakeAuditStream();
  const timers = new FakeTimers(Date.now());
  const open = async (dir: string, log: Partial<AuditLogOptions> = {}) => {
    const logTimers = new FakeTimers(Date.now()); // the interval fsync runs only when the test says so
    const l = await AuditLog.open({ dir, fsync: 'interval', timers: logTimers, ...log });
    const p = new AuditBlockPublisher({
      site: 'site-a',
      gateway: 'gw-1',
      dir,
      log: l,
      port,
      timers,
      maxBlockEvents: 8,
      maxBlockDelayMs: 200,
      retry: { initialMs: 100, maxMs: 100 },
    });
    t.teardown(async () => {
      await p.close();
      await l.close();
    });
    await p.ready();
    await flushIo();
    /** Lets the background fdatasync run and complete. */
    const sync = async () => {
      const before = l.durableSeq();
      await logTimers.tick(200);
      await eventually('the background fdatasync', () => l.durableSeq() > before);
    };
    return { log: l, p, sync };
  };
  const publish = async () => {
    for (let i = 0; i < 5; i++) {
      await timers.tick(300);
      await flushIo();
    }
  };
  const append = (log: AuditLog, n: number, tag: string) => {
    for (let i = 0; i < n; i++) log.append({ type: 'jit.expired', grantId: `${tag}${i}` });
    log.flush();
  };
  return { port, timers, open, publish, append };
}

/** Keeps the first `lines` lines of the newest segment: what a power cut leaves of the unsynced tail. */
function powerCut(dir: string, lines: number): void {
  const seg = join(dir, listSegments(dir).at(-1)!);
  writeFileSync(seg, readFileSync(seg, 'utf8').split('\n').slice(0, lines).join('\n') + '\n');
}

t.test('fsync interval: only fdatasynced events are published, so a power cut leaves no edge copy ahead', async (t) => {
  const r = rig(t);
  const dir = tmp(t, 'vg-div-');
  const a = await r.open(dir);
  r.append(a.log, 39, 'a'); // seqs 2..40 after audit.started
  await r.publish();
  t.equal(a.p.publishedSeq, 0, 'written, not yet fdatasynced: not published');
  await a.sync();
  await r.publish();
  t.equal(a.p.publishedSeq, 40, 'published once durable');
  r.append(a.log, 10, 'a2'); // 41..50, never synced
  await r.publish();
  t.equal(a.p.publishedSeq, 40, 'the unsynced tail stays local');
  await a.p.close();
  await a.log.close();
  powerCut(dir, 45); // the power cut took 46..50

  const b = await r.open(dir);
  t.same(b.log.status().held, [], 'resumes without a hold');
  r.append(b.log, 19, 'b');
  await b.sync();
  await r.publish();
  const local = localRecords(dir);
  const stored = new Map<number, string>();
  for (const bl of r.port.blocks()) for (const e of bl.events) stored.set(e.seq, e.hash);
  t.same(
    local.filter((e) => stored.get(e.seq) !== e.hash).map((e) => e.seq),
    [],
    'every local event reaches the edge',
  );
  t.equal(b.p.publishedSeq, local.at(-1)!.seq);
  const col = new AuditCollector({ dir: tmp(t, 'vg-div-col-') });
  r.port.msgs.forEach((m, i) => col.handle({ subject: m.subject, data: m.body, edgeSeq: i + 1 }));
  t.same(col.report()[0]?.problems ?? [], [], 'the hub verifies the trail without a problem');
  col.close();
});

t.test('fsync always: every batch is published as soon as it is written (durable at once)', async (t) => {
  const r = rig(t);
  const a = await r.open(tmp(t, 'vg-div-'), { fsync: 'always' });
  r.append(a.log, 19, 'a');
  await r.publish();
  t.equal(a.p.publishedSeq, 20);
});

t.test('an edge trail ahead of the local head (power cut under fsync never) holds the failure', async (t) => {
  const r = rig(t);
  const dir = tmp(t, 'vg-div-');
  const a = await r.open(dir, { fsync: 'never' });
  r.append(a.log, 39, 'a');
  await r.publish();
  t.equal(a.p.publishedSeq, 40, 'under never, written counts as durable');
  await a.p.close();
  await a.log.close();
  powerCut(dir, 30);

  const b = await r.open(dir, { fsync: 'never' });
  r.append(b.log, 19, 'b'); // local 31..50: seqs 31..40 differ from the edge's
  await r.publish();
  t.match(b.log.status().held, [{ by: 'fleet-audit', error: /^fleet audit: edge trail diverged: .*\b40\b/ }]);
  t.notOk(b.log.healthy(), 'fail-closed: the gateway denies until an operator acts');
  t.equal(r.port.blocks().at(-1)!.last, 40, 'nothing of the new local events was published over the old trail');
  t.equal(b.p.publishedSeq, 0);
});

t.test(
  'a reinstalled gateway under the same name holds the failure; cleared by the operator, it publishes',
  async (t) => {
    const r = rig(t);
    const a = await r.open(tmp(t, 'vg-div-a-'), { fsync: 'never' });
    r.append(a.log, 39, 'a');
    await r.publish();
    t.equal(a.p.publishedSeq, 40);
    await a.p.close();
    await a.log.close();

    const dir = tmp(t, 'vg-div-b-'); // same gateway name, fresh audit dir
    const b = await r.open(dir, { fsync: 'never' });
    r.append(b.log, 49, 'b');
    await r.publish();
    const held = b.log.status().held;
    t.match(held, [{ by: 'fleet-audit' }]);
    t.ok(held[0]?.error.startsWith(FLEET_AUDIT_DIVERGED), held[0]?.error ?? 'no hold');
    t.equal(r.port.blocks().at(-1)!.last, 40, 'not one event of the new trail was published');

    r.port.msgs.splice(0); // the operator removed the old trail from the edge stream
    await r.publish();
    t.same(b.log.status().held, [], 'the hold is released once the stream no longer diverges');
    t.equal(b.p.publishedSeq, localRecords(dir).at(-1)!.seq, 'the new trail is published from its start');
  },
);

t.test('a normal restart resumes after the last stored block without a hold', async (t) => {
  const r = rig(t);
  const dir = tmp(t, 'vg-div-');
  const a = await r.open(dir, { fsync: 'never' });
  r.append(a.log, 20, 'a');
  await r.publish();
  await a.p.close();
  await a.log.close();
  const b = await r.open(dir, { fsync: 'never' });
  r.append(b.log, 5, 'b');
  await r.publish();
  t.same(b.log.status().held, []);
  const seqs = r.port.blocks().flatMap((bl) => bl.events.map((e) => e.seq));
  t.same(
    seqs,
    localRecords(dir).map((e) => e.seq),
    'each local event stored once, in order',
  );
});
