import t from 'tap';
import { DeviceRouter } from '../../gateway/frontdoor/device-router.js';
import type { DeviceConfig } from '../../gateway/config/gateway-config.js';

const dev = (name: string, unitId: number, targetUnitId: number): { config: DeviceConfig; pool: null } => ({
  config: {
    name,
    host: '127.0.0.1',
    port: 1,
    unitId,
    targetUnitId,
    maxConnections: 1,
    maxInFlight: 1,
    timeoutMs: 1,
    queueLimit: 1,
    tags: {},
  },
  pool: null,
});

t.test('routed by unit id: the forwarded unit is the device target, which policy then judges', async (t) => {
  const r = new DeviceRouter([dev('turbine-1', 1, 255), dev('tank-1', 2, 7)]);
  t.match(r.route(1), { device: { config: { name: 'turbine-1' } }, unit: 255 });
  t.match(r.route(2), { unit: 7 });
  t.equal(r.route(9), undefined, 'unknown unit: no path');
});

t.test('listener bound to one device: the client unit id is forwarded unchanged (and judged as such)', async (t) => {
  const r = new DeviceRouter([dev('rtu-gw', 1, 1)], 'rtu-gw');
  t.match(r.route(2), { device: { config: { name: 'rtu-gw' } }, unit: 2 });
  t.match(r.route(0), { unit: 0 }, 'broadcast stays broadcast, so the policy sees unit 0');
});
