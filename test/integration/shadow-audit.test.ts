/**
 * Shadow rules on the wire: a rule in `mode: shadow` is evaluated beside the enforced policy; its would-deny is
 * logged and recorded in the request's audit event with its rule id, and never changes the verdict.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const policy = `version: 1
trustDomain: plant.example
rules:
  - id: hmi-setpoint
    principals: [spiffe://plant.example/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 100-109, values: 0..3600 }]
  - id: candidate-cap
    description: proposed tighter cap, observed before it is enforced
    mode: shadow
    effect: deny
    principals: [spiffe://plant.example/hmi/**]
    devices: [turbine-1]
    deny: [{ access: write, table: holding, addresses: 100-109, values: 3001..3600 }]
`;
const logs: string[] = [];
const h = await startHarness({ policy, logSink: (l) => logs.push(l) });
t.teardown(() => h.stop());

t.test('a shadow deny is recorded and logged, the enforced allow stands', async (t) => {
  const c = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/hmi/line1'));
  t.teardown(() => c.close());
  const pdu = encodeRequest({ type: 'write-single-register', fc: 6, address: 100, value: 3300 });
  t.same(await c.request(1, pdu), pdu, 'write allowed by the enforced rule');
  const files = readdirSync(join(h.dir, 'audit')).filter((f) => f.endsWith('.jsonl') && !f.startsWith('checkpoint'));
  const events = files
    .flatMap((f) =>
      readFileSync(join(h.dir, 'audit', f), 'utf8')
        .trim()
        .split('\n'),
    )
    .map((l) => JSON.parse(l) as { type: string });
  const d = events.find((e) => e.type === 'request.decision');
  t.match(d, { decision: 'allow', ruleId: 'hmi-setpoint', shadow: [{ ruleId: 'candidate-cap', effect: 'deny' }] });
  t.ok(
    logs.some((l) => l.includes('"shadow"') && l.includes('candidate-cap')),
    'logged as a shadow verdict',
  );
});
