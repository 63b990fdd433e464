/**
 * The wire answer of each request outcome through a real gateway (one table, gateway/errors.ts), with the
 * outcome also in the requests metric and the audit trail: denied 0x01, no-route 0x0A, timeout 0x0B,
 * queue-full 0x0A, internal-error 0x04 (logged with its error; the session stays). audit-unavailable 0x06 is
 * proven in test/adversarial/audit-write-ahead.test.ts.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const policy = `version: 1
trustDomain: plant.example
rules:
  - id: hmi
    principals: [spiffe://plant.example/hmi/line1]
    devices: [turbine-1]
    allow:
      - { access: read, table: holding, addresses: 0-199 }
      - { access: write, table: holding, addresses: 100-109 }
trust: { threshold: 0 }
`;
const logs: string[] = [];
const h = await startHarness({ policy, deviceTimeout: '300ms', deviceYaml: 'queueLimit: 1', logSink: (l) => logs.push(l) });
t.teardown(() => h.stop());
const hmi = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/hmi/line1'));
t.teardown(() => hmi.close());

const read = (address: number): Buffer => encodeRequest({ type: 'read-registers', fc: 3, address, quantity: 1 });
const write = (address: number, value: number): Buffer => encodeRequest({ type: 'write-single-register', fc: 6, address, value });
const bytes = (b: Buffer | null): number[] => [...(b ?? [])];

async function counted(outcome: string): Promise<number> {
  return (await h.gateway.metrics.requests.get()).values.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
}
function audited(outcome: string): Record<string, unknown>[] {
  const dir = join(h.dir, 'audit');
  return readdirSync(dir).filter((f) => f.startsWith('audit-') && f.endsWith('.jsonl')).sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => (e.type === 'request.decision' || e.type === 'request.outcome') && e.outcome === outcome);
}
async function settled(): Promise<void> {
  h.sim.setFault({ mode: 'none' });
  // A silent PLC leaves a late slot; the pool recycles the connection. Wait until a read passes again.
  for (let i = 0; i < 50; i++) if (bytes(await hmi.request(1, read(0)))[0] === 3) return;
  throw new Error('the PLC path did not come back');
}

t.test('denied → 0x01', async (t) => {
  const stranger = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/stranger'));
  t.teardown(() => stranger.close());
  t.same(bytes(await stranger.request(1, write(100, 1))), [0x86, 0x01]);
  t.equal(await counted('denied'), 1);
  t.equal(audited('denied').length, 1);
});

t.test('no-route → 0x0A', async (t) => {
  t.same(bytes(await hmi.request(9, read(0))), [0x83, 0x0a]);
  t.equal(await counted('no-route'), 1);
  t.match(audited('no-route'), [{ unit: 9 }]);
});

t.test('timeout → 0x0B', async (t) => {
  h.sim.setFault({ mode: 'silent' });
  t.same(bytes(await hmi.request(1, read(0))), [0x83, 0x0b]);
  t.equal(await counted('timeout'), 1);
  t.equal(audited('timeout').length, 1);
  await settled();
});

t.test('queue-full → 0x0A', async (t) => {
  h.sim.setFault({ mode: 'slow', delayMs: 150 });
  // maxInFlight 1, queueLimit 1: one on the wire, one queued, the third finds the queue full
  const answers = await Promise.all([hmi.request(1, read(0)), hmi.request(1, read(1)), hmi.request(1, read(2))]);
  t.same(bytes(answers[2]), [0x83, 0x0a]);
  t.equal(await counted('queue-full'), 1);
  t.equal(audited('queue-full').length, 1);
  await settled();
});

t.test('internal-error → 0x04, logged with the error, counted, audited; the session stays', async (t) => {
  const trust = h.gateway.trust;
  const check = trust.check.bind(trust);
  trust.check = () => {
    throw new Error('injected gate failure');
  };
  t.teardown(() => {
    trust.check = check;
  });
  t.same(bytes(await hmi.request(1, write(100, 1))), [0x86, 0x04]);
  trust.check = check;
  t.equal(await counted('internal-error'), 1);
  t.match(audited('internal-error'), [{ type: 'request.decision', fc: 6, reason: /injected gate failure/ }]);
  const line = logs.map((l) => JSON.parse(l) as Record<string, any>).find((l) => /pipeline failed/.test(String(l.msg)));
  t.match(line, { level: 50, err: { message: 'injected gate failure' }, fc: 6 });
  t.notOk(hmi.isClosed, 'same session');
  t.same(bytes(await hmi.request(1, write(100, 2))), bytes(write(100, 2)), 'and it goes on');
});
