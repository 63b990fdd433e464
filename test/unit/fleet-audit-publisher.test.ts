/**
 * The fleet audit block publisher against an in-memory edge stream, with fake timers: grouping (size, delay,
 * bytes), the contract's subject/body/Nats-Msg-Id, retry of the same block, resume after the last stored
 * block, bounded memory while lagging (re-read from the files), checkpoints after their block, and a full
 * edge stream holding the audit log failing until there is room again.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import type { AuditBlockPublisherOptions } from '../../gateway/fleet/audit-block-publisher-options.js';
import { AuditBlockPublisher } from '../../gateway/fleet/audit-block-publisher.js';
import { blockMsgId } from '../../gateway/fleet/fleet-topology.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { FakeAuditStream, localRecords, testSigner } from '../helpers/fleet-audit.js';

const SITE = 'site-a';
const GW = 'gw-1';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vg-fleet-pub-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const ev = (i: number): AuditEventInput => ({ type: 'jit.expired', grantId: `g-${i}` });

function appendN(log: AuditLog, n: number): void {
  for (let i = 0; i < n; i++) if (!log.append(ev(i)).ok) throw new Error('append failed');
  log.flush();
}

interface Rig {
  log: AuditLog;
  dir: string;
  port: FakeAuditStream;
  timers: FakeTimers;
  start(extra?: Partial<AuditBlockPublisherOptions>): Promise<AuditBlockPublisher>;
}

async function rig(t: Test, logOpts: Partial<Parameters<typeof AuditLog.open>[0]> = {}): Promise<Rig> {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', ...logOpts });
  t.teardown(() => log.close());
  const port = new FakeAuditStream();
  const timers = new FakeTimers(Date.now());
  const r: Rig = {
    log,
    dir,
    port,
    timers,
    start: async (extra = {}) => {
      const p = new AuditBlockPublisher({
        site: SITE,
        gateway: GW,
        dir,
        log,
        port,
        timers,
        maxBlockEvents: 8,
        maxBlockDelayMs: 200,
        retry: { initialMs: 100, maxMs: 100 },
        ...extra,
      });
      t.teardown(() => p.close());
      await p.ready();
      await flushIo();
      return p;
    },
  };
  return r;
}

/** The blocks cover 1..n exactly once, in order, chained, and equal the local file. */
function assertComplete(t: Test, r: Rig): void {
  const local = localRecords(r.dir);
  const blocks = r.port.blocks();
  const events = blocks.flatMap((b) => b.events);
  t.same(
    events.map((e) => e.seq),
    local.map((e) => e.seq),
    `every seq 1..${local.length} once, in order`,
  );
  t.same(events, local, 'the published events are the local records');
  let prev = '0'.repeat(64);
  for (const b of blocks) {
    t.equal(b.prev, prev, `block ${b.first}-${b.last} chains to the one before`);
    t.equal(b.head, b.events.at(-1)!.hash);
    prev = b.head;
  }
}

t.test('blocks: size-bounded at once, a short one after maxBlockDelay, contract subject and msg id', async (t) => {
  const r = await rig(t);
  appendN(r.log, 19); // + audit.started = 20 events
  const p = await r.start();
  await r.timers.tick(0);
  await flushIo();
  t.same(
    r.port.msgs.map((m) => m.msgId),
    [blockMsgId(GW, 1, 8), blockMsgId(GW, 9, 16), blockMsgId(GW, 17, 20)],
    'a backlog goes in full blocks at once (no waiting for more)',
  );
  t.ok(r.port.msgs.every((m) => m.subject === 'audit.site-a.gw-1.events'));
  const b = r.port.blocks()[0]!;
  t.match(b, { site: SITE, gateway: GW, first: 1, last: 8 }, 'body names site, gateway, first, last');
  appendN(r.log, 3);
  await flushIo();
  t.equal(r.port.msgs.length, 3, 'a short block waits for more');
  await r.timers.tick(199);
  await flushIo();
  t.equal(r.port.msgs.length, 3, 'still within maxBlockDelay');
  await r.timers.tick(1);
  await flushIo();
  t.equal(r.port.msgs.at(-1)!.msgId, blockMsgId(GW, 21, 23), 'sent after maxBlockDelay');
  appendN(r.log, 8);
  await flushIo();
  t.equal(r.port.msgs.at(-1)!.msgId, blockMsgId(GW, 24, 31), 'a full block goes without waiting');
  t.equal(p.publishedSeq, 31);
  assertComplete(t, r);
});

t.test('maxBlockBytes splits a block; a single larger event still goes alone', async (t) => {
  const r = await rig(t);
  appendN(r.log, 7);
  await r.start({ maxBlockBytes: 200 });
  await r.timers.tick(0);
  await flushIo();
  t.ok(r.port.blocks().length >= 4, 'several small blocks');
  t.ok(r.port.blocks().every((b) => b.events.length <= 2));
  assertComplete(t, r);
});

t.test('a failed publish is retried as the same block, never skipped', async (t) => {
  const r = await rig(t);
  const p = await r.start();
  r.port.state = 'down';
  appendN(r.log, 10);
  await flushIo();
  const first = r.port.attempts.at(-1)!;
  for (let i = 0; i < 3; i++) await r.timers.tick(100);
  await flushIo();
  const tries = r.port.attempts.filter((a) => a.msgId === first.msgId);
  t.ok(tries.length >= 3, `retried ${tries.length} times`);
  t.ok(
    tries.every((a) => a.body === first.body),
    'the same body each time',
  );
  t.equal(new Set(r.port.attempts.map((a) => a.msgId)).size, 1, 'nothing after it was tried');
  r.port.state = 'up';
  await r.timers.tick(100);
  await flushIo();
  await r.timers.tick(200);
  await flushIo();
  t.equal(p.publishedSeq, 11);
  assertComplete(t, r);
});

t.test('start resumes after the last block stored for this gateway', async (t) => {
  const r = await rig(t);
  const p1 = await r.start();
  appendN(r.log, 15);
  await r.timers.tick(200);
  await flushIo();
  t.equal(p1.publishedSeq, 16);
  await p1.close();
  appendN(r.log, 5);
  r.port.purgeAllBut('audit.site-a.gw-1.events'); // the edge keeps only the last block
  const before = r.port.attempts.length;
  const p2 = await r.start();
  await r.timers.tick(200);
  await flushIo();
  t.equal(r.port.attempts[before]!.msgId, blockMsgId(GW, 17, 21), 'resumed at 17 (after the stored 9-16)');
  t.equal(p2.publishedSeq, 21);
});

t.test('lagging: memory stays bounded, the files are re-read, nothing lost or repeated', async (t) => {
  const r = await rig(t, { segmentBytes: 4096 }); // many segments: the reader crosses rotations
  const p = await r.start({ maxBlockEvents: 4, maxBufferedEvents: 16 });
  const reader = (p as unknown as { feed: { reader: { read: (...a: unknown[]) => unknown } } }).feed.reader;
  let reads = 0;
  const read = reader.read.bind(reader);
  reader.read = (...a) => (reads++, read(...a));
  r.port.state = 'down';
  let maxBuffered = 0;
  for (let i = 0; i < 20; i++) {
    appendN(r.log, 10);
    await flushIo();
    maxBuffered = Math.max(maxBuffered, (p as unknown as { feed: { length: number } }).feed.length);
  }
  t.ok(maxBuffered <= 16, `buffer stayed ≤ 16 (max ${maxBuffered})`);
  r.port.state = 'up';
  for (let i = 0; i < 100 && p.publishedSeq < 201; i++) {
    await r.timers.tick(100);
    await flushIo();
    maxBuffered = Math.max(maxBuffered, (p as unknown as { feed: { length: number } }).feed.length);
  }
  t.ok(maxBuffered <= 16, `and while catching up (max ${maxBuffered})`);
  t.ok(reads > 5, `caught up by re-reading the files (${reads} reads)`);
  t.ok(listSegments(r.dir).length > 3, 'across segment rotations');
  t.equal(p.publishedSeq, 201);
  appendN(r.log, 2);
  await r.timers.tick(200);
  await flushIo();
  t.equal(p.publishedSeq, 203, 'live again after catching up');
  assertComplete(t, r);
});

t.test('checkpoints go after the block holding their seq, with their own msg id', async (t) => {
  const { signer } = await testSigner();
  const r = await rig(t, { checkpoint: { signer } });
  await r.start();
  r.port.state = 'down';
  appendN(r.log, 4);
  const cp = r.log.checkpointNow();
  t.ok(cp);
  await flushIo();
  r.port.state = 'up';
  await r.timers.tick(100);
  await flushIo();
  await r.timers.tick(200);
  await flushIo();
  const order = r.port.msgs.map((m) => m.msgId);
  t.same(order, [blockMsgId(GW, 1, 5), `${GW}:cp-5`], 'the checkpoint follows its block');
  const body = JSON.parse(Buffer.from(r.port.msgs[1]!.body).toString()) as { checkpoint: { seq: number } };
  t.match(body, { site: SITE, gateway: GW, checkpoint: { seq: 5, headHash: cp!.headHash } });
  t.equal(r.port.msgs[1]!.subject, 'audit.site-a.gw-1.checkpoints');
});

t.test('a full edge stream holds the log failing (fail-closed denies), released once there is room', async (t) => {
  const r = await rig(t, { failurePolicy: 'fail-closed' });
  const p = await r.start();
  r.port.maxBytes = 3000;
  for (let i = 0; i < 10 && !p.streamFull; i++) {
    appendN(r.log, 8);
    await flushIo();
    await r.timers.tick(100);
    await flushIo();
  }
  t.ok(p.streamFull, 'the stream refused a block');
  t.notOk(r.log.healthy(), 'fail-closed: the gateway denies');
  t.match(r.log.status().lastError, /edge stream is full \(maximum bytes exceeded\)/, 'status says why');
  const refused = r.port.attempts.at(-1)!.msgId;
  await r.timers.tick(100);
  await flushIo();
  t.equal(r.port.attempts.at(-1)!.msgId, refused, 'the same block is tried again, nothing skipped');
  t.notOk(r.log.healthy(), 'still held while full');
  r.port.purgeAllBut('audit.site-a.gw-1.events'); // control drained the edge stream
  r.port.maxBytes = Infinity;
  for (let i = 0; i < 20; i++) {
    await r.timers.tick(100);
    await flushIo();
  }
  t.notOk(p.streamFull);
  t.ok(r.log.healthy(), 'released');
  t.same(r.log.status().held, []);
  const seqs = r.port.attempts
    .filter((a, i, all) => all.findIndex((b) => b.msgId === a.msgId) === i)
    .map((a) => JSON.parse(a.body) as { first: number; last: number });
  let next = 1;
  for (const b of seqs) {
    t.equal(b.first, next, `block ${b.first}-${b.last} follows`);
    next = b.last + 1;
  }
  t.equal(next - 1, r.log.head().seq, 'every event was published once there was room');
});

t.test('continue: a full stream keeps serving while the publisher waits', async (t) => {
  const r = await rig(t, { failurePolicy: 'continue' });
  const p = await r.start();
  r.port.maxBytes = 0;
  appendN(r.log, 8);
  await flushIo();
  t.ok(p.streamFull);
  t.ok(r.log.healthy(), 'continue serves');
  t.same(
    r.log.status().held.map((h) => h.by),
    ['fleet-audit'],
    'and the hold is visible',
  );
});

t.test('blocks are bounded in bytes, not UTF-16 units: multi-byte events split like ASCII ones', async (t) => {
  const r = await rig(t);
  for (let i = 0; i < 12; i++) r.log.append({ type: 'jit.expired', grantId: `g-${'é'.repeat(60)}-${i}` });
  r.log.flush();
  // each event is ~290 UTF-16 units but ~350 bytes: two fit 600 units, not 600 bytes
  await r.start({ maxBlockBytes: 600 });
  await r.timers.tick(0);
  await flushIo();
  for (const b of r.port.blocks()) {
    const bytes = b.events.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)) + 1, 0);
    if (b.events.length > 1) t.ok(bytes <= 600, `block ${b.first}-${b.last}: ${bytes} bytes of events ≤ 600`);
  }
  assertComplete(t, r);
});

t.test(
  "blocks stay under the leaf's max_payload (read from the connection), whatever maxBlockBytes says",
  async (t) => {
    const r = await rig(t, { failurePolicy: 'fail-closed' });
    r.port.payloadLimit = 2048;
    for (let i = 0; i < 40; i++) r.log.append({ type: 'jit.expired', grantId: `g-${'x'.repeat(150)}-${i}` });
    r.log.flush();
    const p = await r.start({ maxBlockEvents: 64 });
    for (let i = 0; i < 10; i++) {
      await r.timers.tick(200);
      await flushIo();
    }
    t.equal(p.publishedSeq, r.log.head().seq, 'everything stored');
    t.ok(
      r.port.attempts.every((a) => Buffer.byteLength(a.body) < 2048),
      'no block was refused for its size (each fits max_payload)',
    );
    t.ok(r.log.healthy());
    assertComplete(t, r);
  },
);

t.test(
  'an event larger than max_payload alone: the log is held failing with the reason, not retried silently',
  async (t) => {
    const r = await rig(t, { failurePolicy: 'fail-closed' });
    const p = await r.start();
    r.port.payloadLimit = 1024;
    r.log.append({ type: 'jit.expired', grantId: `g-${'x'.repeat(2000)}` });
    r.log.flush();
    for (let i = 0; i < 5; i++) {
      await r.timers.tick(200);
      await flushIo();
    }
    t.notOk(r.log.healthy(), 'fail-closed: held');
    t.match(r.log.status().held, [{ by: 'fleet-audit', error: /larger than the leaf's max_payload/ }]);
    r.port.payloadLimit = null; // a leaf with a larger max_payload
    for (let i = 0; i < 10; i++) {
      await r.timers.tick(200);
      await flushIo();
    }
    t.equal(p.publishedSeq, r.log.head().seq, 'published once it fits');
    t.ok(r.log.healthy(), 'released');
  },
);

t.test('events the resume point needs are gone from the files: held failing with the reason', async (t) => {
  const r = await rig(t, { failurePolicy: 'fail-closed', segmentBytes: 4096 });
  appendN(r.log, 200);
  // archived before they were ever published: the first segments are gone
  const segs = listSegments(r.dir);
  t.ok(segs.length > 3);
  for (const s of segs.slice(0, 2)) rmSync(join(r.dir, s));
  await r.start({ maxBlockEvents: 4, maxBufferedEvents: 16 });
  for (let i = 0; i < 5; i++) {
    await r.timers.tick(100);
    await flushIo();
  }
  t.notOk(r.log.healthy(), 'fail-closed: held');
  t.match(r.log.status().held, [{ by: 'fleet-audit', error: /event 1 not found/ }]);
});

t.test('a block built before the leaf lowered max_payload is re-grouped, not held', async (t) => {
  const r = await rig(t, { failurePolicy: 'fail-closed' });
  const p = await r.start();
  r.port.state = 'down';
  for (let i = 0; i < 8; i++) r.log.append({ type: 'jit.expired', grantId: `g-${'x'.repeat(300)}-${i}` });
  r.log.flush();
  await r.timers.tick(0);
  await flushIo();
  const built = r.port.attempts.at(-1)!;
  t.ok(Buffer.byteLength(built.body) > 2048, 'the block in flight is larger than the new limit');
  r.port.state = 'up';
  r.port.payloadLimit = 2048; // reconnected to a leaf with a smaller max_payload
  for (let i = 0; i < 20; i++) {
    await r.timers.tick(100);
    await flushIo();
  }
  t.equal(p.publishedSeq, r.log.head().seq, 'everything stored in smaller blocks');
  t.ok(r.log.healthy(), 'never held');
  assertComplete(t, r);
});
