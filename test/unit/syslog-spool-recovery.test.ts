/**
 * What the SIEM spool must still know after acknowledgements, failed writes and crashes: the highest seq it
 * ever took (the exporter's catch-up starts after it), and every loss until the SIEM acknowledged its notice.
 * A crash is simulated by opening the directory again without closing the first spool.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { SyslogAckWindow } from '../../gateway/audit/syslog-ack-window.js';
import { SyslogExporter } from '../../gateway/audit/syslog-exporter.js';
import { DiskSpool } from '../../gateway/audit/syslog-spool.js';
import { nullLogger } from '../../gateway/logger.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const tmp = (t: Test, prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};
const event = (i: number) => ({ seq: i, text: `event ${i} `.padEnd(100, 'x') });
const checkpoint = { seq: null, text: 'checkpoint' };
const tick = () => new Promise<void>((r) => setImmediate(r));

/** An exporter whose receiver never answers (port 1, no reconnect during the test). */
const offlineExporter = (dir: string, spool: { maxBytes?: number; fileBytes?: number } = {}) =>
  new SyslogExporter({
    host: '127.0.0.1',
    port: 1,
    tls: {},
    spool: { dir, ...spool },
    backoff: { initialMs: 1e9, maxMs: 1e9 },
    timers: new FakeTimers(Date.now()),
  });

t.test('lastSeq survives acknowledging every file that carried a seq, and a restart', async (t) => {
  const dir = tmp(t, 'vg-spool-head-');
  const sp = DiskSpool.open({ dir, maxBytes: 1 << 20, fileBytes: 1024 });
  for (let i = 1; i <= 20; i++) sp.push([event(i)]);
  sp.push([checkpoint]); // file 1 is full: the checkpoint alone starts file 2
  sp.ack(sp.read(null, 100).at(-1)!.pos); // everything delivered: file 1 is deleted
  t.equal(sp.lastSeq(), 20);
  sp.close();
  const again = DiskSpool.open({ dir, maxBytes: 1 << 20, fileBytes: 1024 });
  t.equal(again.lastSeq(), 20, 'after a restart');
  again.close();

  const ex = offlineExporter(dir, { maxBytes: 1 << 20, fileBytes: 1024 });
  let fromSeq = -1;
  ex.attach({
    subscribe: (_s, o) => {
      fromSeq = o?.fromSeq ?? -1;
      return () => {};
    },
  });
  t.equal(fromSeq, 21, 'the catch-up starts after the last spooled event, not at seq 1');
  await ex.close();
});

t.test('lastSeq survives an overflow that drops the last file with a seq', async (t) => {
  const dir = tmp(t, 'vg-spool-head2-');
  const sp = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024 });
  for (let i = 1; i <= 9; i++) sp.push([event(i)]);
  // an idle gateway: only checkpoints, until the file with events is pushed out unsent
  for (let i = 0; i < 60; i++) sp.push([{ seq: null, text: 'checkpoint '.padEnd(100, 'c') }]);
  t.equal(sp.takeLoss()?.lastSeq, 9, 'the events were dropped');
  t.equal(sp.lastSeq(), 9);
  const again = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024 });
  t.equal(again.lastSeq(), 9, 'after a crash');
  again.close();
  sp.close();
});

t.test('a failed spool write is counted in the loss tally the SIEM is told about', async (t) => {
  const dir = tmp(t, 'vg-spool-wfail-');
  const ex = offlineExporter(dir);
  const spool = (ex as unknown as { spool: DiskSpool }).spool;
  const rec = (seq: number) =>
    ({ seq, time: '2026-01-01T00:00:00.000Z', type: 'session.close', prev: 'p', hash: 'h' }) as unknown as AuditRecord;
  ex.enqueue(rec(1));
  await tick();
  const push = spool.push.bind(spool);
  spool.push = () => {
    throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
  };
  ex.enqueue(rec(2));
  ex.enqueue(rec(3));
  ex.enqueueCheckpoint({
    seq: 3,
    headHash: 'h',
    time: '2026-01-01T00:00:00.000Z',
    signer: { spiffeId: 'spiffe://x/gw', certChainPem: '' },
    alg: 'ES256',
    sig: 's',
  });
  await tick();
  spool.push = push;
  ex.enqueue(rec(4));
  await tick();
  t.equal(ex.stats().dropped, 3, 'counted locally');
  t.same(
    spool.read(null, 10).map((e) => e.seq),
    [1, 4],
  );
  await ex.close();
  const again = DiskSpool.open({ dir, maxBytes: 1 << 20 });
  t.same(again.takeLoss(), { dropped: 3, firstSeq: 2, lastSeq: 3 }, 'persisted for the next notice');
  again.close();
});

t.test('a loss notice stays on disk until the write that carried it is acknowledged', async (t) => {
  const dir = tmp(t, 'vg-spool-lossack-');
  const sp = DiskSpool.open({ dir, maxBytes: 2048, fileBytes: 512 });
  const overflow = (from: number, to: number) => {
    let n = 0;
    for (let i = from; i <= to; i++) n += sp.push([{ seq: i, text: 'x'.repeat(100) }])?.dropped ?? 0;
    return n;
  };
  const first = overflow(1, 40);
  t.ok(first > 0, `overflowed (${first} dropped)`);
  sp.ack(sp.read(null, 100).at(-1)!.pos); // every record delivered: only the notice is owed
  const window = new SyslogAckWindow(sp, nullLogger);
  const loss = sp.takeLoss();
  t.equal(loss?.dropped, first);
  window.wrote(null, 0, loss).writtenAt = 0;
  t.equal(sp.takeLoss(), null, 'in flight: not sent twice on one connection');
  t.equal(sp.stats().pending, true, 'not yet acknowledged');

  const crashed = DiskSpool.open({ dir, maxBytes: 2048, fileBytes: 512 });
  t.same(crashed.takeLoss(), loss, 'a crash before the acknowledgement: the next run reports it again');
  crashed.close();

  const second = overflow(41, 60); // a new loss while the first notice is in flight
  t.ok(second > 0);
  window.settle(1000, 1000, { acked: 0 });
  const reopened = DiskSpool.open({ dir, maxBytes: 2048, fileBytes: 512 });
  const left = reopened.takeLoss();
  t.equal(left?.dropped, second, 'only the unreported loss is left, not counted twice');
  t.ok(left!.firstSeq! > loss!.lastSeq!, 'its own seq range');
  reopened.close();

  const next = sp.takeLoss();
  t.same(next, left);
  window.wrote(null, 0, next);
  overflow(61, 80);
  window.rewind(); // connection lost before the acknowledgement: both notices are owed, as one
  const merged = sp.takeLoss()!;
  const third = DiskSpool.open({ dir, maxBytes: 2048, fileBytes: 512 });
  t.same(third.takeLoss(), merged, 'disk and memory agree');
  third.close();
  window.wrote(null, 0, merged).writtenAt = 2000;
  window.settle(3000, 1000, { acked: 0 });
  sp.ack(sp.read(null, 100).at(-1)!.pos);
  t.equal(sp.stats().pending, false, 'nothing owed');
  t.notOk(existsSync(join(dir, 'loss.json')), 'acknowledged: gone from disk');
  sp.close();
});
