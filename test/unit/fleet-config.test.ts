/** gateway.yaml `fleet:` (docs/gateway-yaml.md "fleet"): absent = standalone, defaults, frozen, file:line errors. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';

const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-config-'));
const BASE = `version: 1
devices:
  - { name: plc-1, address: 127.0.0.1:5020, unitId: 1 }
policy: { file: policy.yaml }
`;
function load(name: string, fleet: string): ReturnType<typeof loadGatewayConfig> {
  const p = join(dir, name);
  writeFileSync(p, BASE + fleet);
  return loadGatewayConfig(p);
}

t.test('no fleet section: not a fleet member', async (t) => {
  t.equal(load('none.yaml', '').fleet, null);
});

t.test('a minimal fleet section gets the documented defaults and is frozen', async (t) => {
  const c = load('min.yaml', 'fleet: { site: site-a, name: gw-1 }\n');
  t.same(c.fleet, {
    site: 'site-a',
    name: 'gw-1',
    leaf: { url: 'tls://127.0.0.1:4222', caFile: null },
    policySigners: [],
    maxStalenessMs: 60_000,
    statusEveryMs: 2_000,
    policyMaxAgeMs: 24 * 3600_000,
    audit: { maxBlockEvents: 256, maxBlockDelayMs: 200, streamMaxBytes: 1024 ** 3 },
  });
  t.ok(Object.isFrozen(c.fleet?.leaf));
  t.ok(Object.isFrozen(c.fleet?.policySigners));
});

t.test('every knob is read; caFile resolves against the config directory', async (t) => {
  const c = load(
    'full.yaml',
    `fleet:
  site: site-b
  name: gw-2
  leaf: { url: "tls://127.0.0.1:7422", caFile: leaf-ca.pem }
  policySigners: [spiffe://plant.example/fleet/control]
  maxStaleness: 10s
  statusEvery: 500ms
  policyMaxAge: 72h
  audit: { maxBlockEvents: 16, maxBlockDelay: 50ms, streamMaxBytes: 1048576 }
`,
  );
  t.same(c.fleet, {
    site: 'site-b',
    name: 'gw-2',
    leaf: { url: 'tls://127.0.0.1:7422', caFile: join(dir, 'leaf-ca.pem') },
    policySigners: ['spiffe://plant.example/fleet/control'],
    maxStalenessMs: 10_000,
    statusEveryMs: 500,
    policyMaxAgeMs: 72 * 3600_000,
    audit: { maxBlockEvents: 16, maxBlockDelayMs: 50, streamMaxBytes: 1_048_576 },
  });
});

t.test('schema errors name file:line', async (t) => {
  const bad = (name: string, fleet: string, line: number, what: RegExp) =>
    t.throws(
      () => load(name, fleet),
      {
        code: 'GW_ERR_CONFIG_INVALID',
        message: new RegExp(`${name.replace('.', '\\.')}:${line}:[\\s\\S]*${what.source}`),
      },
      name,
    );
  bad('site.yaml', 'fleet:\n  site: Site_A\n  name: gw-1\n', 6, /pattern/);
  bad('noname.yaml', 'fleet:\n  site: site-a\n', 6, /required property 'name'/);
  bad('url.yaml', 'fleet:\n  site: site-a\n  name: gw-1\n  leaf: { url: "nats://127.0.0.1:4222" }\n', 8, /pattern/);
  bad('signer.yaml', 'fleet:\n  site: site-a\n  name: gw-1\n  policySigners: [control]\n', 8, /pattern/);
  bad('extra.yaml', 'fleet:\n  site: site-a\n  name: gw-1\n  hub: x\n', 8, /unknown property 'hub'/);
});

t.test('zero durations are refused with their place', async (t) => {
  t.throws(() => load('zero.yaml', 'fleet:\n  site: site-a\n  name: gw-1\n  statusEvery: 0s\n'), {
    message: /zero\.yaml:8:.*fleet\.statusEvery must be longer than 0/,
  });
  t.throws(() => load('zero-age.yaml', 'fleet:\n  site: site-a\n  name: gw-1\n  policyMaxAge: 0s\n'), {
    message: /zero-age\.yaml:8:.*fleet\.policyMaxAge must be longer than 0/,
  });
});
