/**
 * Durability bookkeeping of the audit log's group commit (review of issue 11's changes): overlapping
 * background fdatasyncs never count an event twice (a watermark, not a counter); under fsync `always` a batch
 * counts as committed only once fdatasync'ed, also when a rotation's fdatasync of the old segment fails; an
 * audit.gap whose own fdatasync fails does not end the failure; no checkpoint (and no later "successful" sync)
 * vouches for lines whose fdatasync failed until an audit.gap ends that failure; a subscriber that appends during
 * a failed batch cannot make its lost events count as committed; under fsync `always` the `durable` subscribers
 * learn of a batch only after it settled and its events were delivered, and of an audit.gap only once it ended
 * the failure (one that appends then writes no second gap). fdatasync itself is modelled on the writer.
 */
import t from 'tap';
import { closeSync, fdatasyncSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';

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

const signer = { sign: () => ({ alg: 'none', sig: 'x', spiffeId: 'spiffe://t/x', certChainPem: '' }) };
const events = (dir: string): Record<string, unknown>[] =>
  listSegments(dir).flatMap((s) =>
    readFileSync(join(dir, s), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );

for (const fsync of [60_000, 'always'] as const) {
  t.test(`fsync ${fsync}: no checkpoint vouches for lines whose fdatasync failed until an audit.gap`, async (t) => {
    const dir = tmp(t);
    const log = await AuditLog.open({ dir, fsync, checkpoint: { signer }, retryMs: 600_000 });
    const w = writerOf(log);
    const realSync = w.sync.bind(w);
    const realAsync = w.syncAsync.bind(w);
    // Each real fdatasync in the thread pool, settled once its callback has run: the test awaits them, not a delay.
    const inPool: Promise<void>[] = [];
    // The kernel reports the write-back error once; Linux then marks the pages clean, so the next one "succeeds".
    let failOnce = true;
    w.sync = () => {
      if (!failOnce) return realSync();
      failOnce = false;
      throw eio();
    };
    w.syncAsync = (done) => {
      if (!failOnce) return void inPool.push(new Promise((r) => realAsync((err) => (done(err), r()))));
      failOnce = false;
      done(eio());
    };
    for (let i = 0; i < 5; i++) log.append(ev(i));
    log.flush(); // always: this batch's fdatasync fails
    if (fsync !== 'always') internals(log).sync.inBackground(); // interval: the background one fails
    t.equal(log.healthy(), false, 'the failed fdatasync is a failure');
    const lag = log.lag();
    t.ok(lag >= 5, `the 5 events count as unsynced (lag ${lag})`);
    t.equal(log.checkpointNow(), null, 'checkpointNow signs nothing while the failure stands');
    internals(log).checkpoints.inBackground(); // the periodic checkpoint
    internals(log).sync.inBackground(); // and the next interval tick, whose fdatasync "succeeds"
    t.equal(inPool.length, 1, 'the interval tick started a real fdatasync');
    await Promise.all(inPool); // and it completed, its callback run
    t.equal(log.lagDetail().lastCheckpointSeq, 0, 'nor does the periodic checkpoint');
    t.equal(log.lag(), lag, 'a later "successful" fdatasync does not make them durable');
    t.ok(log.append(ev(9)).ok, 'the next event is written after the audit.gap that ends the failure');
    t.equal(log.healthy(), true);
    const cp = log.checkpointNow();
    t.equal(cp?.seq, log.head().seq, 'then checkpoints are signed again');
    t.equal(log.lag(), 0);
    t.match(
      events(dir).find((e) => e['type'] === 'audit.gap'),
      { lost: 0, error: /fsync failed: EIO/ },
      'the trail names the failure the checkpoint comes after',
    );
    await log.close();
  });
}

t.test('a checkpoint whose own fdatasync succeeds after the interval one failed is not signed', async (t) => {
  const log = await AuditLog.open({ dir: tmp(t), fsync: 60_000, checkpoint: { signer }, retryMs: 600_000 });
  const w = writerOf(log);
  const pending: ((e: Error | null) => void)[] = [];
  w.syncAsync = (done) => void pending.push(done);
  for (let i = 0; i < 5; i++) log.append(ev(i));
  log.flush();
  internals(log).checkpoints.inBackground(); // its fdatasync starts first…
  internals(log).sync.inBackground();
  t.equal(pending.length, 2);
  pending[1]!(eio()); // …the interval one reports the write-back error…
  pending[0]!(null); // …and the checkpoint's then "succeeds" on the pages marked clean
  t.equal(log.lagDetail().lastCheckpointSeq, 0, 'no checkpoint over the lines whose sync failed');
  t.equal(log.healthy(), false);
  w.syncAsync = (done) => done(null);
  await log.close();
});

t.test('a subscriber appending during a failed batch does not make its lost events committed', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', retryMs: 600_000 });
  const w = writerOf(log) as Writer & { writeBytes: (b: Buffer, l: readonly { seq: number }[]) => unknown };
  const real = w.writeBytes.bind(w);
  // ENOSPC after the batch's first line: that line is in the file, the other two are lost
  w.writeBytes = (buf, lines) => {
    w.writeBytes = real;
    real(buf, lines.slice(0, 1));
    return { written: 1, error: Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) };
  };
  let echoed = false;
  log.subscribe({
    event: () => {
      // e.g. an exporter recording something about what it saw: writes the audit.gap at the first lost seq
      if (!echoed) echoed = log.append(ev(99)).ok;
    },
  });
  const staged = [1, 2, 3].map((i) => log.append(ev(i)));
  const commits = staged.map((r) => log.committed(r.ok ? r.seq : null));
  t.equal(log.flush(), false);
  t.ok(echoed, 'the subscriber appended during the failed batch');
  t.same(await Promise.all(commits), [true, false, false], 'only the line in the file counts as committed');
  const gap = events(dir).find((e) => e['type'] === 'audit.gap');
  t.match(gap, { lost: 2 }, 'and the audit.gap names the two lost events');
  await log.close();
});

t.test(
  'fsync always: a durable subscriber learns of a batch after it settled and its events were delivered',
  async (t) => {
    const dir = tmp(t);
    const log = await AuditLog.open({ dir, fsync: 'always' });
    const seen: string[] = [];
    const settledSeen: boolean[] = [];
    let settled = false;
    let echoed: number | null = null;
    log.subscribe({
      event: (e) => void seen.push(`event ${e.seq}`),
      durable: (seq) => {
        seen.push(`durable ${seq}`);
        settledSeen.push(settled);
        // e.g. a publisher recording what it copied: appends while the batch's flush is still on the stack
        if (echoed === null) echoed = (log.append(ev(99)) as { seq: number }).seq;
      },
    });
    const staged = [1, 2].map((i) => log.append(ev(i)) as { seq: number });
    const last = staged[1]!.seq;
    // settle() is what releases the batch's waiters: the flag says whether it ran before the durable subscriber
    const batch = (log as unknown as { commit: { batch: { settle(s: number): void } } }).commit.batch;
    const settle = batch.settle.bind(batch);
    batch.settle = (s) => {
      settled = true;
      settle(s);
    };
    t.equal(log.flush(), true);
    t.same(settledSeen, [true], 'the batch was settled when its durable subscriber ran');
    t.same(
      seen.slice(-3),
      [`event ${last - 1}`, `event ${last}`, `durable ${last}`],
      'the events are delivered before the durable watermark that covers them',
    );
    t.equal(echoed, last + 1, 'the event appended by the durable subscriber takes the next seq');
    t.equal(await log.committed(echoed), true);
    const seqs = events(dir).map((e) => e['seq'] as number);
    t.same(
      seqs,
      seqs.map((_, i) => i + 1),
      'no seq written twice or skipped',
    );
    t.equal(log.durableSeq(), echoed);
    await log.close();
  },
);

t.test('fsync always: a durable subscriber appending as an audit.gap is synced writes no second gap', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'always', retryMs: 600_000 });
  const w = writerOf(log) as Writer & { writeBytes: (b: Buffer, l: readonly unknown[]) => unknown };
  const real = w.writeBytes.bind(w);
  w.writeBytes = () => ((w.writeBytes = real), { written: 0, error: new Error('ENOSPC: no space left on device') });
  log.append(ev(1));
  t.equal(log.flush(), false, 'the write fails: the next append writes an audit.gap first');
  let echoes = 0;
  log.subscribe({ durable: () => void (echoes++ < 3 && log.append(ev(50 + echoes))) });
  t.ok(log.append(ev(2)).ok);
  log.flush();
  const types = events(dir).map((e) => e['type']);
  t.equal(types.filter((ty) => ty === 'audit.gap').length, 1, `one audit.gap (${types.join(' ')})`);
  t.equal(log.healthy(), true);
  await log.close();
});
