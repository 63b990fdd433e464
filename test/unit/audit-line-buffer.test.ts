/**
 * The audit log renders a turn's lines into one reusable LineBuffer and writes runs of it (segment-writer.ts
 * writeBytes). What is stored must be what the string renderer stored: each line exactly the canonical JSON
 * of its record, in UTF-8, across segment rotations inside one batch and batch after batch in the same buffer.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { canonicalJson } from '../../gateway/audit/canonical-json.js';
import { LineBuffer } from '../../gateway/audit/line-buffer.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vg-audit-lb-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const REASONS = ['plain', 'é and 😀', 'quote " backslash \\ newline \n', 'lone \ud800 surrogate', '\u0000\u001f\u007f'];

const decision = (i: number): AuditEventInput => ({
  type: 'request.decision',
  identity: `spiffe://plant.example/hmi/ünit-${i}`,
  device: 'turbine-1',
  unit: 1,
  fc: 16,
  reads: [],
  writes: [{ table: 'holding', start: i, count: 2, values: [i, -i] }],
  decision: 'allow',
  ruleId: 'hmi-setpoint',
  reason: REASONS[i % REASONS.length]!,
  outcome: 'ok',
  latencyMs: i / 1000 + 0.5,
  policyVersion: 'v1',
});

t.test('batches rendered into the shared buffer store exactly the canonical JSON of each record', async (t) => {
  const dir = tmp(t);
  const turns: (() => void)[] = [];
  const log = await AuditLog.open({ dir, segmentBytes: 1500, fsync: 'never', defer: (fn) => turns.push(fn) });
  turns.splice(0).forEach((fn) => fn());
  for (let batch = 0; batch < 3; batch++) {
    const seqs: number[] = [];
    for (let i = 0; i < 7; i++) {
      const r = log.append(decision(batch * 7 + i));
      if (r.ok) seqs.push(r.seq);
    }
    t.equal(seqs.length, 7, `batch ${batch}: every event staged`);
    const committed = seqs.map((s) => log.committed(s));
    t.equal(turns.length, 1, 'one flush per turn');
    turns.splice(0).forEach((fn) => fn());
    t.same(await Promise.all(committed), Array(7).fill(true), `batch ${batch}: committed after its write`);
  }
  await log.close();

  const segments = listSegments(dir);
  t.ok(segments.length > 3, `batches crossed segment rotations (${segments.length} segments)`);
  let lines = 0;
  for (const s of segments) {
    const bytes = readFileSync(join(dir, s));
    t.ok(bytes.length <= 1500 || bytes.toString('utf8').split('\n').length === 2, `${s} within segmentBytes`);
    for (const line of bytes.toString('utf8').split('\n').slice(0, -1)) {
      t.equal(line, canonicalJson(JSON.parse(line)), `line ${++lines} is canonical`);
    }
    t.equal(bytes.at(-1), 0x0a, `${s} ends with a whole line`);
  }
  t.equal(lines, 1 + 21, 'audit.started + 21 events');
  t.match(verifyAuditDir(dir), { ok: true });
});

t.test('LineBuffer: growth keeps committed lines, rollback drops one, a burst does not pin memory', async (t) => {
  const out = new LineBuffer(8);
  out.ascii('{"a":1}\n');
  out.commit();
  out.jsonString('dropped');
  out.rollback();
  t.equal(out.pos, 8, 'rolled back to the committed end');
  out.jsonString('x'.repeat(100)); // grows while rendering
  out.commit();
  t.equal(out.buf.toString('utf8', 0, out.end), `{"a":1}\n"${'x'.repeat(100)}"`);
  out.ascii('y'.repeat(2 * 1024 * 1024));
  out.commit();
  t.ok(out.buf.length > 2 * 1024 * 1024);
  out.reset();
  t.same([out.end, out.pos], [0, 0]);
  t.ok(out.buf.length <= 64 * 1024, 'the burst buffer is let go');
});
