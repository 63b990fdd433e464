import t from 'tap';
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AUDIT_EVENT_TYPES,
  GENESIS_HASH,
  isAuditEventType,
  type AuditEventInput,
  type AuditRecord,
} from '../../gateway/audit/audit-events.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments, segmentName } from '../../gateway/audit/audit-segments.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { canonicalJson, sha256Hex } from '../../gateway/audit/canonical-json.js';
import { FakeTimers } from '../helpers/fake-timers.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vg-audit-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const decision = (i: number, values: number[] | null = [i, i + 1]): AuditEventInput => ({
  type: 'request.decision',
  identity: 'spiffe://plant.example/hmi/line1',
  device: 'turbine-1',
  unit: 1,
  fc: 16,
  reads: [],
  writes: [{ table: 'holding', start: 100 + i, count: 2, values }],
  decision: 'allow',
  ruleId: 'hmi-setpoint',
  reason: 'allowed by hmi-setpoint',
  outcome: 'ok',
  latencyMs: 0.25,
  policyVersion: 'v1',
});

function records(dir: string): AuditRecord[] {
  return listSegments(dir).flatMap((s) =>
    readFileSync(join(dir, s), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as AuditRecord),
  );
}

t.test('event names are defined once and recognised', async (t) => {
  t.ok(AUDIT_EVENT_TYPES.includes('request.decision'));
  t.equal(new Set(AUDIT_EVENT_TYPES).size, AUDIT_EVENT_TYPES.length, 'no duplicates');
  t.ok(isAuditEventType('jit.expired'));
  t.notOk(isAuditEventType('jit.exploded'));
});

t.test('canonical JSON sorts keys, drops undefined, no whitespace', async (t) => {
  t.equal(
    canonicalJson({ b: 1, a: [{ d: 'x', c: undefined, b: null }], c: 'é' }),
    '{"a":[{"b":null,"d":"x"}],"b":1,"c":"é"}',
  );
});

t.test('chain links every event, rotates segments by size, continues across reopen', async (t) => {
  const dir = tmp(t);
  const timers = new FakeTimers(Date.parse('2026-01-01T00:00:00Z'));
  const log = await AuditLog.open({ dir, segmentBytes: 2048, fsync: 'never', timers });
  for (let i = 0; i < 30; i++) {
    timers.advance(1);
    const r = log.append(decision(i));
    t.ok(r.ok, `append ${i}`);
  }
  t.equal(log.head().seq, 31, 'audit.started + 30');
  await log.close();
  const segs = listSegments(dir);
  t.ok(segs.length > 2, `rotated into ${segs.length} segments`);
  for (const s of segs) t.ok(readFileSync(join(dir, s)).length <= 2048, `${s} within segmentBytes`);

  const again = await AuditLog.open({ dir, segmentBytes: 2048, fsync: 'always' });
  const r = again.append({
    type: 'lock.created',
    lockId: 'L1',
    target: { kind: 'identity', value: 'spiffe://x/y' },
    by: 'ops',
    reason: 'test',
  });
  t.same(r, { ok: true, seq: 33 }, 'seq 32 is the second audit.started');
  await again.close();

  const recs = records(dir);
  t.equal(recs.length, 33);
  t.equal(recs[0]!.prev, GENESIS_HASH);
  for (let i = 0; i < recs.length; i++) {
    t.equal(recs[i]!.seq, i + 1);
    if (i > 0) t.equal(recs[i]!.prev, recs[i - 1]!.hash, `prev of ${i + 1}`);
    const { hash, ...rest } = recs[i]!;
    t.equal(hash, sha256Hex(canonicalJson(rest)), `hash of ${i + 1}`);
  }
  for (const s of segs)
    t.equal(
      s,
      segmentName(records(dir).find((r) => r.seq === Number(s.slice(6, 22)))!.seq),
      'segment named by first seq',
    );
  // No checkpoint signer here, and the trail spans months (a fake clock, then the real one): accept that.
  t.same(verifyAuditDir(dir, { allowMissingCheckpoints: true }), {
    ok: true,
    events: 33,
    checkpoints: 0,
    lastSeq: 33,
    headHash: recs[32]!.hash,
  });
  t.match(
    verifyAuditDir(dir),
    { ok: false, reason: /^no checkpoint in a trail spanning/ },
    'without checkpoints a long trail is refused by default',
  );
});

t.test('values: include keeps them, hash replaces them by their sha256', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', values: 'hash' });
  log.append(decision(1, [1500, 1600]));
  log.append(decision(2, null));
  await log.close();
  const [, a, b] = records(dir);
  const w = (a!['writes'] as Record<string, unknown>[])[0]!;
  t.notOk('values' in w, 'values removed');
  t.equal(w['valuesSha256'], sha256Hex('[1500,1600]'));
  t.same((b!['writes'] as Record<string, unknown>[])[0]!['values'], null, 'unknowable values stay null');

  const dir2 = tmp(t);
  const log2 = await AuditLog.open({ dir: dir2, fsync: 'never' });
  log2.append(decision(1, [1500, 1600]));
  await log2.close();
  t.same((records(dir2)[1]!['writes'] as Record<string, unknown>[])[0]!['values'], [1500, 1600]);
});

t.test('producers cannot forge chain fields', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  log.append({ ...decision(1), seq: 99, hash: 'x', prev: 'y' } as unknown as AuditEventInput);
  await log.close();
  t.equal(records(dir)[1]!.seq, 2);
  t.ok(verifyAuditDir(dir).ok);
});

t.test('torn last line is cut on open, recorded, and the chain continues', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  for (let i = 0; i < 5; i++) log.append(decision(i));
  await log.close();
  const seg = join(dir, listSegments(dir).at(-1)!);
  const torn = '{"decision":"allow","device":"turb';
  appendFileSync(seg, torn); // crash mid-write: no newline
  const bad = verifyAuditDir(dir);
  t.equal(bad.ok, false, 'verifier sees the torn tail before recovery');

  const reopened = await AuditLog.open({ dir, fsync: 'never' });
  reopened.append(decision(9));
  await reopened.close();
  const recs = records(dir);
  const rec = recs.find((r) => r.type === 'audit.recovered')!;
  t.ok(rec, 'audit.recovered written');
  t.equal(rec['truncatedBytes'], Buffer.byteLength(torn));
  t.equal(rec['discardedSha256'], sha256Hex(torn));
  t.equal(rec['lastGoodSeq'], 6);
  t.equal(rec['reason'], 'torn-tail');
  t.equal(rec.seq, 7, 'chain continues from the last good event');
  t.ok(verifyAuditDir(dir).ok, 'whole directory verifies after recovery');
});

t.test('zero-filled last line (delayed allocation after power loss) is cut too', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  log.append(decision(1));
  await log.close();
  const seg = join(dir, listSegments(dir).at(-1)!);
  appendFileSync(seg, Buffer.concat([Buffer.alloc(40), Buffer.from('\n')]));
  const re = await AuditLog.open({ dir, fsync: 'never' });
  await re.close();
  const rec = records(dir).find((r) => r.type === 'audit.recovered')!;
  t.equal(rec['reason'], 'unparsable-tail');
  t.ok(verifyAuditDir(dir).ok);
});

t.test('fail-closed: healthy() false while writes fail (ENOSPC on /dev/full), recovers with audit.gap', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', segmentBytes: 1024, retryMs: 60_000 });
  let seq = 1;
  while (listSegments(dir).length === 1) {
    // fill the first segment until it would rotate, then make the NEXT segment a full disk
    const r = log.append(decision(seq++));
    t.ok(r.ok);
    t.ok(log.flush(), 'written at the end of the turn (here: now)');
    const size = readFileSync(join(dir, listSegments(dir)[0]!)).length;
    if (size > 700) break;
  }
  const next = join(dir, segmentName(log.head().seq + 1));
  symlinkSync('/dev/full', next);
  const staged = log.append(decision(100));
  t.ok(staged.ok, "staged in this turn's batch");
  const committed = log.committed(staged.ok ? staged.seq : null);
  t.equal(log.flush(), false, 'the batch write fails, as a value');
  t.equal(await committed, false, 'committed() says the event is not in the file: its response must not go out');
  t.match(log.status().lastError, /ENOSPC|write failed/);
  t.equal(log.healthy(), false, 'fail-closed: the gateway must deny');
  t.equal(log.append(decision(101)).ok, false);
  t.equal(log.status().lostEvents, 2);

  unlinkSync(next); // space is back
  const ok = log.append(decision(102));
  t.ok(ok.ok, 'writes work again');
  t.equal(await log.committed(ok.ok ? ok.seq : null), true, 'and the event is committed');
  t.equal(log.healthy(), true);
  await log.close();
  const gap = records(dir).find((r) => r.type === 'audit.gap')!;
  t.equal(gap['lost'], 2, 'gap names how many events were lost');
  t.match(gap['error'], /ENOSPC/);
  t.ok(verifyAuditDir(dir).ok, 'chain intact across the failure');
});

t.test('continue policy keeps healthy() true but reports the failure in status()', async (t) => {
  const dir = tmp(t);
  const timers = new FakeTimers(Date.parse('2026-01-01T00:00:00Z'));
  const log = await AuditLog.open({
    dir,
    fsync: 'never',
    segmentBytes: 400,
    failurePolicy: 'continue',
    retryMs: 20,
    timers,
  });
  log.append(decision(1)); // fills past 400 → next append rotates
  const next = join(dir, segmentName(log.head().seq + 1));
  symlinkSync('/dev/full', next);
  t.ok(log.append(decision(2)).ok, 'staged');
  t.equal(log.flush(), false, 'its write fails');
  t.equal(log.healthy(), true);
  t.equal(log.status().writing, false);
  t.ok(log.status().lastError);
  unlinkSync(next);
  // the retry timer (every 20 ms) writes audit.gap without any new event
  timers.advance(19);
  t.equal(log.status().writing, false, 'not before the retry timer fires');
  timers.advance(1);
  t.equal(log.status().writing, true, 'recovered by the retry timer');
  await log.close();
  t.ok(records(dir).some((r) => r.type === 'audit.gap' && r['lost'] === 1));
});

t.test('disk space under minFreeBytes is flagged', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', minFreeBytes: Number.MAX_SAFE_INTEGER });
  t.equal(log.status().diskLow, true);
  t.ok((log.status().diskFreeBytes ?? -1) >= 0);
  await log.close();
  const ok = await AuditLog.open({ dir: tmp(t), fsync: 'never', minFreeBytes: 1 });
  t.equal(ok.status().diskLow, false);
  await ok.close();
});

t.test('closed log refuses appends; open fails cleanly on an unusable dir', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  await log.close();
  t.equal(log.append(decision(1)).ok, false);
  t.equal(log.healthy(), false);
  const file = join(dir, 'not-a-dir');
  writeFileSync(file, 'x');
  await t.rejects(AuditLog.open({ dir: file }), { code: 'GW_ERR_AUDIT_WRITE' });
  t.ok(readdirSync(dir).length > 0);
});

t.test('subscribe with fromSeq replays stored events, then live ones, no gap and no overlap', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', segmentBytes: 600 });
  for (let i = 0; i < 12; i++) log.append({ type: 'jit.expired', grantId: `g${i}` });
  const seen: number[] = [];
  log.subscribe({ event: (r) => seen.push(r.seq) }, { fromSeq: 4 });
  t.same(seen, [4, 5, 6, 7, 8, 9, 10, 11, 12, 13], 'replayed across segments');
  log.append({ type: 'jit.expired', grantId: 'live' });
  t.same(seen.slice(-1), [13], 'a live event is delivered once it is in the file, not when staged');
  log.flush();
  t.same(seen.slice(-2), [13, 14]);
  const none: number[] = [];
  log.subscribe({ event: (r) => none.push(r.seq) }, { fromSeq: 99 });
  t.same(none, []);
  await log.close();
});

t.test('a torn checkpoint line is cut on open and recorded', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  await log.close();
  writeFileSync(join(dir, 'checkpoints.jsonl'), '{"seq":1,"headHa');
  const re = await AuditLog.open({ dir, fsync: 'never' });
  await re.close();
  const rec = records(dir).find((r) => r.type === 'audit.recovered')!;
  t.match(rec['file'], /checkpoints\.jsonl$/);
  t.equal(readFileSync(join(dir, 'checkpoints.jsonl'), 'utf8'), '');
  t.ok(verifyAuditDir(dir).ok);
});
