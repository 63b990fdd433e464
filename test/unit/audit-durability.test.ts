/**
 * Durability bookkeeping of the audit log's group commit (review of issue 11's changes): overlapping
 * background fdatasyncs never count an event twice (a watermark, not a counter); under fsync `always` a batch
 * counts as committed only once fdatasync'ed, also when a rotation's fdatasync of the old segment fails; an
 * audit.gap whose own fdatasync fails does not end the failure. fdatasync itself is modelled on the writer.
 */
import t from 'tap';
import { closeSync, fdatasyncSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';

const ev = (i: number, pad = 1): AuditEventInput =>
  ({
    type: 'session.close',
    session: `s${i}`,
    identity: 'spiffe://t/a',
    reason: 'r'.repeat(pad),
  }) as unknown as AuditEventInput;
const eio = (): Error => Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vg-dur-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
type Writer = {
  fd: number | null;
  unsyncedClose: Error | null;
  sync(): void;
  close(): void;
  syncAsync(done: (e: Error | null) => void): void;
};
const writerOf = (log: AuditLog): Writer => (log as unknown as { writer: Writer }).writer;
const internals = (log: AuditLog) =>
  log as unknown as { sync: { inBackground(): void }; checkpoints: { inBackground(): void } };

t.test('two background fdatasyncs that overlap do not mark later events durable', async (t) => {
  const signer = { sign: () => ({ alg: 'none', sig: 'x', spiffeId: 'spiffe://t/x', certChainPem: '' }) };
  const log = await AuditLog.open({ dir: tmp(t), fsync: 60_000, checkpoint: { signer } });
  const w = writerOf(log);
  const callbacks: (() => void)[] = [];
  let syncs = 0;
  // the thread pool: the fdatasync happens now, its callback arrives later
  w.syncAsync = (done) => {
    fdatasyncSync(w.fd!);
    syncs++;
    callbacks.push(() => done(null));
  };
  for (let i = 0; i < 10; i++) log.append(ev(i));
  log.flush();
  internals(log).sync.inBackground();
  internals(log).checkpoints.inBackground();
  for (let i = 10; i < 20; i++) log.append(ev(i));
  log.flush();
  for (const c of callbacks.splice(0)) c();
  t.equal(log.lag(), 10, 'the 10 events written after both syncs started are still unsynced');
  const before = syncs;
  internals(log).sync.inBackground();
  t.equal(syncs, before + 1, 'so the next interval tick syncs them');
  await log.close();
});

t.test('fsync always: an audit.gap whose fdatasync fails keeps the log failing (fail-closed)', async (t) => {
  const log = await AuditLog.open({ dir: tmp(t), fsync: 'always', retryMs: 600_000 });
  const w = writerOf(log);
  const realSync = w.sync.bind(w);
  let failSync = true;
  w.sync = () => {
    if (failSync) throw eio();
    realSync();
  };
  const r1 = log.append(ev(1));
  const c1 = log.committed(r1.ok ? r1.seq : null);
  log.flush();
  t.equal(await c1, false, 'not durable: not committed');
  t.equal(log.healthy(), false);
  t.equal(log.append(ev(2)).ok, false, 'the gap is written but not durable: the append still fails');
  t.equal(log.healthy(), false, 'and the log stays unhealthy');
  failSync = false;
  t.ok(log.append(ev(3)).ok, 'a durable gap ends the failure');
  t.equal(log.healthy(), true);
  await log.close();
});

t.test(
  'fsync always: a batch across a rotation whose old-segment fdatasync fails commits none of its lines',
  async (t) => {
    const log = await AuditLog.open({ dir: tmp(t), fsync: 'always', segmentBytes: 1200, retryMs: 600_000 });
    const w = writerOf(log);
    const realClose = w.close.bind(w);
    let failClose = false;
    // as SegmentWriter.close() does when fdatasync throws: the descriptor is gone, its lines are not durable
    w.close = () => {
      if (!failClose) return realClose();
      const fd = w.fd!;
      w.fd = null;
      closeSync(fd);
      w.unsyncedClose = eio();
      throw w.unsyncedClose;
    };
    const staged = Array.from({ length: 12 }, (_, i) => log.append(ev(i, 100)));
    const commits = staged.map((r) => log.committed(r.ok ? r.seq : null));
    failClose = true;
    log.flush();
    const committed = await Promise.all(commits);
    t.same(
      committed.filter(Boolean),
      [],
      `no line counted as committed (${committed.map((c) => (c ? 'T' : 'F')).join('')})`,
    );
    t.equal(log.healthy(), false);
  },
);
