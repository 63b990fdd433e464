import t from 'tap';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { tryParseDuration, formatDuration } from '../../gateway/config/duration.js';

const dir = mkdtempSync(join(tmpdir(), 'vg-config-'));
function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

t.test('a minimal config gets defaults, resolved paths and is frozen', async (t) => {
  const p = write('ok.yaml', `version: 1
devices:
  - { name: turbine-1, address: 127.0.0.1:5020, unitId: 1, targetUnitId: 255, timeout: 500ms }
policy: { file: policy.yaml }
`);
  const c = loadGatewayConfig(p);
  t.equal(c.listeners.mbaps.port, 802);
  t.equal(c.devices[0]?.host, '127.0.0.1');
  t.equal(c.devices[0]?.port, 5020);
  t.equal(c.devices[0]?.timeoutMs, 500);
  t.equal(c.devices[0]?.targetUnitId, 255);
  t.equal(c.devices[0]?.maxConnections, 1);
  t.equal(c.policy.file, join(dir, 'policy.yaml'));
  t.equal(c.audit.dir, join(dir, 'audit'));
  t.ok(Object.isFrozen(c.devices[0]));
});

t.test('schema errors name file:line', async (t) => {
  const p = write('bad.yaml', `version: 1
devices:
  - name: turbine-1
    address: nowhere
    unitId: 1
policy: { file: p.yaml }
`);
  t.throws(() => loadGatewayConfig(p), { code: 'GW_ERR_CONFIG_INVALID', message: /bad\.yaml:4:/ });
});

t.test('semantic errors (duplicate unit id, unknown bound device) name file:line', async (t) => {
  const p = write('dup.yaml', `version: 1
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
  - { name: b, address: 127.0.0.1:2, unitId: 1 }
policy: { file: p.yaml }
`);
  t.throws(() => loadGatewayConfig(p), /dup\.yaml:4:.*unitId 1 already routes to device "a"/);
  const q = write('bound.yaml', `version: 1
listeners:
  mbaps: { port: 0, device: ghost }
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
policy: { file: p.yaml }
`);
  t.throws(() => loadGatewayConfig(q), /bound\.yaml:3:.*"ghost" is not a configured device/);
});

t.test('durations', async (t) => {
  t.equal(tryParseDuration('250ms'), 250);
  t.equal(tryParseDuration('5m'), 300_000);
  t.equal(tryParseDuration('24h'), 86_400_000);
  t.equal(tryParseDuration('5 minutes'), null);
  t.equal(formatDuration(300_000), '5m');
  t.equal(formatDuration(1500), '1500ms');
});
