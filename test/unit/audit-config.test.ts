import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { unprivilegedBytesPer } from '../../gateway/audit/audit-bound.js';

const dir = mkdtempSync(join(tmpdir(), 'vg-audit-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
function load(audit: string): ReturnType<typeof loadGatewayConfig> {
  const p = join(dir, `g${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    p,
    `version: 1
devices:
  - { name: turbine-1, address: 127.0.0.1:5020, unitId: 1 }
policy: { file: policy.yaml }
${audit}
`,
  );
  return loadGatewayConfig(p);
}

t.test('capacity, throttle and denial-flood defaults; the documented figure follows from them', async (t) => {
  const a = load('').audit;
  t.same(
    {
      capacityBytes: a.capacityBytes,
      capacityWarnPercent: a.capacityWarnPercent,
      reserveBytes: a.reserveBytes,
      throttle: a.throttle,
      denialFlood: a.denialFlood,
    },
    {
      capacityBytes: 1024 ** 3,
      capacityWarnPercent: 80,
      reserveBytes: 64 * 1024 ** 2,
      throttle: { intervalMs: 60_000, perKey: 5, perClass: 20, maxEventBytes: 1536, maxKeys: 1024, summaryEntries: 32 },
      denialFlood: { denials: 300, withinMs: 10_000, holdOffMs: 60_000, maxHoldOffMs: 900_000 },
    },
  );
  t.equal(unprivilegedBytesPer(a.throttle), 7_474_574, 'docs/gateway-yaml.md and README state this number');
});

t.test('knobs are read; a reserve not below the capacity and a hold-off above its maximum are refused', async (t) => {
  const a = load(
    'audit: { capacityBytes: 1048576, reserveBytes: 4096, throttle: { interval: 5s, perKey: 2 }, denialFlood: { denials: 10, holdOff: 1s } }',
  ).audit;
  t.equal(a.capacityBytes, 1_048_576);
  t.equal(a.throttle.intervalMs, 5_000);
  t.equal(a.throttle.perKey, 2);
  t.equal(a.denialFlood.holdOffMs, 1_000);
  t.throws(() => load('audit: { capacityBytes: 1048576, reserveBytes: 1048576 }'), /reserveBytes/);
  t.throws(() => load('audit: { denialFlood: { holdOff: 1h, maxHoldOff: 10m } }'), /maxHoldOff/);
  t.throws(() => load('audit: { throttle: { perClass: 0 } }'), /perClass|minimum/);
});
