/**
 * A gRPC Modbus call refused before policy (unknown device, invalid request) is audited like a refused
 * Modbus/TCP Security frame (request-refusals.ts): one `request.decision` (deny, `no-route` / `invalid-request`),
 * counted on the session, answered with its status once the event is committed, and UNAVAILABLE
 * audit-unavailable when it is not (fail-closed). A real RequestPipeline with a fake audit log behind it.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { ModbusRequest } from '../../protocols/modbus/index.js';
import { runCall } from '../../gateway/frontdoor/grpc-modbus-call.js';
import { startWatch } from '../../gateway/frontdoor/grpc-watch.js';
import { RequestPipeline } from '../../gateway/frontdoor/request-pipeline.js';
import { Session } from '../../gateway/frontdoor/session.js';
import { GatewayMetrics } from '../../gateway/observability/metrics.js';
import type { AppendResult, AuditEventInput } from '../../gateway/audit/audit-events.js';
import type { DeviceConfig } from '../../gateway/config/gateway-config.js';
import { nullLogger } from '../../gateway/logger.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const READ: ModbusRequest = { type: 'read-registers', fc: 3, address: 0, quantity: 1 };

function setup(over: { commitFails?: boolean; commit?: Promise<boolean> } = {}) {
  const events: AuditEventInput[] = [];
  let seq = 0;
  const submitted: unknown[] = [];
  const pipeline = new RequestPipeline({
    policy: () => ({
      version: 'v1',
      evaluate: () => ({ effect: 'allow', ruleId: 'r1', code: 'allowed', reason: 'allowed' }),
    }),
    gate: { admit: () => ({ ok: true }), check: () => ({ effect: 'allow' }), observe: () => {} },
    audit: {
      append(e: AuditEventInput): AppendResult {
        events.push(e);
        return { ok: true, seq: ++seq };
      },
      healthy: () => true,
      committed: () => over.commit ?? Promise.resolve(over.commitFails !== true),
    },
    metrics: new GatewayMetrics(),
    now: () => 1000,
    logger: nullLogger,
  });
  const session = new Session(
    'grpc',
    { id: 'spiffe://plant.example/hmi/1', role: null, notAfter: new Date(Date.now() + 3_600_000), fingerprint256: 'x' },
    '127.0.0.1:1',
    0,
    () => {},
  );
  const plc = {
    config: { name: 'plc-1', targetUnitId: 1 } as DeviceConfig,
    pool: {
      submit: (r: unknown): Promise<never> => {
        submitted.push(r);
        return Promise.reject(new Error('not expected'));
      },
    },
  };
  const deps = { router: { named: (n: string) => (n === 'plc-1' ? plc : undefined) }, pipeline };
  return { deps, session, events, submitted };
}

const meta = (e: ServiceError, key: string): unknown => e.metadata?.get(key)[0];

t.test('unknown device: NOT_FOUND once its no-route request.decision is in the trail', async (t) => {
  const s = setup();
  const r = await runCall(s.deps, s.session, 'boiler-9', READ);
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.error.code, status.NOT_FOUND);
  t.equal(meta(r.error, 'verigate-outcome'), 'no-route');
  t.match(s.events, [
    {
      type: 'request.decision',
      identity: 'spiffe://plant.example/hmi/1',
      device: '',
      fc: 3,
      decision: 'deny',
      outcome: 'no-route',
      reason: 'no-route device boiler-9',
    },
  ]);
  t.equal(s.events.length, 1);
  t.equal(s.session.denied, 1, 'counted on the session as a refused request');
  t.same(s.submitted, [], 'nothing reaches a PLC');
});

t.test('invalid request (quantity, value): INVALID_ARGUMENT, audited invalid-request', async (t) => {
  const s = setup();
  const zero = await runCall(s.deps, s.session, 'plc-1', { ...READ, quantity: 0 });
  t.equal(zero.ok ? -1 : zero.error.code, status.INVALID_ARGUMENT);
  const big = await runCall(s.deps, s.session, 'plc-1', {
    type: 'write-single-register',
    fc: 6,
    address: 0,
    value: 70000,
  });
  t.equal(big.ok ? -1 : big.error.code, status.INVALID_ARGUMENT);
  t.match(s.events, [
    {
      type: 'request.decision',
      unit: 1,
      fc: 3,
      decision: 'deny',
      outcome: 'invalid-request',
      reason: /^invalid-request /,
    },
    {
      type: 'request.decision',
      fc: 6,
      decision: 'deny',
      outcome: 'invalid-request',
      reason: 'invalid-request value 70000 does not fit a register (0..65535)',
    },
  ]);
  t.equal(s.session.denied, 2);
});

t.test('fail-closed: a refusal whose event did not reach the file is UNAVAILABLE audit-unavailable', async (t) => {
  const s = setup({ commitFails: true });
  const r = await runCall(s.deps, s.session, 'boiler-9', READ);
  t.equal(r.ok ? -1 : r.error.code, status.UNAVAILABLE);
  t.equal(r.ok ? '' : meta(r.error, 'verigate-outcome'), 'audit-unavailable');
});

t.test('a hostile device name: clipped in the trail and the status, printable in the metadata', async (t) => {
  const s = setup();
  const name = `é\n${'x'.repeat(100_000)}`;
  const r = await runCall(s.deps, s.session, name, READ);
  t.equal(r.ok ? -1 : r.error.code, status.NOT_FOUND, 'answered, not thrown (grpc-js refuses non-ASCII metadata)');
  if (r.ok) return;
  t.ok(r.error.details.length < 200, 'the status echoes at most 128 characters of the name');
  t.match(meta(r.error, 'verigate-reason'), /^no-route device \?\?x+$/);
  const reason = String((s.events[0] as { reason?: string }).reason);
  t.ok(reason.length <= 'no-route device '.length + 128, 'the audit reason is bounded');
});

t.test('Watch refused before its first poll: audited, then the stream ends with the status', async (t) => {
  const s = setup();
  const timers = new FakeTimers(Date.now());
  const errors: ServiceError[] = [];
  const call = Object.assign(new EventEmitter(), {
    request: { device: 'boiler-9', table: 'HOLDING_REGISTERS', address: 0, count: 1, intervalMs: 100 },
    getPeer: () => 'x',
    write: () => true,
    writableLength: 0,
  });
  const ended = new Promise<void>((resolve) =>
    call.on('error', (e: ServiceError) => {
      errors.push(e);
      resolve();
    }),
  );
  const deps = { ...s.deps, sessionOf: () => ({ ok: true as const, session: s.session }), now: () => 0, timers };
  startWatch(deps, call as never);
  await ended;
  t.equal(errors[0]?.code, status.NOT_FOUND);
  t.match(s.events, [{ type: 'request.decision', outcome: 'no-route', reason: 'no-route device boiler-9' }]);
  t.equal(timers.pending, 0, 'no poll armed');
});

t.test('the status waits for the commit: none while the event is appended but not yet durable', async (t) => {
  let release: (ok: boolean) => void = () => undefined;
  const s = setup({ commit: new Promise<boolean>((r) => (release = r)) });
  let settled = false;
  const call = runCall(s.deps, s.session, 'boiler-9', READ).then((r) => {
    settled = true;
    return r;
  });
  for (let i = 0; i < 3; i++) await new Promise<void>((r) => setImmediate(r));
  t.equal(s.events.length, 1, 'the no-route event is appended');
  t.equal(settled, false, 'no status yet: the event is not committed');
  release(true);
  const r = await call;
  t.equal(r.ok ? -1 : r.error.code, status.NOT_FOUND, 'then NOT_FOUND');
});
