/**
 * AuditLog.holdFailure / releaseFailure: an exporter that must not silently fall behind (the fleet's edge audit
 * stream, full) holds the log failing by name; the failure policy applies as for a write failure.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'vg-audit-hold-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function gauge(registry: Registry, name: string, by?: string): Promise<number | undefined> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => by === undefined || x.labels['by'] === by);
  return v?.value;
}

t.test('fail-closed: a hold makes the log unhealthy, names itself, and events are still written', async (t) => {
  const registry = new Registry();
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never', failurePolicy: 'fail-closed', registry });
  t.teardown(() => log.close());
  t.ok(log.healthy(), 'healthy before');
  log.holdFailure('fleet-audit', 'fleet audit: edge stream AUDIT is full (maximum bytes exceeded)');
  t.notOk(log.healthy(), 'a hold denies under fail-closed');
  const s = log.status();
  t.equal(s.writing, true, 'the file itself is still written');
  t.match(s.lastError, /edge stream AUDIT is full/, 'status says why');
  t.same(
    s.held.map((h) => h.by),
    ['fleet-audit'],
  );
  t.equal(await gauge(registry, 'verigate_audit_healthy'), 0);
  t.equal(await gauge(registry, 'verigate_audit_held', 'fleet-audit'), 1);

  const r = log.append({ type: 'jit.expired', grantId: 'g-1' });
  t.ok(r.ok, 'appends still succeed while held (the local chain stays authoritative)');
  t.ok(await log.committed(r.ok ? r.seq : null));

  log.holdFailure('fleet-audit', 'still full');
  t.equal(log.status().held.length, 1, 'a repeated hold is one hold');
  t.equal(log.status().lastError, 'still full', 'with the newer error');

  log.releaseFailure('other');
  t.notOk(log.healthy(), 'releasing an unknown name changes nothing');
  log.releaseFailure('fleet-audit');
  t.ok(log.healthy(), 'healthy after release');
  t.equal(log.status().lastError, null);
  t.same(log.status().held, []);
  t.equal(await gauge(registry, 'verigate_audit_healthy'), 1);
  t.equal(await gauge(registry, 'verigate_audit_held', 'fleet-audit'), 0);
  await log.close();
  t.ok(verifyAuditDir(dir, { allowMissingCheckpoints: true }).ok, 'the trail verifies');
});

t.test('continue: a hold keeps serving but still alarms', async (t) => {
  const registry = new Registry();
  const log = await AuditLog.open({ dir: tmp(t), fsync: 'never', failurePolicy: 'continue', registry });
  t.teardown(() => log.close());
  log.holdFailure('fleet-audit', 'full');
  t.ok(log.healthy(), 'continue keeps serving');
  t.equal(log.status().lastError, 'full', 'status still says why');
  t.equal(await gauge(registry, 'verigate_audit_healthy'), 0, 'and the alarm gauge drops');
  log.releaseFailure('fleet-audit');
  t.equal(await gauge(registry, 'verigate_audit_healthy'), 1);
});

t.test('two holders: healthy only once both released', async (t) => {
  const log = await AuditLog.open({ dir: tmp(t), fsync: 'never' });
  t.teardown(() => log.close());
  log.holdFailure('a', 'ea');
  log.holdFailure('b', 'eb');
  log.releaseFailure('a');
  t.notOk(log.healthy(), 'b still holds (fail-closed is the default)');
  t.equal(log.status().lastError, 'eb');
  log.releaseFailure('b');
  t.ok(log.healthy());
});
