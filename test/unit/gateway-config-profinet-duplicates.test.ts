/**
 * One PROFINET IO device, one name: a second `profinetDevices` entry with the same host:port — also written as
 * its IPv4-mapped IPv6 form or another IPv6 spelling — is a config error at file:line (two names would be two
 * queues and two ARs, breaking "one request in flight per device" and `ars.max: 1` devices). Ported from the
 * review's proof, where rio-1, rio-1-maint and rio-1-v6 all loaded.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';

const dir = mkdtempSync(join(tmpdir(), 'vg-pn-dup-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'policy.yaml'), 'version: 1\ntrustDomain: plant.example\nrules: []\n');

function load(devices: string): { names: string[] } | { error: string } {
  const p = join(dir, 'gateway.yaml');
  writeFileSync(
    p,
    `version: 1
devices:
  - { name: turbine-1, address: "127.0.0.1:502", unitId: 1 }
profinetDevices:
${devices}policy: { file: policy.yaml }
`,
  );
  try {
    return { names: loadGatewayConfig(p).profinetDevices.map((d) => d.name) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

t.test('the same device under three names is refused, each duplicate at its line (review F7)', async (t) => {
  const r = load(`  - { name: rio-1, host: 10.0.0.5 }
  - { name: rio-1-maint, host: 10.0.0.5, queueLimit: 1000 }
  - { name: rio-1-v6, host: "::ffff:10.0.0.5" }
`);
  t.ok('error' in r, 'not loaded');
  if (!('error' in r)) return;
  t.match(r.error, /gateway\.yaml:6:\d+.*10\.0\.0\.5:34964 is device "rio-1" already/);
  t.match(r.error, /gateway\.yaml:7:\d+.*::ffff:10\.0\.0\.5:34964 is device "rio-1" already/);
});

t.test('other IPv6 spellings of one address are one device; another port is another device', async (t) => {
  const v6 = load(`  - { name: a, host: "2001:db8::1" }
  - { name: b, host: "2001:DB8:0:0:0:0:0:1" }
`);
  t.match(v6, { error: /device "a" already/ });
  t.same(
    load(`  - { name: a, host: 10.0.0.5 }
  - { name: b, host: 10.0.0.5, port: 34965 }
  - { name: c, host: 10.0.0.6 }
`),
    { names: ['a', 'b', 'c'] },
  );
});
