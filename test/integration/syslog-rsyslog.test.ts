/**
 * SIEM export against a REAL RFC 5425 receiver: Debian rsyslogd + rsyslog-openssl, mutual TLS
 * (x509/certvalid), octet-counted framing. The receiver is stopped mid-stream and restarted; events produced
 * meanwhile are spooled on disk and delivered after the restart. Asserted: AT LEAST ONCE — every event and
 * checkpoint arrives (duplicates allowed and reported). Fails (does not skip) without rsyslogd.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { svidCheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import { SyslogExporter } from '../../gateway/audit/syslog-exporter.js';
import { makeTestPki, requireRsyslogd, rsyslogReceiver, type Rsyslog, type TestPki } from '../helpers/rsyslog.js';
import { freePort } from '../helpers/free-port.js';
import { eventually, flushIo } from '../helpers/eventually.js';

requireRsyslogd(); // throws → the file fails with the apt-get hint

/** Waits for the external receiver; the timeout message carries rsyslogd's own log. */
const eventuallyAtReceiver = (what: string, ms: number, check: () => boolean): Promise<boolean> =>
  eventually(what, check, { timeoutMs: ms, intervalMs: 25 }).catch((err: Error) => {
    throw new Error(`${err.message} (receiver log: ${rs.stderr().slice(-2000)})`);
  });

/** seq → times received, for chain events; and the checkpoint heads received. */
function tally(lines: string[]): { events: Map<number, number>; checkpoints: string[]; other: string[] } {
  const events = new Map<number, number>();
  const checkpoints: string[] = [];
  const other: string[] = [];
  for (const l of lines) {
    const msgId = l.slice(0, l.indexOf(' '));
    if (msgId === 'audit.checkpoint') {
      checkpoints.push(/headHash="([0-9a-f]{64})"/.exec(l)?.[1] ?? '?');
      continue;
    }
    const m = /\[verigate@32473 seq="(\d+)"/.exec(l);
    if (m === null) {
      other.push(l);
      continue;
    }
    events.set(Number(m[1]), (events.get(Number(m[1])) ?? 0) + 1);
  }
  return { events, checkpoints, other };
}

const root = mkdtempSync(join(tmpdir(), 'vg-rsyslog-'));
let pki: TestPki;
let rs: Rsyslog;
t.before(async () => {
  pki = await makeTestPki(join(root, 'pki'));
  rs = await rsyslogReceiver(join(root, 'rsyslog'), pki);
  await rs.start();
});
t.teardown(async () => {
  await rs?.stop();
  if (process.env['VG_KEEP_TMP'] === undefined) rmSync(root, { recursive: true, force: true });
});

const tlsFor = (p: TestPki) => ({ ca: p.caPem, cert: p.clientCertPem, key: p.clientKeyPem, servername: 'localhost' });

t.test('every event arrives at least once across a receiver restart', async (t) => {
  const signer = svidCheckpointSigner(() => ({
    privateKey: pki.clientKey,
    chainPem: pki.clientCertPem,
    spiffeId: pki.clientSpiffeId,
  }));
  const log = await AuditLog.open({
    dir: join(root, 'audit'),
    fsync: 'never',
    checkpoint: { everyEvents: 25, signer },
  });
  const exporter = new SyslogExporter({
    host: '127.0.0.1',
    port: rs.port,
    tls: () => tlsFor(pki),
    spool: { dir: join(root, 'spool'), maxBytes: 4 * 1024 * 1024 },
    backoff: { initialMs: 50, maxMs: 400 },
    ackDelayMs: 300,
    hostname: 'edge-test',
  });
  exporter.attach(log);
  t.teardown(() => exporter.close());

  // Events are produced in batches, each followed by a few event-loop turns so the exporter sends (or spools)
  // them as it would under steady traffic: the outage is measured in events, not in milliseconds.
  let i = 0;
  const produce = async (n: number): Promise<void> => {
    for (let k = 0; k < n; k++, i++) {
      log.append({
        type: 'session.open',
        session: `s${i}`,
        identity: 'spiffe://plant.example/hmi/line1',
        peer: `127.0.0.1:${1024 + i}`,
        transport: 'mbaps',
      });
      await flushIo(1);
    }
  };

  await produce(40);
  await eventuallyAtReceiver('first events at the receiver', 10_000, () => tally(rs.lines()).events.size >= 30);
  await rs.stop(); // mid-stream: production goes on
  const seqAtStop = log.head().seq;
  await produce(5);
  await eventuallyAtReceiver('the exporter to notice', 5_000, () => !exporter.stats().connected);
  await produce(30);
  const seqAtRestart = log.head().seq;
  t.ok(seqAtRestart - seqAtStop >= 20, `${seqAtRestart - seqAtStop} events produced while the receiver was down`);
  await flushIo(); // the exporter spools what it has at the end of a turn (setImmediate): in-process, no wait
  t.ok(exporter.stats().spoolBytes > 0, 'the disk spool holds them');
  await rs.start();
  await produce(20);
  log.checkpointNow();
  const last = log.head();
  t.ok(await exporter.drained(15_000), 'spool drained after restart');
  await eventuallyAtReceiver('every event at the receiver', 10_000, () => {
    const got = tally(rs.lines()).events;
    for (let s = 1; s <= last.seq; s++) if (!got.has(s)) return false;
    return true;
  });

  const { events, checkpoints, other } = tally(rs.lines());
  const missing: number[] = [];
  for (let s = 1; s <= last.seq; s++) if (!events.has(s)) missing.push(s);
  t.same(missing, [], `all ${last.seq} events received`);
  const dups = [...events.values()].filter((n) => n > 1).length;
  t.comment(`at-least-once: ${dups} events received more than once; ${exporter.stats().reconnects} reconnects`);
  t.same(
    [...events.keys()].filter((s) => s > last.seq),
    [],
    'nothing invented',
  );
  t.ok(checkpoints.includes(last.hash), 'final signed checkpoint head reached the SIEM');
  t.ok(checkpoints.length >= 2, `${checkpoints.length} checkpoints shipped`);
  t.same(other, [], 'no unexpected messages');
  t.ok(exporter.stats().reconnects >= 1);
  t.equal(exporter.stats().dropped, 0);
  await log.close();
  t.match(verifyAuditDir(join(root, 'audit'), { trustBundlePem: pki.caPem }), { ok: true });
});

t.test('CEF format; spooled records survive an exporter restart and the log is caught up on attach', async (t) => {
  const before = rs.lines().length;
  const log = await AuditLog.open({ dir: join(root, 'audit-cef'), fsync: 'never' });
  const spool = join(root, 'spool-cef');
  const opts = {
    tls: tlsFor(pki),
    format: 'cef' as const,
    spool: { dir: spool, maxBytes: 1 << 20 },
    ackDelayMs: 200,
    backoff: { initialMs: 50, maxMs: 200 },
  };
  // 1. an exporter that cannot reach anything: records stay in the spool
  const offline = new SyslogExporter({ ...opts, host: '127.0.0.1', port: await freePort() });
  offline.attach(log);
  log.append({
    type: 'lock.created',
    lockId: 'L|1',
    target: { kind: 'identity', value: 'spiffe://plant.example/eng/bob' },
    by: 'spiffe://plant.example/ops/lead',
    reason: 'a=b\\c',
  });
  await eventuallyAtReceiver('a failed connect', 5_000, () => offline.stats().reconnects >= 1);
  await offline.close();
  // 2. an event while no exporter runs at all
  log.append({ type: 'jit.expired', grantId: 'while-no-exporter' });
  // 3. a new exporter on the same spool delivers both
  const online = new SyslogExporter({ ...opts, host: '127.0.0.1', port: rs.port });
  online.attach(log);
  t.ok(await online.drained(10_000), 'drained');
  await online.close();
  await log.close();
  await eventuallyAtReceiver(
    'CEF lines',
    5_000,
    () =>
      rs
        .lines()
        .slice(before)
        .filter((l) => l.includes('CEF:0|')).length >= 3,
  );
  const cef = rs
    .lines()
    .slice(before)
    .filter((l) => l.includes('CEF:0|'));
  t.equal(
    cef.filter((l) => l.startsWith('audit.started ')).length,
    1,
    'audit.started (spooled before the restart), exactly once',
  );
  const lock = cef.find((l) => l.startsWith('lock.created '))!;
  t.ok(lock, 'lock event received');
  t.match(lock, /CEF:0\|verigate\|verigate\|0\.1\.0\|lock\.created\|Lock created\|6\|/);
  t.match(lock, /suser=spiffe:\/\/plant\.example\/ops\/lead/);
  t.match(lock, /reason=a\\=b\\\\c/);
  t.ok(
    cef.some((l) => l.startsWith('jit.expired ') && l.includes('while-no-exporter')),
    'caught up from the log',
  );
});

t.test('a full spool drops the oldest records and the SIEM gets a counted loss message', async (t) => {
  const before = rs.lines().length;
  const log = await AuditLog.open({ dir: join(root, 'audit-loss'), fsync: 'never' });
  const spool = { dir: join(root, 'spool-loss'), maxBytes: 16 * 1024, fileBytes: 4096 };
  const offline = new SyslogExporter({
    host: '127.0.0.1',
    port: await freePort(),
    tls: tlsFor(pki),
    spool,
    backoff: { initialMs: 1000, maxMs: 1000 },
  });
  offline.attach(log);
  for (let i = 0; i < 200; i++) {
    log.append({ type: 'jit.expired', grantId: `loss-${i}` });
    if (i % 20 === 19) await new Promise((r) => setImmediate(r)); // let the exporter flush into the spool
  }
  await offline.close();
  const dropped = offline.stats().dropped;
  t.ok(dropped > 0, `${dropped} records dropped by the bounded spool`);
  const online = new SyslogExporter({ host: '127.0.0.1', port: rs.port, tls: tlsFor(pki), spool, ackDelayMs: 100 });
  t.ok(await online.drained(10_000));
  await online.close();
  await log.close();
  await eventuallyAtReceiver('the loss message', 5_000, () =>
    rs
      .lines()
      .slice(before)
      .some((l) => l.startsWith('audit.export-loss ')),
  );
  const lines = rs.lines().slice(before);
  const losses = lines.filter((l) => l.startsWith('audit.export-loss '));
  const counted = losses.reduce((a, l) => a + Number(/dropped="(\d+)"/.exec(l)?.[1] ?? 0), 0);
  t.equal(counted, dropped, 'loss messages count every dropped record');
  const received = new Set(tally(lines).events.keys());
  t.equal(received.size + dropped, log.head().seq, 'every event is either delivered or counted as lost');
  t.ok(received.has(log.head().seq), 'the newest event was kept');
});

t.test('the receiver refuses a client without a certificate (mutual TLS is enforced)', async (t) => {
  const before = rs.lines().length;
  const exporter = new SyslogExporter({
    host: '127.0.0.1',
    port: rs.port,
    tls: { ca: pki.caPem, servername: 'localhost' },
    spool: { dir: join(root, 'spool-nocert'), maxBytes: 1 << 20 },
    ackDelayMs: 100,
    backoff: { initialMs: 50, maxMs: 100 },
  });
  exporter.enqueue({
    seq: 1,
    time: new Date().toISOString(),
    type: 'jit.expired',
    grantId: 'no-cert-marker',
    prev: '0'.repeat(64),
    hash: '1'.repeat(64),
  });
  await eventuallyAtReceiver('two refused connections', 10_000, () => exporter.stats().reconnects >= 2);
  await exporter.close();
  // barrier: a later message from a certified client arrives, so the receiver had its chance with the first
  const good = new SyslogExporter({
    host: '127.0.0.1',
    port: rs.port,
    tls: tlsFor(pki),
    spool: { dir: join(root, 'spool-barrier'), maxBytes: 1 << 20 },
    ackDelayMs: 100,
  });
  good.enqueue({
    seq: 1,
    time: new Date().toISOString(),
    type: 'jit.expired',
    grantId: 'barrier-marker',
    prev: '0'.repeat(64),
    hash: '2'.repeat(64),
  });
  await eventuallyAtReceiver('the barrier message', 10_000, () =>
    rs
      .lines()
      .slice(before)
      .some((l) => l.includes('barrier-marker')),
  );
  await good.close();
  t.notOk(
    rs
      .lines()
      .slice(before)
      .some((l) => l.includes('no-cert-marker')),
    'nothing accepted without a client certificate',
  );
});
