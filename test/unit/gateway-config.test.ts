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
  const p = write(
    'ok.yaml',
    `version: 1
devices:
  - { name: turbine-1, address: 127.0.0.1:5020, unitId: 1, targetUnitId: 255, timeout: 500ms }
policy: { file: policy.yaml }
`,
  );
  const c = loadGatewayConfig(p);
  t.equal(c.listeners.mbaps.port, 802);
  t.equal(c.listeners.mbaps.sessionResumption, false, 'TLS session resumption off by default');
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
  const p = write(
    'bad.yaml',
    `version: 1
devices:
  - name: turbine-1
    address: nowhere
    unitId: 1
policy: { file: p.yaml }
`,
  );
  t.throws(() => loadGatewayConfig(p), { code: 'GW_ERR_CONFIG_INVALID', message: /bad\.yaml:4:/ });
});

t.test(
  'a device name is at most 240 characters (a policy and audit token the gRPC request bound has room for)',
  async (t) => {
    const named = (file: string, name: string): string =>
      write(
        file,
        `version: 1\ndevices:\n  - name: ${name}\n    address: 127.0.0.1:502\n    unitId: 1\npolicy: { file: p.yaml }\n`,
      );
    t.equal(loadGatewayConfig(named('n240.yaml', 'a'.repeat(240))).devices[0]?.name, 'a'.repeat(240));
    t.throws(() => loadGatewayConfig(named('n241.yaml', 'a'.repeat(241))), {
      code: 'GW_ERR_CONFIG_INVALID',
      message: /n241\.yaml:3:/,
    });
  },
);

t.test('listeners: sessionResumption is a boolean per TLS listener', async (t) => {
  const devices = `devices:
  - { name: turbine-1, address: 127.0.0.1:5020, unitId: 1 }
policy: { file: policy.yaml }
`;
  const c = loadGatewayConfig(
    write(
      'resume.yaml',
      `version: 1
listeners:
  mbaps: { sessionResumption: true }
  grpc: { port: 8443, sessionResumption: true }
${devices}`,
    ),
  );
  t.equal(c.listeners.mbaps.sessionResumption, true);
  t.equal(c.listeners.grpc?.sessionResumption, true);
  const off = loadGatewayConfig(write('resume-off.yaml', `version: 1\nlisteners:\n  grpc: { port: 8443 }\n${devices}`));
  t.equal(off.listeners.grpc?.sessionResumption, false, 'gRPC listener: off by default too');
  const bad = write(
    'resume-bad.yaml',
    `version: 1\nlisteners:\n  mbaps: { sessionResumption: yes please }\n${devices}`,
  );
  t.throws(() => loadGatewayConfig(bad), { code: 'GW_ERR_CONFIG_INVALID', message: /resume-bad\.yaml:3:/ });
});

t.test('listeners.grpc.keepalive: defaults 60s/20s; time 1s-24h, timeout shorter than time (file:line)', async (t) => {
  const tail = `devices:\n  - { name: turbine-1, address: 127.0.0.1:5020, unitId: 1 }\npolicy: { file: policy.yaml }\n`;
  const grpc = (name: string, inline: string): string =>
    write(name, `version: 1\nlisteners:\n  grpc:\n    port: 8443\n${inline}${tail}`);
  const def = loadGatewayConfig(grpc('ka-default.yaml', ''));
  t.match(def.listeners.grpc, { keepaliveTimeMs: 60_000, keepaliveTimeoutMs: 20_000 });
  const set = loadGatewayConfig(grpc('ka-set.yaml', '    keepalive: { time: 2m, timeout: 5s }\n'));
  t.match(set.listeners.grpc, { keepaliveTimeMs: 120_000, keepaliveTimeoutMs: 5000 });
  t.throws(() => loadGatewayConfig(grpc('ka-equal.yaml', '    keepalive:\n      time: 10s\n      timeout: 10s\n')), {
    code: 'GW_ERR_CONFIG_INVALID',
    message: /ka-equal\.yaml:7:.*keepalive\.timeout must be longer than 0 and shorter than keepalive\.time/,
  });
  t.throws(() => loadGatewayConfig(grpc('ka-fast.yaml', '    keepalive:\n      time: 200ms\n      timeout: 100ms\n')), {
    message: /ka-fast\.yaml:6:.*keepalive\.time must be between 1s and 24h/,
  });
  t.throws(() => loadGatewayConfig(grpc('ka-typo.yaml', '    keepalive: { time: 1m, interval: 5s }\n')), {
    message: /ka-typo\.yaml:5:/,
  });
});

t.test('semantic errors (duplicate unit id, unknown bound device) name file:line', async (t) => {
  const p = write(
    'dup.yaml',
    `version: 1
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
  - { name: b, address: 127.0.0.1:2, unitId: 1 }
policy: { file: p.yaml }
`,
  );
  t.throws(() => loadGatewayConfig(p), /dup\.yaml:4:.*unitId 1 already routes to device "a"/);
  const q = write(
    'bound.yaml',
    `version: 1
listeners:
  mbaps: { port: 0, device: ghost }
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
policy: { file: p.yaml }
`,
  );
  t.throws(() => loadGatewayConfig(q), /bound\.yaml:3:.*"ghost" is not a configured device/);
});

t.test('profinetDevices: optional, defaults, names unique across both device lists (file:line)', async (t) => {
  const none = loadGatewayConfig(
    write(
      'pn-none.yaml',
      `version: 1
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
policy: { file: p.yaml }
`,
    ),
  );
  t.same(none.profinetDevices, [], 'absent → empty list');
  const c = loadGatewayConfig(
    write(
      'pn.yaml',
      `version: 1
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
profinetDevices:
  - { name: rio-1, host: 127.0.0.1 }
  - { name: rio-2, host: "::1", port: 40000, timeout: 250ms, queueLimit: 8, arIdleTimeout: 2s }
policy: { file: p.yaml }
`,
    ),
  );
  t.same(c.profinetDevices[0], {
    name: 'rio-1',
    host: '127.0.0.1',
    port: 34964,
    timeoutMs: 1000,
    queueLimit: 64,
    arIdleMs: 10_000,
  });
  t.same(c.profinetDevices[1], {
    name: 'rio-2',
    host: '::1',
    port: 40000,
    timeoutMs: 250,
    queueLimit: 8,
    arIdleMs: 2000,
  });
  t.ok(Object.isFrozen(c.profinetDevices[1]));

  const dup = write(
    'pn-dup.yaml',
    `version: 1
devices:
  - { name: rio-1, address: 127.0.0.1:1, unitId: 1 }
profinetDevices:
  - { name: rio-2, host: 127.0.0.1 }
  - { name: rio-1, host: 127.0.0.2 }
  - { name: rio-2, host: 127.0.0.3 }
policy: { file: p.yaml }
`,
  );
  t.throws(() => loadGatewayConfig(dup), {
    code: 'GW_ERR_CONFIG_INVALID',
    message: /pn-dup\.yaml:6:.*device name "rio-1" is used twice/,
  });
  t.throws(() => loadGatewayConfig(dup), /pn-dup\.yaml:7:.*device name "rio-2" is used twice/);

  const host = write(
    'pn-host.yaml',
    `version: 1
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
profinetDevices:
  - { name: rio-1, host: 10.0.0.300 }
policy: { file: p.yaml }
`,
  );
  t.throws(() => loadGatewayConfig(host), /pn-host\.yaml:5:.*"10\.0\.0\.300" is not an IP address/);
  const schema = write(
    'pn-schema.yaml',
    `version: 1
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
profinetDevices:
  - { name: rio-1, host: 127.0.0.1, slot: 3 }
  - { name: Bad Name, host: plc.example.com }
policy: { file: p.yaml }
`,
  );
  t.throws(() => loadGatewayConfig(schema), /pn-schema\.yaml:5:/, 'unknown key');
  t.throws(() => loadGatewayConfig(schema), /pn-schema\.yaml:6:/, 'bad name, host name instead of an address');
  const idle = write(
    'pn-idle.yaml',
    `version: 1
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
profinetDevices:
  - { name: rio-1, host: 127.0.0.1, arIdleTimeout: 2m }
policy: { file: p.yaml }
`,
  );
  t.throws(() => loadGatewayConfig(idle), /pn-idle\.yaml:5:.*arIdleTimeout \+ timeout must not exceed 99s/);
  const bound = write(
    'pn-bound.yaml',
    `version: 1
listeners:
  mbaps: { port: 0, device: rio-1 }
devices:
  - { name: a, address: 127.0.0.1:1, unitId: 1 }
profinetDevices:
  - { name: rio-1, host: 127.0.0.1 }
policy: { file: p.yaml }
`,
  );
  t.throws(
    () => loadGatewayConfig(bound),
    /"rio-1" is not a configured device/,
    'a Modbus listener cannot be bound to a PROFINET device',
  );
});

t.test('durations', async (t) => {
  t.equal(tryParseDuration('250ms'), 250);
  t.equal(tryParseDuration('5m'), 300_000);
  t.equal(tryParseDuration('24h'), 86_400_000);
  t.equal(tryParseDuration('5 minutes'), null);
  t.equal(formatDuration(300_000), '5m');
  t.equal(formatDuration(1500), '1500ms');
});
