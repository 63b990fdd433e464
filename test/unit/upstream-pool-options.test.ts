import t from 'tap';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import { isGatewayError } from '../../gateway/errors.js';
import type { DevicePoolOptions } from '../../gateway/upstream/types.js';

const base: DevicePoolOptions = {
  name: 'plc',
  host: '127.0.0.1',
  port: 502,
  maxConnections: 2,
  timeoutMs: 1000,
  queueLimit: 10,
};

t.test('valid options construct a pool that opens nothing until used', async (t) => {
  const p = new DevicePool(base);
  t.same(p.stats(), { connections: 0, inFlight: 0, queued: 0, byClient: {}, lateReserved: 0, down: false });
  await p.close();
});

for (const [what, over] of [
  ['maxConnections 0', { maxConnections: 0 }],
  ['maxInFlight 17 (MB-TCP allows 1–16)', { maxInFlight: 17 }],
  ['fractional timeout', { timeoutMs: 1.5 }],
  ['queueLimit 0', { queueLimit: 0 }],
  ['port 70000', { port: 70000 }],
  ['empty host', { host: '' }],
  ['backoff max < initial', { backoff: { initialMs: 100, maxMs: 10 } }],
] as const) {
  t.test(`rejects ${what} with GW_ERR_UPSTREAM_CONFIG`, async (t) => {
    const err = (() => {
      try {
        new DevicePool({ ...base, ...over });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    t.ok(isGatewayError(err), 'a GatewayError');
    if (isGatewayError(err)) {
      t.equal(err.code, 'GW_ERR_UPSTREAM_CONFIG');
      t.match(err.message, /^upstream: device plc: /);
    }
  });
}
