/**
 * An `event` subscriber that appends from its callback while the audit.gap ending a write failure is being
 * written (an exporter or publisher recording what it saw): the gap is delivered to it from inside the gap's
 * own write, before the failure is marked ended. Its append must follow that one gap, not write a second
 * one; nor may it slip into the file behind lines of the gap's batch when the gap itself did not get there.
 * Both gap paths: the next append, and the retry timer (fake timers, driven by the test).
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput, AuditRecord } from '../../gateway/audit/audit-events.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const ev = (i: number): AuditEventInput =>
  ({ type: 'session.close', session: `s${i}`, identity: 'spiffe://t/a', reason: 'r' }) as unknown as AuditEventInput;
function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vg-gap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
const events = (dir: string): Record<string, unknown>[] =>
  listSegments(dir).flatMap((s) =>
    readFileSync(join(dir, s), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
type Lines = readonly { seq: number }[];
type WriteResult = { written: number; error: Error | null };
type Writer = { writeBytes(buf: Buffer, lines: Lines): WriteResult };
const writerOf = (log: AuditLog): Writer => (log as unknown as { writer: Writer }).writer;
const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });

/** The next batch write fails whole: its events are lost and the log is failing. */
function failNextWrite(log: AuditLog): void {
  const w = writerOf(log);
  const real = w.writeBytes.bind(w);
  w.writeBytes = () => ((w.writeBytes = real), { written: 0, error: enospc() });
}

/** Appends one event (at most `max` in all) each time it is shown an audit.gap. */
function echoOnGap(log: AuditLog, max = 3) {
  const echoed: number[] = [];
  log.subscribe({
    event: (e: AuditRecord) => {
      if (e.type !== 'audit.gap' || echoed.length >= max) return;
      const r = log.append(ev(100 + echoed.length));
      if (r.ok) echoed.push(r.seq);
    },
  });
  return echoed;
}

for (const path of ['the next append', 'the retry timer'] as const) {
  t.test(`a subscriber appending while ${path} writes the audit.gap: one gap, a valid chain`, async (t) => {
    const dir = tmp(t);
    const timers = new FakeTimers(Date.now());
    const log = await AuditLog.open({ dir, fsync: 'never', retryMs: 1000, timers });
    failNextWrite(log);
    log.append(ev(1));
    t.equal(log.flush(), false, 'the write fails: one event lost');
    const echoed = echoOnGap(log);
    if (path === 'the next append') t.ok(log.append(ev(2)).ok, 'the gap is written first, then this event');
    else timers.advance(1000);
    t.equal(echoed.length, 1, 'the subscriber appended once, from inside the gap write');
    log.flush();
    const written = events(dir);
    const gaps = written.filter((e) => e['type'] === 'audit.gap');
    t.equal(gaps.length, 1, 'one audit.gap');
    t.match(gaps[0], { lost: 1 }, 'naming the one lost event');
    t.equal(echoed[0], (gaps[0]!['seq'] as number) + 1, "the subscriber's event follows the gap");
    t.ok(await log.committed(echoed[0]!), 'and is in the file');
    t.equal(log.healthy(), true);
    await log.close();
    t.ok(verifyAuditDir(dir, { allowMissingCheckpoints: true }).ok, 'the chain verifies');
  });
}

t.test('the gap itself not written: an append from a subscriber of its batch is refused and counted', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', retryMs: 600_000 });
  failNextWrite(log);
  log.append(ev(1));
  t.equal(log.flush(), false, 'failing: one event lost');
  // The gap's write puts the first line in the file, then fails: the gap (and one more event) never get there.
  // A subscriber shown that first line appends. Reaching into the batch: one staged before the gap is needed.
  const w = writerOf(log);
  const real = w.writeBytes.bind(w);
  w.writeBytes = (buf, lines) => {
    w.writeBytes = real;
    const first = buf.indexOf(0x0a) + 1;
    real(buf.subarray(0, first), lines.slice(0, 1));
    return { written: 1, error: enospc() };
  };
  let echo: { ok: boolean } | null = null;
  log.subscribe({
    event: () => {
      echo ??= log.append(ev(99));
    },
  });
  const commit = (log as unknown as { commit: { stage(e: AuditEventInput): unknown } }).commit;
  commit.stage(ev(2)); // staged while failing, as the capacity warning is (audit-log-parts.ts)
  t.notOk(log.append(ev(3)).ok, 'the gap was not written: this event is refused');
  t.match(echo, { ok: false }, "the subscriber's event is refused too, not written behind a missing gap");
  t.ok(log.append(ev(4)).ok, 'the next append writes the gap');
  log.flush();
  const written = events(dir);
  const types = written.map((e) => e['type']);
  t.equal(types.filter((ty) => ty === 'audit.gap').length, 1, 'one audit.gap');
  const gapAt = types.indexOf('audit.gap');
  t.same(
    written.slice(0, gapAt).map((e) => (e['session'] as string | undefined) ?? e['type']),
    ['audit.started', 's2'],
    'nothing but the line in the file before the gap',
  );
  t.match(written[gapAt], { lost: 3 }, 'the gap counts the lost event and both refused ones');
  await log.close();
  t.ok(verifyAuditDir(dir, { allowMissingCheckpoints: true }).ok, 'the chain verifies');
});
