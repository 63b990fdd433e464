/**
 * Commissioning mode cannot outlive its end: on a live gateway driven by fake timers, learning allows a listed
 * identity's unknown write, warns every hour, ends exactly at `until` (learn.ended reason until, metric 0,
 * /readyz off) and from then on the same write is denied; an explicit deny rule holds throughout. Plus the
 * judge's own rules (unit) and the 30-day bound (config error).
 */
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { classify, encodeRequest, type ModbusRequest } from '../../protocols/modbus/index.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { LearnMode } from '../../gateway/evidence/learn-mode.js';
import { startHarness, TestMbapsClient, TD } from '../helpers/gateway-harness.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const HMI = `spiffe://${TD}/hmi/line1`;
const HOUR = 3_600_000;
const POLICY = `version: 1
trustDomain: ${TD}
rules:
  - id: no-safety-writes
    effect: deny
    principals: ["spiffe://${TD}/**"]
    devices: ["*"]
    deny: [{ access: write, table: holding, addresses: 200-209 }]
`;

async function send(c: TestMbapsClient, req: ModbusRequest): Promise<true | number> {
  const pdu = await c.request(1, encodeRequest(req));
  if (pdu === null) throw new Error('no answer');
  return (pdu[0]! & 0x80) !== 0 ? pdu[1]! : true;
}

t.test('learn mode ends at until on a live gateway (injected clock); deny rules hold during it', async (t) => {
  const timers = new FakeTimers(Date.now());
  const until = new Date(timers.now() + 2 * HOUR + 30 * 60_000);
  const logs: string[] = [];
  const h = await startHarness({
    policy: POLICY,
    timers,
    logLevel: 'info',
    logSink: (l) => logs.push(l),
    deviceYaml: `learn: { until: "${until.toISOString()}", principals: ["${HMI}"] }`,
  });
  t.teardown(() => h.stop());
  const hmi = await TestMbapsClient.connect(h.port, await h.mint(HMI, { ttlSeconds: 86_400 }));
  t.teardown(() => hmi.close());
  const warnings = () => logs.filter((l) => l.includes('LEARN MODE ACTIVE on turbine-1')).length;
  const readyz = async () =>
    (
      (await (await fetch(`http://127.0.0.1:${h.gateway.endpoints.metrics!.port}/readyz`)).json()) as {
        checks: { learn: { detail: string } };
      }
    ).checks.learn.detail;

  t.equal(warnings(), 1, 'a loud line at start');
  t.equal(
    await send(hmi, { type: 'write-single-register', fc: 6, address: 100, value: 1500 }),
    true,
    'learning: the unknown write is allowed',
  );
  t.equal(
    await send(hmi, { type: 'write-single-register', fc: 6, address: 205, value: 1 }),
    0x01,
    'an explicit deny rule holds while learning',
  );
  timers.advance(HOUR);
  t.equal(warnings(), 2, 'and every hour');
  timers.advance(HOUR);
  t.equal(warnings(), 3);
  t.match(await readyz(), /^learning turbine-1 until /);
  t.equal(
    await send(hmi, { type: 'write-single-register', fc: 6, address: 100, value: 1600 }),
    true,
    'still learning 30 min before the end',
  );
  timers.advance(30 * 60_000);
  t.equal(
    await send(hmi, { type: 'write-single-register', fc: 6, address: 100, value: 1500 }),
    0x01,
    'at until: the policy is enforced again',
  );
  t.equal(await readyz(), 'off');
  const text = await (await fetch(`http://127.0.0.1:${h.gateway.endpoints.metrics!.port}/metrics`)).text();
  t.match(text, /verigate_learn_active\{device="turbine-1"\} 0/);
  timers.advance(HOUR);
  t.equal(warnings(), 3, 'no more warnings after the end');
  const ev: Record<string, unknown>[] = [];
  verifyAuditDir(join(h.dir, 'audit'), { allowMissingCheckpoints: true, onEvent: (e) => ev.push(e) });
  t.same(
    ev.filter((e) => e['type'] === 'learn.ended').map((e) => [e['reason'], e['learned']]),
    [['until', 2]],
    'learn.ended once, at until, by the timer',
  );
  const writes = ev
    .filter((e) => e['type'] === 'request.decision' && e['fc'] === 6 && e['identity'] === HMI)
    .map((e) => [e['decision'], e['reason']]);
  t.same(writes, [
    ['learn', 'learn no-rule'],
    ['deny', 'explicit-deny write holding:205'],
    ['learn', 'learn no-rule'],
    ['deny', 'no-rule'],
  ]);
});

t.test('the judge: listed identities, learnable denials only, no broadcast writes, hard end', async (t) => {
  let now = 1_000_000;
  const events: AuditEventInput[] = [];
  const timers = new FakeTimers(now);
  const learn = new LearnMode({
    devices: [{ name: 'plc', learn: { untilMs: now + HOUR, principals: [`spiffe://${TD}/hmi/*`] } }, { name: 'other' }],
    audit: { append: (e) => (events.push(e), { ok: true, seq: events.length }) },
    timers,
    now: () => now,
    registry: new Registry(),
    logger: { warn: () => undefined, info: () => undefined },
  });
  learn.start();
  const req = classify({ type: 'write-single-register', fc: 6, address: 1, value: 2 }, 1);
  const bcast = classify({ type: 'write-single-register', fc: 6, address: 1, value: 2 }, 0);
  const deny = (reason: string, ruleId: string | null = null) => ({ effect: 'deny' as const, ruleId, reason });
  t.match(learn.judge({ id: HMI }, 'plc', req, deny('no-rule'), now), {
    effect: 'allow',
    ruleId: null,
    reason: 'learn no-rule',
  });
  t.match(learn.judge({ id: HMI }, 'plc', req, deny('value-not-allowed holding:1=2', 'r1'), now), {
    effect: 'allow',
    ruleId: 'r1',
    reason: 'learn value-not-allowed holding:1=2',
  });
  for (const reason of [
    'explicit-deny write holding:1',
    'malformed-request x',
    'outside-schedule r',
    'unit-not-allowed 3',
    'broadcast-not-allowed',
  ]) {
    t.equal(learn.judge({ id: HMI }, 'plc', req, deny(reason), now).effect, 'deny', `${reason} is never learned`);
  }
  t.equal(
    learn.judge({ id: `spiffe://${TD}/stranger` }, 'plc', req, deny('no-rule'), now).effect,
    'deny',
    'unlisted identity',
  );
  t.equal(learn.judge({ id: HMI }, 'other', req, deny('no-rule'), now).effect, 'deny', 'a device without learn');
  t.equal(learn.judge({ id: HMI }, 'plc', bcast, deny('no-rule'), now).effect, 'deny', 'a broadcast write');
  now += HOUR; // the clock passes until before any timer fired: the request itself ends it
  t.equal(learn.judge({ id: HMI }, 'plc', req, deny('no-rule'), now).effect, 'deny');
  t.same(
    events.map((e) => e.type),
    ['learn.started', 'learn.ended'],
  );
  learn.stop();
  t.equal(events.length, 2, 'stop after the end adds nothing');
  t.throws(
    () =>
      new LearnMode({
        devices: [{ name: 'plc', learn: { untilMs: now + 31 * 86_400_000, principals: [HMI] } }],
        audit: { append: () => ({ ok: true, seq: 1 }) },
        timers,
        now: () => now,
        registry: new Registry(),
        logger: { warn: () => undefined, info: () => undefined },
      }),
    { code: 'GW_ERR_CONFIG_INVALID' },
    'more than 30 days ahead at start',
  );
});

t.test('gateway.yaml: learn.until more than 30 days ahead, or not a time, is a config error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-learn-cfg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const yaml = (until: string) => `version: 1
devices:
  - { name: plc, address: "127.0.0.1:502", unitId: 1, learn: { until: "${until}", principals: ["${HMI}"] } }
policy: { file: policy.yaml }
`;
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, yaml(new Date(Date.now() + 31 * 86_400_000).toISOString()));
  t.throws(() => loadGatewayConfig(file), { code: 'GW_ERR_CONFIG_INVALID' });
  writeFileSync(file, yaml('next week'));
  t.throws(() => loadGatewayConfig(file), { code: 'GW_ERR_CONFIG_INVALID' });
  writeFileSync(file, yaml(new Date(Date.now() + 7 * 86_400_000).toISOString()));
  t.match(loadGatewayConfig(file).devices[0], { learn: { principals: [HMI] } });
});
