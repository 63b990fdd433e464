/**
 * gateway.yaml devices on Modbus RTU lines: `serial:` (defaults 9600 8E1, turnaround 100 ms) and `rtuOverTcp:`;
 * exactly one of address/serial/rtuOverTcp; devices on one line agree on its settings; one request at a time;
 * server addresses 1..247 or 0 (broadcast).
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { lineKey } from '../../gateway/config/device-link.js';

const dir = mkdtempSync(join(tmpdir(), 'vg-config-serial-'));
function load(devices: string): ReturnType<typeof loadGatewayConfig> {
  const p = join(dir, `g${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(p, `version: 1\ndevices:\n${devices}policy: { file: policy.yaml }\n`);
  return loadGatewayConfig(p);
}

t.test('serial and rtuOverTcp devices get their line and defaults', async (t) => {
  const c = load(`  - { name: m1, unitId: 11, serial: { path: /dev/ttyUSB0 } }
  - { name: m2, unitId: 12, serial: { path: /dev/ttyUSB0 } }
  - { name: all, unitId: 10, targetUnitId: 0, serial: { path: /dev/ttyUSB0 } }
  - { name: far, unitId: 20, rtuOverTcp: "10.0.0.9:4001", turnaround: 200ms, interFrameDelay: 5ms }
  - { name: plc, unitId: 1, address: "10.0.0.5:502" }
`);
  const [m1, m2, all, far, plc] = c.devices;
  t.same(m1?.link, {
    kind: 'serial',
    path: '/dev/ttyUSB0',
    format: { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 },
    turnaroundMs: 100,
    interFrameMs: null,
  });
  t.equal(lineKey(m1?.link), lineKey(m2?.link), 'one line');
  t.equal(all?.targetUnitId, 0, 'broadcast address');
  t.same(far?.link, { kind: 'rtu-over-tcp', host: '10.0.0.9', port: 4001, turnaroundMs: 200, interFrameMs: 5 });
  t.equal(far?.host, '10.0.0.9');
  t.same(plc?.link, { kind: 'tcp' });
  t.equal(lineKey(plc?.link), null);
});

t.test('line mistakes are config errors with file:line', async (t) => {
  const bad = (devices: string, why: RegExp): void => {
    t.throws(() => load(devices), { code: 'GW_ERR_CONFIG_INVALID', message: why }, String(why));
  };
  bad(`  - { name: m1, unitId: 11 }\n`, /exactly one of address, serial, rtuOverTcp \(has none\)/);
  bad(
    `  - { name: m1, unitId: 11, address: "h:1", serial: { path: /dev/x } }\n`,
    /exactly one of .* \(has address, serial\)/,
  );
  bad(`  - { name: m1, unitId: 11, serial: { path: /dev/x }, maxInFlight: 2 }\n`, /one request at a time/);
  bad(
    `  - { name: m1, unitId: 11, targetUnitId: 248, serial: { path: /dev/x } }\n`,
    /address 1\.\.247, or 0 for broadcast/,
  );
  bad(
    `  - { name: m1, unitId: 11, serial: { path: /dev/x } }\n  - { name: m2, unitId: 12, serial: { path: /dev/x, baudRate: 19200 } }\n`,
    /shares its line with "m1" but not its settings/,
  );
  bad(`  - { name: m1, unitId: 11, serial: { path: /dev/x, parity: mark } }\n`, /parity/);
});
