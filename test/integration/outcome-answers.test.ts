/**
 * The wire answer of every request outcome of the one table (gateway/errors.ts `Outcomes`) through a real
 * gateway, each sent as the request that produces it, with the outcome also in the requests metric and the
 * audit trail: ok (the PLC's own PDU), denied 0x01, no-route 0x0A, invalid-request (the decoder's 03 / 02),
 * timeout 0x0B, timeout-unsent 0x0B, queue-full 0x0A, plc-exception (the PLC's own exception), no-answer 0x0B, aborted 0x0A,
 * internal-error 0x04 (logged with its error; the session stays), upstream-unavailable 0x0A (last: it stops the
 * PLC). audit-unavailable 0x06 is proven in test/adversarial/audit-write-ahead.test.ts (it needs a failing disk).
 * The last test checks that no outcome of the table is left without a test here or there.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRequest } from '../../protocols/modbus/index.js';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { Outcomes } from '../../gateway/errors.js';
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
  - id: poll
    principals: [spiffe://plant.example/poller]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-9 }]
    rate: 1/m
  - id: maint
    principals: [spiffe://plant.example/eng/1]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 150-159 }]
    jit: { approvers: [spiffe://plant.example/ops/*], maxDuration: 5m }
trust: { threshold: 0 }
`;
const logs: string[] = [];
const h = await startHarness({
  policy,
  deviceTimeout: '300ms',
  deviceYaml: 'queueLimit: 1',
  logSink: (l) => logs.push(l),
});
t.teardown(() => h.stop());
const hmi = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/hmi/line1'));
t.teardown(() => hmi.close());

const read = (address: number): Buffer => encodeRequest({ type: 'read-registers', fc: 3, address, quantity: 1 });
const write = (address: number, value: number): Buffer =>
  encodeRequest({ type: 'write-single-register', fc: 6, address, value });
const bytes = (b: Buffer | null): number[] => [...(b ?? [])];

async function counted(outcome: string): Promise<number> {
  return (await h.gateway.metrics.requests.get()).values
    .filter((v) => v.labels.outcome === outcome)
    .reduce((a, v) => a + v.value, 0);
}
function audited(outcome: string): Record<string, unknown>[] {
  const dir = join(h.dir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.startsWith('audit-') && f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
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

t.test('denied → 0x01 by the runtime gates too: a lock, a rate, a JIT rule; audited and counted by code', async (t) => {
  const poller = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/poller'));
  t.teardown(() => poller.close());
  const eng = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/eng/1'));
  t.teardown(() => eng.close());
  const lock = h.gateway.trust.lock({ kind: 'device', value: 'turbine-1' }, 'spiffe://plant.example/ops/test', 'gate');
  if (!lock.ok) throw new Error(lock.message);
  t.same(bytes(await poller.request(1, read(0))), [0x83, 0x01], 'locked');
  h.gateway.trust.locks.remove(lock.lock.id, 'spiffe://plant.example/ops/test');
  t.same(bytes(await poller.request(1, read(0))).slice(0, 2), [0x03, 0x02], 'the one token of the minute');
  t.same(bytes(await poller.request(1, read(0))), [0x83, 0x01], 'rate-limited');
  t.same(bytes(await eng.request(1, write(150, 1))), [0x86, 0x01], 'jit-required');
  t.notOk(poller.isClosed || eng.isClosed, 'a denial keeps the session [MB-TCP-SEC R-24]');
  const reasons = audited('denied').map((e) => e['reason']);
  t.match(reasons, [/^explicit-deny|^no-rule/, `locked ${lock.lock.id}`, 'rate-limited poll', 'jit-required maint']);
  const byCode = Object.fromEntries(
    (await h.gateway.metrics.denials.get()).values.map((v) => [String(v.labels.code), v.value]),
  );
  t.match(byCode, { locked: 1, 'rate-limited': 1, 'jit-required': 1 });
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

t.test('timeout-unsent → 0x0B: queued behind a silent request, never sent; audited as such', async (t) => {
  h.sim.setFault({ mode: 'silent' });
  const before = h.sim.counters().requests;
  // maxInFlight 1: the first is written and times out (its slot then waits for the late reply), the second
  // waits in the queue its whole budget and never reaches the PLC
  const [first, second] = await Promise.all([hmi.request(1, read(0)), hmi.request(1, read(1))]);
  t.same(bytes(first), [0x83, 0x0b]);
  t.same(bytes(second), [0x83, 0x0b], 'the same answer as any timeout');
  t.equal(h.sim.counters().requests - before, 1, 'only the first reached the PLC');
  t.equal(await counted('timeout-unsent'), 1);
  t.match(audited('timeout-unsent'), [{ type: 'request.decision', reads: [{ start: 1 }] }]);
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
  const line = logs
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((l) => /pipeline failed/.test(String(l.msg)));
  t.match(line, { level: 50, err: { message: 'injected gate failure' }, fc: 6 });
  t.notOk(hmi.isClosed, 'same session');
  t.same(bytes(await hmi.request(1, write(100, 2))), bytes(write(100, 2)), 'and it goes on');
});

t.test("ok → the PLC's own answer, byte for byte", async (t) => {
  const before = await counted('ok');
  const answer = bytes(await hmi.request(1, read(0)));
  t.same(answer.slice(0, 2), [0x03, 0x02], 'FC3, two data bytes');
  t.equal(answer.length, 4);
  t.same(bytes(await hmi.request(1, write(100, 7))), bytes(write(100, 7)), 'FC6 echoes the request [MB-APP 6.6]');
  t.equal(await counted('ok'), before + 2);
  t.ok(
    audited('ok').some((e) => e['fc'] === 6 && e['type'] === 'request.outcome'),
    "the write's outcome is audited",
  );
});

t.test(
  "invalid-request → the decoder's own exception: 0x03 for a bad quantity, 0x02 for a range past 65535",
  async (t) => {
    const zeroQuantity = Buffer.from([0x03, 0x00, 0x00, 0x00, 0x00]); // FC3, address 0, quantity 0 [MB-APP 6.3]
    const pastTheEnd = Buffer.from([0x03, 0xff, 0xff, 0x00, 0x02]); // FC3, address 65535, quantity 2
    t.same(bytes(await hmi.request(1, zeroQuantity)), [0x83, 0x03]);
    t.same(bytes(await hmi.request(1, pastTheEnd)), [0x83, 0x02]);
    t.equal(await counted('invalid-request'), 2);
    t.equal(audited('invalid-request').length, 2);
    t.notOk(hmi.isClosed, 'the session stays');
  },
);

t.test("plc-exception → the PLC's own exception passed through unchanged", async (t) => {
  h.sim.setFault({ mode: 'exception', code: 0x02 });
  t.same(bytes(await hmi.request(1, read(0))), [0x83, 0x02]);
  t.equal(await counted('plc-exception'), 1);
  t.equal(audited('plc-exception').length, 1);
  await settled();
});

t.test('no-answer → 0x0B: sent, then the PLC hung up (it may have executed it)', async (t) => {
  h.sim.setFault({ mode: 'close' });
  t.same(bytes(await hmi.request(1, write(101, 1))), [0x86, 0x0b]);
  t.equal(await counted('no-answer'), 1);
  t.match(audited('no-answer'), [{ type: 'request.outcome', fc: 6 }]);
  await settled();
});

t.test('aborted → 0x0A: queued when a device lock came, never sent; the session stays', async (t) => {
  const before = h.sim.counters().writes['holding:255:103'] ?? 0;
  h.sim.setFault({ mode: 'slow', delayMs: 150 });
  let lockId: string | null = null;
  // The lock lands with the second write's write-ahead decision: both writes have passed policy and the
  // runtime gates; the second is queued behind the first (one request in flight at this PLC, which is slow)
  // or not yet submitted, and is vetoed right before the socket write.
  let pending = 0;
  const unsubscribe = h.gateway.audit.subscribe({
    event: (rec: AuditRecord) => {
      if (lockId !== null || rec.type !== 'request.decision' || rec['outcome'] !== 'pending' || ++pending < 2) return;
      const r = h.gateway.trust.lock(
        { kind: 'device', value: 'turbine-1' },
        'spiffe://plant.example/ops/test',
        'outcome test',
      );
      if (r.ok) lockId = r.lock.id;
    },
  });
  t.teardown(unsubscribe);
  const answers = await Promise.all([hmi.request(1, write(102, 1)), hmi.request(1, write(103, 1))]);
  t.ok(lockId, 'the lock was created');
  if (lockId) h.gateway.trust.locks.remove(lockId, 'spiffe://plant.example/ops/test');
  t.same(bytes(answers[1]), [0x86, 0x0a]);
  t.ok((await counted('aborted')) >= 1);
  t.ok(
    audited('aborted').some((e) => e['type'] === 'request.outcome' && e['fc'] === 6),
    "audited as the write-ahead decision's outcome",
  );
  t.equal(h.sim.counters().writes['holding:255:103'] ?? 0, before, 'the PLC never saw it');
  t.notOk(hmi.isClosed, 'a device lock keeps the session');
  await settled();
});

t.test('upstream-unavailable → 0x0A: the PLC is down, nothing was sent', async (t) => {
  // The PLC hangs up on a request (no-answer): the pool holds no connection now and opens one only for new
  // work. With the PLC gone, that connect is refused.
  h.sim.setFault({ mode: 'close' });
  t.same(bytes(await hmi.request(1, read(0))), [0x83, 0x0b], 'no-answer first: the connection is gone');
  await h.sim.close();
  // deltas: an earlier test's request may have met the closing PLC too (a busy machine reorders them)
  const [countedBefore, auditedBefore] = [
    await counted('upstream-unavailable'),
    audited('upstream-unavailable').length,
  ];
  t.same(bytes(await hmi.request(1, read(0))), [0x83, 0x0a]);
  t.equal((await counted('upstream-unavailable')) - countedBefore, 1);
  t.equal(audited('upstream-unavailable').length - auditedBefore, 1);
});

t.test('every outcome of the table has its wire test', async (t) => {
  const here = readFileSync(new URL(import.meta.url), 'utf8');
  const auditTest = readFileSync(new URL('../adversarial/audit-write-ahead.test.ts', import.meta.url), 'utf8');
  for (const outcome of Object.keys(Outcomes)) {
    const tested =
      // prettier may wrap the call or pick double quotes (an apostrophe in the title): match either form.
      new RegExp(`t\\.test\\(\\s*['"\`]${outcome} →`).test(here) ||
      (outcome === 'audit-unavailable' && /0x86, 0x06/.test(auditTest));
    t.ok(tested, `${outcome} has a test that asserts its bytes on the wire`);
  }
});
