import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { AuditEventInput, AuditRecord } from '../../gateway/audit/audit-events.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { segmentBytesIn } from '../../gateway/audit/audit-budget.js';
import { nullLogger } from '../../gateway/logger.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vg-budget-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const allowed = (i: number): AuditEventInput => ({
  type: 'request.decision',
  identity: 'spiffe://plant.example/hmi/1',
  device: 'turbine-1',
  unit: 1,
  fc: 6,
  reads: [],
  writes: [{ table: 'holding', start: i, count: 1, values: [i] }],
  decision: 'allow',
  ruleId: 'r1',
  reason: 'allowed',
  outcome: 'ok',
  latencyMs: 0.1,
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

t.test('usage counts the segment files, across reopen; warning once per crossing (log, metric, event)', async (t) => {
  const dir = tmp(t);
  const warnings: object[] = [];
  const logger = { ...nullLogger, warn: (o: object) => warnings.push(o) };
  const registry = new Registry();
  const capacity = { capacityBytes: 40_000, warnPercent: 50, reserveBytes: 8_000 };
  const log = await AuditLog.open({ dir, fsync: 'never', segmentBytes: 4096, capacity, logger, registry });
  t.equal(log.capacity()!.usedBytes, segmentBytesIn(dir), 'counted from the directory');
  while (log.capacity()!.usedBytes < 20_000) t.ok(log.append(allowed(1)).ok);
  t.equal(log.capacity()!.usedBytes, segmentBytesIn(dir), 'running count = bytes on disk');
  for (let i = 0; i < 20; i++) log.append(allowed(2));
  const warns = records(dir).filter((r) => r.type === 'audit.capacity-warning');
  t.equal(warns.length, 1, 'one audit.capacity-warning');
  t.match(warns[0], { warnBytes: 20_000, capacityBytes: 40_000, reserveBytes: 8_000 });
  t.ok((warns[0]!['usedBytes'] as number) >= 20_000);
  t.equal(warnings.filter((w) => 'warnBytes' in w).length, 1, 'logged once');
  const metrics = await registry.getMetricsAsJSON();
  t.equal(metrics.find((m) => m.name === 'verigate_audit_capacity_bytes')?.values[0]?.value, 40_000);
  t.ok(
    (metrics.find((m) => m.name === 'verigate_audit_used_bytes')?.values[0]?.value ?? 0) >= 20_000,
    'used-bytes gauge',
  );
  t.notOk(log.reserveReached());
  await log.close();
  const again = await AuditLog.open({ dir, fsync: 'never', segmentBytes: 4096, capacity });
  t.equal(again.capacity()!.usedBytes, segmentBytesIn(dir), 'reopen: counted from the directory again');
  await again.close();
});

t.test(
  'reserve line, then full capacity fails like a full disk (fail-closed), recovers once segments are archived',
  async (t) => {
    const dir = tmp(t);
    const capacity = { capacityBytes: 30_000, reserveBytes: 10_000 };
    const log = await AuditLog.open({ dir, fsync: 'never', segmentBytes: 4096, capacity, retryMs: 60_000 });
    let n = 0;
    while (!log.reserveReached()) t.ok(log.append(allowed(n++)).ok);
    t.ok(
      log.capacity()!.usedBytes >= 20_000 && log.capacity()!.usedBytes < 21_000,
      'reserve reached at capacity − reserve',
    );
    let last: ReturnType<AuditLog['append']> = { ok: true, seq: 0 };
    let written = 0;
    while (last.ok) {
      last = log.append(allowed(n++));
      if (last.ok) written++;
    }
    t.ok(written > 0, 'authorised events use the reserve');
    t.match(last, { ok: false, error: /capacity exhausted/ });
    t.ok(log.capacity()!.usedBytes <= 30_000, 'never past capacity');
    t.equal(segmentBytesIn(dir), log.capacity()!.usedBytes);
    t.notOk(log.healthy(), 'fail-closed: the data path denies');
    t.notOk(log.append(allowed(0)).ok, 'still failing');
    // The operator archives the oldest segments: space is free again, the next write records the gap.
    for (const s of listSegments(dir).slice(0, 3)) unlinkSync(join(dir, s));
    const r = log.append(allowed(1));
    t.ok(r.ok, 'writes again after archiving');
    t.ok(log.healthy());
    const gap = records(dir).find((x) => x.type === 'audit.gap');
    t.match(gap, { lost: 2, error: /capacity exhausted/ });
    await log.close();
  },
);

t.test('failurePolicy continue: full capacity raises the alarm but keeps the data path', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({
    dir,
    fsync: 'never',
    capacity: { capacityBytes: 5_000, reserveBytes: 1_000 },
    failurePolicy: 'continue',
  });
  while (log.append(allowed(1)).ok) {
    /* fill */
  }
  t.ok(log.healthy());
  t.equal(log.status().writing, false);
  t.match(log.status().lastError, /capacity exhausted/);
  await log.close();
});

t.test('without a capacity option nothing changes (no budget)', async (t) => {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  t.equal(log.capacity(), null);
  t.notOk(log.reserveReached());
  t.equal(log.status().capacity, null);
  await log.close();
});
