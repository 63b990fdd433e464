/**
 * /metrics, /healthz and /readyz of a running gateway, and readiness turning 503 when a check fails.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { GatewayMetrics } from '../../gateway/observability/metrics.js';
import { ObservabilityServer } from '../../gateway/observability/http-server.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const get = async (port: number, path: string): Promise<{ status: number; body: string }> => {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
};

t.test('a running gateway exposes metrics, liveness and readiness', async (t) => {
  const h = await startHarness({ policy: readFileSync('gateway/config/samples/policy.yaml', 'utf8') });
  t.teardown(() => h.stop());
  const port = h.gateway.endpoints.metrics?.port ?? 0;
  const c = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/historian'));
  t.teardown(() => c.close());
  await c.request(1, encodeRequest({ type: 'read-registers', fc: 4, address: 0, quantity: 2 }));
  await c.request(1, encodeRequest({ type: 'write-single-register', fc: 6, address: 100, value: 1 }));
  t.same(await get(port, '/healthz'), { status: 200, body: '{"status":"alive"}\n' });
  const ready = await get(port, '/readyz');
  t.equal(ready.status, 200);
  t.match(JSON.parse(ready.body), {
    ready: true,
    checks: { svid: { ok: true }, policy: { ok: true }, audit: { ok: true } },
  });
  const m = (await get(port, '/metrics')).body;
  t.match(m, /verigate_requests_total\{outcome="ok",device="turbine-1",fc="4"\} 1/);
  t.match(m, /verigate_requests_total\{outcome="denied",device="turbine-1",fc="6"\} 1/);
  t.match(m, /verigate_sessions\{transport="mbaps"\} 1/);
  t.match(m, /verigate_request_duration_seconds_bucket\{le="0.005",device="turbine-1"\}/);
  t.match(m, /verigate_upstream_queue_depth\{device="turbine-1"\} 0/);
  t.match(m, /verigate_audit_healthy 1/);
  t.match(m, /verigate_trust_score\{identity="spiffe:\/\/plant.example\/historian"\} 1/);
  const left = Number(/^verigate_svid_expiry_seconds (\S+)$/m.exec(m)?.[1]);
  t.ok(left > 3600 && left <= 86_400, `SVID seconds left: ${left}`);
  t.equal((await get(port, '/nope')).status, 404);
});

t.test('readiness is 503 and names the failing check', async (t) => {
  let svidOk = false;
  const s = new ObservabilityServer(new GatewayMetrics({ defaultMetrics: false }), {
    svid: () => ({ ok: svidOk, detail: svidOk ? 'ok' : 'failed-closed' }),
    policy: () => ({ ok: true }),
    broken: () => {
      throw new Error('store offline');
    },
  });
  const addr = await s.listen('127.0.0.1', 0);
  t.teardown(() => s.close());
  const r = await get(addr.port, '/readyz');
  t.equal(r.status, 503);
  t.match(JSON.parse(r.body), {
    ready: false,
    checks: { svid: { ok: false, detail: 'failed-closed' }, broken: { ok: false, detail: 'store offline' } },
  });
  svidOk = true;
  t.match(s.readiness(), { ready: false }, 'still not ready while one check fails');
});
