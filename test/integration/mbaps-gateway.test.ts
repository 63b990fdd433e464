/**
 * The Modbus/TCP Security data path end to end over real TLS: dev-issued SVIDs, the sample policy, the
 * turbine simulator behind the gateway. Each denial answers 0x01 on the same transaction and keeps the session;
 * a malformed frame closes only its own session; upstream faults answer 0x0A/0x0B.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';
import { readAuditEvents } from '../helpers/handshake-clients.js';

const policy = readFileSync('gateway/config/samples/policy.yaml', 'utf8');
const h = await startHarness({ policy });
t.teardown(() => h.stop());

const hmi = await h.mint('spiffe://plant.example/hmi/line1');
const historian = await h.mint('spiffe://plant.example/historian');
const stranger = await h.mint('spiffe://plant.example/stranger');

const readHolding = (address: number, quantity = 1): Buffer =>
  encodeRequest({ type: 'read-registers', fc: 3, address, quantity });
const writeRegister = (address: number, value: number): Buffer =>
  encodeRequest({ type: 'write-single-register', fc: 6, address, value });

t.test('an allowed write reaches the PLC exactly once and reads back', async (t) => {
  const c = await TestMbapsClient.connect(h.port, hmi);
  t.teardown(() => c.close());
  const res = await c.request(1, writeRegister(100, 1500));
  t.same(res, writeRegister(100, 1500), 'FC6 echo from the PLC');
  t.same(h.sim.store(255).read('holding', 100, 1), { ok: true, value: [1500] });
  t.equal(h.sim.counters().writes['holding:255:100'], 1, 'applied once');
  const back = await c.request(1, readHolding(100));
  t.same([...(back ?? [])], [3, 2, 0x05, 0xdc]);
});

t.test('denials answer exception 0x01 on the same transaction and keep the session', async (t) => {
  const c = await TestMbapsClient.connect(h.port, historian);
  t.teardown(() => c.close());
  t.same([...(await c.request(1, writeRegister(100, 1)))!], [0x86, 0x01], 'historian may not write');
  t.same([...(await c.request(1, readHolding(0, 2)))!].slice(0, 2), [3, 4], 'session still serves reads');
  const s = await TestMbapsClient.connect(h.port, stranger);
  t.teardown(() => s.close());
  t.same([...(await s.request(1, readHolding(0)))!], [0x83, 0x01], 'stranger: default deny');
  t.same([...(await s.request(1, readHolding(0)))!], [0x83, 0x01], 'and again: still connected');
  t.notOk(s.isClosed);
});

t.test('value, range and function rules hold on the wire', async (t) => {
  const c = await TestMbapsClient.connect(h.port, hmi);
  t.teardown(() => c.close());
  t.same([...(await c.request(1, writeRegister(100, 9000)))!], [0x86, 0x01], 'setpoint above 3600');
  const block = encodeRequest({ type: 'write-multiple-registers', fc: 16, address: 106, values: [1, 2, 3, 4, 5] });
  t.same([...(await c.request(1, block))!], [0x90, 0x01], 'one register past 109 denies the whole FC16');
  const diag = encodeRequest({ type: 'diagnostics', fc: 8, subFunction: 1, data: Buffer.from([0, 0]) });
  t.same([...(await c.request(1, diag))!], [0x88, 0x01], 'FC8 restart comms denied');
  t.same([...(await c.request(1, readHolding(0, 200)))!], [0x83, 0x03], 'quantity 200 is a structural error (03)');
  t.same([...(await c.request(9, readHolding(0)))!], [0x83, 0x0a], 'unknown unit: no path (0x0A)');
});

t.test('200 pipelined requests in one TCP write are all answered, each on its own transaction', async (t) => {
  const c = await TestMbapsClient.connect(h.port, historian);
  t.teardown(() => c.close());
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => c.request(1, readHolding(i % 50, 2))));
  const wrong = answers
    .filter((a) => !(a?.[0] === 3 && a[1] === 4))
    .map((a) => a?.subarray(0, 2).toString('hex') ?? 'none');
  t.equal(
    200 - wrong.length,
    200,
    `all 200 answered with their registers${wrong.length ? `; not: ${wrong.join(' ')}` : ''}`,
  );
});

t.test('a malformed frame closes that session only', async (t) => {
  const bad = await TestMbapsClient.connect(h.port, historian);
  const good = await TestMbapsClient.connect(h.port, historian);
  t.teardown(() => good.close());
  bad.socket.write(Buffer.from([0, 1, 0, 7, 0, 6, 1, 3, 0, 0, 0, 1])); // protocol id 7
  await bad.closed;
  t.ok(bad.isClosed, 'offending session closed');
  t.same([...(await good.request(1, readHolding(0)))!].slice(0, 2), [3, 2], 'the other session is unaffected');
});

t.test('a PLC that stops answering yields 0x0B, and the session recovers', async (t) => {
  const c = await TestMbapsClient.connect(h.port, historian);
  t.teardown(() => c.close());
  h.sim.setFault({ mode: 'silent' });
  t.same([...(await c.request(1, readHolding(0)))!], [0x83, 0x0b]);
  h.sim.setFault({ mode: 'none' });
  let ok: Buffer | null = null;
  for (let i = 0; i < 20 && ok?.[0] !== 3; i++) ok = await c.request(1, readHolding(0));
  t.equal(ok?.[0], 3, 'reads work again after the fault clears');
});

t.test('a client without a certificate never reaches Modbus', async (t) => {
  const err = await new Promise<Error | null>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: h.port, ca: hmi.ca, checkServerIdentity: () => undefined });
    s.on('error', resolve);
    s.on('secureConnect', () => s.write(Buffer.from([0, 1, 0, 0, 0, 6, 1, 3, 0, 0, 0, 1])));
    s.on('data', () => resolve(null));
    s.on('close', () => resolve(new Error('closed')));
  });
  t.ok(err, 'refused');
  const audit = readdirSync(join(h.dir, 'audit')).filter((f) => f.endsWith('.jsonl') && !f.startsWith('checkpoint'));
  const text = audit.map((f) => readFileSync(join(h.dir, 'audit', f), 'utf8')).join('');
  t.match(text, /"type":"handshake.rejected"/, 'audited with its reason');
});

t.test('every request is audited with decision, rule and policy version', async (t) => {
  const events = readAuditEvents(join(h.dir, 'audit'));
  const decisions = events.filter((e) => e.type === 'request.decision');
  t.ok(decisions.length >= 10);
  t.ok(
    decisions.some((e) => e.outcome === 'no-route' && e.unit === 9 && e.decision === 'deny'),
    'an unknown unit is audited',
  );
  t.ok(
    decisions.some((e) => e.outcome === 'invalid-request' && e.fc === 3),
    'a structurally invalid request is audited',
  );
  const hmiWrite = decisions.find(
    (e) => e.identity === 'spiffe://plant.example/hmi/line1' && e.fc === 6 && e.decision === 'allow',
  );
  t.equal(hmiWrite?.ruleId, 'hmi-setpoint');
  t.equal(hmiWrite?.policyVersion, h.gateway.policy.current.version);
  t.match(hmiWrite?.writes, [{ values: [1500] }]);
  // A write is audited ahead (before it is forwarded), its outcome follows naming the decision's seq.
  t.equal(hmiWrite?.outcome, 'pending', 'write-ahead decision');
  const outcome = events.find((e) => e.type === 'request.outcome' && e.decisionSeq === hmiWrite?.seq);
  t.match(outcome, { identity: 'spiffe://plant.example/hmi/line1', fc: 6, outcome: 'ok' });
  t.ok(
    outcome !== undefined && hmiWrite !== undefined && outcome.seq > hmiWrite.seq,
    'the outcome follows its decision',
  );
  const read = decisions.find((e) => e.fc === 3 && e.decision === 'allow');
  t.equal(read?.outcome, 'ok', 'a read stays one event after its answer');
  t.notOk(events.some((e) => e.type === 'request.outcome' && e.decisionSeq === read?.seq));
});
