/**
 * Disk failures after the SIEM spool took the records (head.json, loss.json) and while the exporter reads
 * it: records that are in the spool must not be reported lost, and a loss notice must stay owed.
 * A file-system failure is made real by a directory where writeFileAtomically puts its temp file (EISDIR).
 */
import t, { type Test } from 'tap';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import type { SyslogAckWindow } from '../../gateway/audit/syslog-ack-window.js';
import { SyslogExporter } from '../../gateway/audit/syslog-exporter.js';
import { DiskSpool } from '../../gateway/audit/syslog-spool.js';
import type { Logger } from '../../gateway/logger.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const tmp = (t: Test, prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};
/** Makes the next atomic write of `file` in `dir` fail; returns the undo. */
const blockWrite = (dir: string, file: string): (() => void) => {
  const p = join(dir, `${file}.${process.pid}.tmp`);
  mkdirSync(p);
  return () => rmdirSync(p);
};
const recorder = (): Logger & { errors: string[] } => {
  const errors: string[] = [];
  const none = () => {};
  return { errors, debug: none, info: none, warn: none, error: (_o, m) => errors.push(m ?? '') };
};
const event = (i: number) => ({ seq: i, text: `event ${i} `.padEnd(100, 'x') });
const seqs = (sp: DiskSpool) => sp.read(null, 1000).map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const tick = () => new Promise<void>((r) => setImmediate(r));

t.test('head.json unwritable: push keeps the records, drops nothing, and makes room once it can', async (t) => {
  const dir = tmp(t, 'vg-spool-headfail-');
  const log = recorder();
  const sp = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024, logger: log });
  const unblock = blockWrite(dir, 'head.json');
  let dropped = 0;
  t.doesNotThrow(() => {
    for (let i = 1; i <= 60; i++) dropped += sp.push([event(i)])?.dropped ?? 0;
  }, 'the append succeeded: push does not throw');
  t.equal(dropped, 0, 'no file could be removed: nothing dropped');
  t.same(seqs(sp), range(1, 60), 'every record still in the spool');
  t.equal(sp.takeLoss(), null, 'no loss owed');
  t.ok(sp.stats().bytes > 4096, 'over the limit for now');
  t.ok(log.errors.length > 0, 'logged');

  unblock();
  const drop = sp.push([event(61)]);
  t.ok(drop !== null && drop.dropped > 0, 'the next push makes room');
  t.ok(sp.stats().bytes <= 4096, 'back within the limit');
  const left = seqs(sp);
  t.equal(left[0], drop!.lastSeq! + 1, 'dropped exactly the records before the ones left');
  t.equal(left.at(-1), 61);
  t.same(sp.takeLoss(), drop, 'the drop is owed');
  sp.close();
});

t.test(
  'loss.json unwritable: push returns the drop, the tally keeps it and persists it on its next write',
  async (t) => {
    const dir = tmp(t, 'vg-spool-lossfail-');
    const sp = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024 });
    const unblock = blockWrite(dir, 'loss.json');
    let dropped = 0;
    t.doesNotThrow(() => {
      for (let i = 1; i <= 60; i++) dropped += sp.push([event(i)])?.dropped ?? 0;
    });
    t.ok(dropped > 0, `overflowed (${dropped} dropped)`);
    t.notOk(existsSync(join(dir, 'loss.json')), 'not on disk yet');
    t.equal(seqs(sp).at(-1), 60, 'the newest records are spooled');

    unblock();
    for (let i = 61; i <= 80; i++) dropped += sp.push([event(i)])?.dropped ?? 0;
    const reopened = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024 });
    t.equal(reopened.takeLoss()?.dropped, dropped, 'the earlier drop reached the disk with the next one');
    reopened.close();
    t.equal(sp.takeLoss()?.dropped, dropped);
    sp.close();
  },
);

t.test('exporter: a failed head.json write does not count spooled records as lost', async (t) => {
  const dir = tmp(t, 'vg-spool-exheadfail-');
  const ex = new SyslogExporter({
    host: '127.0.0.1',
    port: 1,
    tls: {},
    spool: { dir, maxBytes: 4096, fileBytes: 1024 },
    backoff: { initialMs: 1e9, maxMs: 1e9 },
    timers: new FakeTimers(Date.now()),
  });
  const spool = (ex as unknown as { spool: DiskSpool }).spool;
  blockWrite(dir, 'head.json');
  for (let i = 1; i <= 40; i++) {
    ex.enqueue({
      seq: i,
      time: '2026-01-01T00:00:00.000Z',
      type: 'session.close',
      prev: 'p',
      hash: 'h',
    } as unknown as AuditRecord);
    await tick(); // one spool write each
  }
  t.ok(ex.stats().spoolBytes > 4096, 'over the limit: a file would have been dropped');
  t.equal(ex.stats().dropped, 0, 'nothing counted as dropped');
  t.same(seqs(spool), range(1, 40), 'all in the spool, to be delivered');
  t.equal(spool.takeLoss(), null, 'no export-loss notice for them');
  await ex.close();
});

t.test('a spool read failure while sending leaves the loss notice owed', async (t) => {
  const dir = tmp(t, 'vg-spool-readfail-');
  const timers = new FakeTimers(Date.now());
  const log = recorder();
  const ex = new SyslogExporter({
    host: '127.0.0.1',
    port: 1,
    tls: {},
    spool: { dir },
    backoff: { initialMs: 1e9, maxMs: 1e9 },
    timers,
    logger: log,
  });
  const inner = ex as unknown as {
    spool: DiskSpool;
    window: SyslogAckWindow;
    socket: unknown;
    ready: boolean;
    pump(): void;
  };
  const spool = inner.spool;
  spool.recordLoss({ dropped: 2, firstSeq: 5, lastSeq: 6 });
  spool.push([event(7)]);
  const writes: string[] = [];
  inner.socket = {
    write: (b: Buffer, cb: (err?: Error | null) => void) => {
      writes.push(b.toString('utf8'));
      cb(null);
      return true;
    },
  };
  inner.ready = true;
  const read = spool.read.bind(spool);
  spool.read = () => {
    throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' });
  };
  t.doesNotThrow(() => inner.pump(), 'logged, not thrown out of a socket event');
  t.ok(log.errors.includes('audit: syslog spool read failed'));
  t.equal(writes.length, 0, 'nothing written');
  spool.read = read;
  try {
    inner.pump();
  } catch {
    /* the old code threw the first time; what matters is what is still owed */
  }
  t.equal(writes.length, 1, 'the next pump writes');
  t.match(writes[0], /export-loss/, 'with the loss notice');
  t.match(writes[0], /event 7/);
  inner.window.settle(timers.now() + 10_000, 1000, { acked: 0 });
  t.equal(spool.stats().pending, false, 'notice and record acknowledged: nothing owed');
  inner.socket = null;
  await ex.close();
});
