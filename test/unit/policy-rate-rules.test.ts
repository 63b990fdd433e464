/**
 * Several rate-limited rules granting parts of one request: the decision carries every one's rate
 * (gateway/policy/grants.ts), and the runtime takes a token of each bucket, all or none
 * (gateway/trust/rate-limiter.ts). The one-rule case keeps the rule's shared decision (no `rates`).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify } from '../../protocols/modbus/index.js';
import { compilePolicyText, evaluate } from '../../gateway/policy/index.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession } from '../../gateway/trust/runtime-gate.js';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';

const TD = 'spiffe://plant.example';
const HMI = { id: `${TD}/hmi/line1`, role: null };
const TEXT = `version: 1
trustDomain: plant.example
rules:
  - id: fast-poll
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    rate: 2/s
    allow: [{ access: read-write, table: holding, addresses: 0-99 }]
  - id: slow-region
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    rate: 1/s
    allow: [{ access: read, table: holding, addresses: 100-199 }]
  - id: free
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 200-299 }]
`;
const policy = compilePolicyText(TEXT, 'p.yaml');
const NOW = Date.parse('2026-03-04T10:00:00Z');
const read = (address: number, quantity: number) => classify({ type: 'read-registers', fc: 3, address, quantity }, 1);
const FAST = { ruleId: 'fast-poll', perSecond: 2 };
const SLOW = { ruleId: 'slow-region', perSecond: 1 };

t.test('the decision names every granting rule’s rate', async (t) => {
  const at = new Date(NOW);
  const spanning = evaluate(policy, HMI, 'turbine-1', read(99, 101), at);
  t.same(spanning.obligations, { rate: FAST, rates: [FAST, SLOW] }, 'both rates, the first rule’s first');
  t.same(evaluate(policy, HMI, 'turbine-1', read(150, 100), at).obligations, { rate: SLOW }, 'slow and free: one rate');
  const one = evaluate(policy, HMI, 'turbine-1', read(0, 10), at);
  t.equal(one, policy.rules[0]?.allowDecision, 'one rule: its shared decision, nothing allocated');
  const fc23 = classify(
    { type: 'read-write-registers', fc: 23, readAddress: 0, readQuantity: 2, writeAddress: 10, values: [1] },
    1,
  );
  t.equal(
    evaluate(policy, HMI, 'turbine-1', fc23, at),
    policy.rules[0]?.allowDecision,
    'one rule, two parts: one rate',
  );
});

t.test('the runtime charges every bucket, all or none', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-rate-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rt = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions: { all: () => [], countFor: () => 0, endMatching: () => 0 },
    audit: { append: () => ({ ok: true, seq: 1 }) },
    now: () => NOW,
    tickMs: 0,
  });
  const s: GateSession = {
    id: 's',
    peer: { ...HMI, notAfter: new Date(NOW + 864e5), fingerprint256: 'x' },
    readOnly: false,
    setReadOnly() {},
    end() {},
  };
  const gate = (req: ReturnType<typeof read>) =>
    rt.check(s, 'turbine-1', req, evaluate(policy, HMI, 'turbine-1', req, new Date(NOW)), NOW);
  t.same(gate(read(99, 101)), { effect: 'allow' }, 'first spanning read: a token of each');
  t.same(
    gate(read(99, 101)),
    { effect: 'deny', code: 'rate-limited', detail: 'slow-region' },
    'the slow bucket is empty',
  );
  t.same(
    gate(read(150, 1)),
    { effect: 'deny', code: 'rate-limited', detail: 'slow-region' },
    'slow region alone: empty',
  );
  t.same(gate(read(0, 1)), { effect: 'allow' }, 'the refused spanning read spent no fast token');
  t.same(gate(read(0, 1)), { effect: 'deny', code: 'rate-limited', detail: 'fast-poll' }, 'fast bucket: 2 of 2 spent');
});

t.test('policy explain prints each rate', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-rate-explain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'p.yaml');
  writeFileSync(file, TEXT);
  const io = memoryIo({}, dir);
  const args = ['explain', file, '--id', HMI.id, '--device', 'turbine-1', '--fc', '3', '--address', '99'];
  t.equal(await policyCommand([...args, '--count', '101'], io), 0);
  const out = io.stdout.join('\n');
  t.match(out, /^rate limit: rule fast-poll, 2\/s$/m);
  t.match(out, /^rate limit: rule slow-region, 1\/s$/m);
});
