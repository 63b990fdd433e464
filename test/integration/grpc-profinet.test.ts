/**
 * PROFINET IO end to end: a REAL gateway (dev identity, the lab's sample policy, lab-style SVIDs) in front of
 * the simulated remote I/O station rio-1 (remote-io scenario), driven over the gRPC `Profinet` service. What
 * reached the device is read from the simulator's own counters, never from the gateway:
 * I&M0 / 0xF000 reads; a denied index answers PERMISSION_DENIED with ZERO datagrams (and the device, armed to
 * crash on a user-index read, stays up); bad arguments INVALID_ARGUMENT, nothing sent; a JIT-gated write
 * passes only with an approved grant and is refused after expiry (injected clock); a device error is
 * FAILED_PRECONDITION with its PNIOStatus; a silent device DEADLINE_EXCEEDED after exactly one retransmission;
 * a write whose answer is lost is sent once and answered UNKNOWN write-lost; the audit trail holds
 * `record.decision` events with the record's fields.
 */
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeIm0, decodeRealIdentification } from '../../protocols/profinet/index.js';
import type { VerigateClient } from '../../gateway/cli/admin-client.js';
import { TestClock } from '../helpers/gateway-harness.js';
import { startHarness } from '../helpers/grpc-harness.js';
import { flushIo } from '../helpers/eventually.js';

const samplePolicy = readFileSync('gateway/config/samples/policy.yaml', 'utf8');
const HISTORIAN = 'spiffe://plant.example/historian';
const ENG = 'spiffe://plant.example/eng/alice';
const LEAD = 'spiffe://plant.example/ops/shift-lead';
const STRANGER = 'spiffe://plant.example/stranger';
const DEVICE = 'rio-1';

const exits: { code: number; why: string }[] = [];
const clock = new TestClock();
const h = await startHarness(samplePolicy, {
  now: clock.now,
  profinet: {
    // Per transmission; long enough for a loaded 2-core machine, short enough for the silent/lost cases.
    timeout: '400ms',
    // The write AR must outlive the test's pauses: the lost write goes over the AR the granted write opened.
    yaml: 'arIdleTimeout: 60s',
    sim: { exitOnUserIndexRead: true, exit: (code, why) => exits.push({ code, why }), sweepMs: 0 },
  },
});
t.teardown(() => h.stop());
const sim = h.pnSim;
if (!sim) throw new Error('the harness started no PROFINET simulator');

const clients = new Map<string, VerigateClient>();
async function pn(id: string): Promise<VerigateClient> {
  const k = `pn ${id}`;
  if (!clients.has(k)) clients.set(k, await h.client('Profinet', id));
  return clients.get(k) as VerigateClient;
}
async function admin(id: string): Promise<VerigateClient> {
  const k = `admin ${id}`;
  if (!clients.has(k)) clients.set(k, await h.client('Admin', id));
  return clients.get(k) as VerigateClient;
}
const read = (slot: number, subslot: number, index: number, maxLength = 4096) => ({
  device: DEVICE,
  api: 0,
  slot,
  subslot,
  index,
  maxLength,
});
const write = (slot: number, subslot: number, index: number, hex: string) => ({
  device: DEVICE,
  api: 0,
  slot,
  subslot,
  index,
  data: Buffer.from(hex, 'hex'),
});
type Fail = { ok: false; codeName: string; details: string; metadata: Record<string, string> };
function failed(t: Test, r: { ok: boolean }, codeName: string, msg: string): Fail {
  t.equal(r.ok, false, `${msg}: refused`);
  const f = r as Fail;
  t.equal(f.codeName, codeName, `${msg}: ${codeName} (${f.details})`);
  return f;
}
const hasKey = (o: Readonly<Record<string, number>>, key: string): number => o[key] ?? 0;

function auditEvents(): Record<string, unknown>[] {
  const dir = join(h.dir, 'audit');
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl') && !f.startsWith('checkpoint'))
    .sort();
  return files
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

t.test('historian reads I&M0 and RealIdentificationData (records and ReadIdentity)', async (t) => {
  sim.resetCounters();
  const c = await pn(HISTORIAN);
  const im0 = await c.call<{ data: Buffer }>('ReadRecord', read(0, 1, 0xaff0));
  t.ok(im0.ok, 'I&M0 read allowed');
  if (!im0.ok) return;
  const d = decodeIm0(im0.value.data);
  t.ok(d.ok, 'the bytes are a valid I&M0 record');
  if (d.ok)
    t.match(d.value, {
      vendorId: 0x0fee,
      orderId: 'VG-RIO-ET16',
      serialNumber: 'S-RIO1-000123',
      hardwareRevision: 3,
      softwareRevision: [2, 4, 1],
    });
  const real = await c.call<{ data: Buffer }>('ReadRecord', read(0, 1, 0xf000));
  t.ok(real.ok, '0xF000 read allowed');
  if (real.ok) {
    const r = decodeRealIdentification(real.value.data);
    t.ok(r.ok, 'valid RealIdentificationData');
    if (r.ok)
      t.same(
        r.value.modules.map((m) => m.slot),
        [0, 1, 2, 3],
        'DAP and the three modules',
      );
  }
  const id = await c.call<{
    im0: Record<string, unknown>;
    modules: { slot: number; submodules: { subslot: number }[] }[];
  }>('ReadIdentity', { device: DEVICE });
  t.ok(id.ok, 'ReadIdentity allowed');
  if (id.ok) {
    t.match(id.value.im0, {
      vendorId: 0x0fee,
      orderId: 'VG-RIO-ET16',
      serialNumber: 'S-RIO1-000123',
      softwareRevision: 'V2.4.1',
      imVersion: '1.1',
    });
    t.same(
      id.value.modules.map((m) => m.slot),
      [0, 1, 2, 3],
    );
    t.same(
      id.value.modules[0]?.submodules.map((s) => s.subslot),
      [1, 0x8000, 0x8001, 0x8002],
      'DAP: device, interface, two ports',
    );
  }
  const n = sim.counters();
  t.equal(hasKey(n.reads, '0/0/1/0xaff0'), 2, 'I&M0 reached the device twice (ReadRecord + ReadIdentity)');
  t.equal(hasKey(n.reads, '0/0/1/0xf000'), 2, '0xF000 reached the device twice');
  t.equal(hasKey(n.requests, 'read-implicit'), 4, 'all four as Read Implicit');
  t.equal(n.requests['connect'] ?? 0, 0, 'no AR opened for reads');
});

t.test('a denied index: PERMISSION_DENIED, zero datagrams, the crash-prone device stays up', async (t) => {
  sim.resetCounters();
  const hist = await pn(HISTORIAN);
  // 0x007B on slot 1/1: the user-index read that crashed a real device stack. The simulator is armed to exit.
  const f = failed(t, await hist.call('ReadRecord', read(1, 1, 0x7b, 64)), 'PERMISSION_DENIED', 'user index 0x007B');
  t.match(f.metadata['verigate-reason'], /^index-not-allowed read api 0 slot 1 subslot 0x0001 index 0x007b/);
  t.equal(f.metadata['verigate-outcome'], 'denied');
  failed(t, await hist.call('ReadRecord', read(1, 1, 0x0100, 2)), 'PERMISSION_DENIED', 'historian reads no parameters');
  const len = failed(
    t,
    await hist.call('ReadRecord', read(0, 1, 0xaff0, 65535)),
    'PERMISSION_DENIED',
    'more than the rule length',
  );
  t.match(len.metadata['verigate-reason'], /^length-not-allowed read/);
  failed(t, await hist.call('WriteRecord', write(1, 1, 0x0100, '0032')), 'PERMISSION_DENIED', 'historian never writes');
  const s = failed(
    t,
    await (await pn(STRANGER)).call('ReadIdentity', { device: DEVICE }),
    'PERMISSION_DENIED',
    'stranger',
  );
  t.match(s.metadata['verigate-reason'], /no-rule/);
  const n = sim.counters();
  t.equal(n.datagrams, 0, 'ZERO datagrams reached the device');
  t.equal(n.userIndexReads, 0);
  t.equal(sim.crashed, false, 'the device is still up');
  t.same(exits, [], 'and never tried to exit');
  const ok = await hist.call('ReadRecord', read(0, 1, 0xaff0));
  t.ok(ok.ok, 'the same client still reads I&M0 afterwards');
});

t.test('bad arguments: INVALID_ARGUMENT, nothing sent', async (t) => {
  sim.resetCounters();
  const hist = await pn(HISTORIAN);
  const eng = await pn(ENG);
  const cases: [VerigateClient, string, object, string][] = [
    [hist, 'ReadRecord', { ...read(0, 1, 0xaff0), device: 'no-such-device' }, 'unknown device'],
    [hist, 'ReadRecord', { ...read(0, 1, 0xaff0), device: 'turbine-1' }, 'a Modbus device is no PROFINET device'],
    [hist, 'ReadRecord', read(0x10000, 1, 0xaff0), 'slot > 0xFFFF'],
    [hist, 'ReadRecord', read(0, 0x10000, 0xaff0), 'subslot > 0xFFFF'],
    [hist, 'ReadRecord', read(0, 1, 0x10000), 'index > 0xFFFF'],
    [hist, 'ReadRecord', read(0, 1, 0xaff0, 0), 'max_length 0'],
    [hist, 'ReadRecord', read(0, 1, 0xaff0, 65536), 'max_length > 65535'],
    [eng, 'WriteRecord', write(1, 1, 0x0100, ''), 'empty data'],
    [eng, 'WriteRecord', { ...write(1, 1, 0x0100, ''), data: Buffer.alloc(65536) }, 'data > 65535 bytes'],
    [hist, 'ReadIdentity', { device: 'no-such-device' }, 'identity of an unknown device'],
  ];
  for (const [c, method, req, what] of cases) {
    const f = failed(t, await c.call(method, req), 'INVALID_ARGUMENT', what);
    t.equal(f.metadata['verigate-outcome'], 'invalid-request', `${what}: outcome invalid-request`);
  }
  t.equal(sim.counters().datagrams, 0, 'ZERO datagrams for any of them');
});

t.test(
  'JIT-gated write: refused without a grant, passes with an approved one, refused after expiry; a lost write is not resent',
  async (t) => {
    sim.resetCounters();
    const eng = await pn(ENG);
    const KEY = '0/1/1/0x0100';
    const before = sim.readRecord({ api: 0, slot: 1, subslot: 1, index: 0x0100 })?.toString('hex');
    t.equal(before, '001e', 'input delay starts at 3.0 ms');
    const noGrant = failed(
      t,
      await eng.call('WriteRecord', write(1, 1, 0x0100, '0032')),
      'PERMISSION_DENIED',
      'no grant yet',
    );
    t.match(noGrant.metadata['verigate-reason'], /jit/);
    t.equal(noGrant.metadata['verigate-rule-id'], 'eng-pn-input-delay');
    t.equal(sim.counters().datagrams, 0, 'nothing sent without a grant');

    const req = await (
      await admin(ENG)
    ).call<{ id: string; status: string }>('RequestGrant', {
      device: DEVICE,
      table: 'RECORDS',
      start: 0x0100,
      end: 0x0100,
      access: 'write',
      // Shorter than the sample policy's session idleTimeout (10m): moving the clock past the grant's end must
      // not also make the other clients' sessions idle. The idle sweep runs on real 1 s ticks against this
      // clock, so a session it ends while a call is on its way fails that call UNAVAILABLE (read ECONNRESET).
      durationS: 300,
      reason: 'DI debounce for P-101',
    });
    t.ok(req.ok, `grant requested: ${req.ok ? '' : (req as Fail).details}`);
    if (!req.ok) return;
    t.equal(req.value.status, 'pending');
    failed(
      t,
      await eng.call('WriteRecord', write(1, 1, 0x0100, '0032')),
      'PERMISSION_DENIED',
      'a pending grant is no grant',
    );
    failed(
      t,
      await (await admin(ENG)).call('ApproveGrant', { grantId: req.value.id }),
      'PERMISSION_DENIED',
      'no self-approval',
    );
    const ok = await (await admin(LEAD)).call<{ status: string }>('ApproveGrant', { grantId: req.value.id });
    t.ok(ok.ok && ok.value.status === 'active', 'the shift lead approves');

    const w = await eng.call<{ length: number }>('WriteRecord', write(1, 1, 0x0100, '0032'));
    t.ok(w.ok, `write passes with the grant: ${w.ok ? '' : (w as Fail).details}`);
    if (w.ok) t.equal(w.value.length, 2);
    t.equal(
      sim.readRecord({ api: 0, slot: 1, subslot: 1, index: 0x0100 })?.toString('hex'),
      '0032',
      'the device holds 5.0 ms',
    );
    const v = failed(
      t,
      await eng.call('WriteRecord', write(1, 1, 0x0100, '0fa0')),
      'PERMISSION_DENIED',
      'value out of the typed range',
    );
    t.match(v.metadata['verigate-reason'], /value-not-allowed .*u16be=4000/);
    const long = failed(
      t,
      await eng.call('WriteRecord', write(1, 1, 0x0100, '00320032')),
      'INVALID_ARGUMENT',
      "data longer than the policy's length",
    );
    t.match(long.metadata['verigate-reason'], /^length-not-allowed write .* length 4 \(exactly 2\)/);
    failed(
      t,
      await eng.call('WriteRecord', write(3, 1, 0x0100, '0003000300030003')),
      'PERMISSION_DENIED',
      'the grant does not reach another module',
    );
    let n = sim.counters();
    t.equal(hasKey(n.writes, KEY), 1, 'exactly the one granted write reached the device');
    t.equal(n.ars.established, 1, 'through one device-access AR');

    // The answer to the next write is lost: the device executes it, the gateway must not send it again.
    sim.setFault({ mode: 'drop-answers' });
    const lost = failed(t, await eng.call('WriteRecord', write(1, 1, 0x0100, '0040')), 'UNKNOWN', 'lost write');
    t.equal(lost.metadata['verigate-outcome'], 'write-lost');
    sim.setFault({ mode: 'none' });
    // The gateway answered after its timeout, and a settled call sends nothing more (its timers are cleared): any
    // second transmission went out before that. Let a datagram still on the loopback reach the device.
    await flushIo();
    n = sim.counters();
    t.equal(hasKey(n.writes, KEY), 2, 'the lost write reached the device exactly once (not resent)');
    t.equal(hasKey(n.applied, KEY), 2, 'and was executed');
    t.equal(n.duplicates, 0, 'no retransmission of it');
    t.equal(sim.readRecord({ api: 0, slot: 1, subslot: 1, index: 0x0100 })?.toString('hex'), '0040');

    clock.advance(300_000 + 1);
    const expired = failed(
      t,
      await eng.call('WriteRecord', write(1, 1, 0x0100, '0033')),
      'PERMISSION_DENIED',
      'after expiry',
    );
    t.match(expired.metadata['verigate-reason'], /jit/);
    t.equal(hasKey(sim.counters().writes, KEY), 2, 'nothing more reached the device');
  },
);

t.test('device error → FAILED_PRECONDITION with the PNIOStatus', async (t) => {
  sim.resetCounters();
  const hist = await pn(HISTORIAN);
  // Diagnosis is allowed on any slot; slot 9 is empty: the device answers "invalid slot/subslot".
  const f = failed(t, await hist.call('ReadRecord', read(9, 1, 0x800a)), 'FAILED_PRECONDITION', 'empty slot');
  t.equal(f.metadata['verigate-pnio-status'], 'de80b200');
  t.match(f.metadata['verigate-pnio-meaning'], /slot/);
  t.equal(f.metadata['verigate-outcome'], 'pnio-error');
  sim.setFault({ mode: 'status', status: 'de80a900' });
  const forced = failed(
    t,
    await hist.call('ReadRecord', read(0, 1, 0xaff0)),
    'FAILED_PRECONDITION',
    'forced device status',
  );
  sim.setFault({ mode: 'none' });
  t.equal(forced.metadata['verigate-pnio-status'], 'de80a900');
  t.equal(hasKey(sim.counters().statuses, 'de80b200'), 1, 'the device answered that error once');
  const diag = await hist.call<{ data: Buffer }>('ReadRecord', read(3, 1, 0x800a));
  t.ok(diag.ok && diag.value.data.length > 0, 'the AI module diagnosis (wire break) reads');
});

t.test('silent device → DEADLINE_EXCEEDED after one retransmission', async (t) => {
  sim.resetCounters();
  sim.setFault({ mode: 'silent' });
  t.teardown(() => sim.setFault({ mode: 'none' }));
  const f = failed(
    t,
    await (await pn(HISTORIAN)).call('ReadRecord', read(0, 1, 0xaff0)),
    'DEADLINE_EXCEEDED',
    'silent device',
  );
  t.equal(f.metadata['verigate-outcome'], 'timeout');
  t.equal(sim.counters().datagrams, 2, 'a read is sent at most twice');
});

t.test('the audit trail has record.decision events with the record fields', async (t) => {
  const events = auditEvents();
  const rd = events.filter((e) => e['type'] === 'record.decision');
  t.ok(rd.length >= 10, `record.decision events: ${rd.length}`);
  t.match(
    rd.find((e) => e['index'] === 0x7b),
    {
      identity: HISTORIAN,
      device: DEVICE,
      access: 'read',
      api: 0,
      slot: 1,
      subslot: 1,
      index: 0x7b,
      length: 64,
      decision: 'deny',
      ruleId: null,
      reason: /^index-not-allowed/,
      outcome: 'denied',
    },
    'the denied user-index read',
  );
  t.match(
    rd.find((e) => e['index'] === 0xaff0 && e['outcome'] === 'ok'),
    {
      identity: HISTORIAN,
      access: 'read',
      slot: 0,
      subslot: 1,
      length: 4096,
      decision: 'allow',
      ruleId: 'historian-pn-reads',
      policyVersion: /^[0-9a-f]{64}$/,
    },
    'an allowed I&M0 read',
  );
  // audit.values defaults to `hash`: a write's bytes are in the trail as their SHA-256.
  const sha = (hex: string): string => createHash('sha256').update(Buffer.from(hex, 'hex')).digest('hex');
  const wrote =
    (hex: string) =>
    (e: Record<string, unknown>): boolean =>
      e['access'] === 'write' && e['dataSha256'] === sha(hex) && e['data'] === undefined;
  const pending = rd.find((e) => wrote('0032')(e) && e['outcome'] === 'pending');
  t.match(
    pending,
    { identity: ENG, decision: 'allow', ruleId: 'eng-pn-input-delay', slot: 1, subslot: 1, index: 0x0100, length: 2 },
    'the granted write, written ahead',
  );
  const outcomeOf = (d: Record<string, unknown> | undefined) =>
    events.find((e) => e['type'] === 'request.outcome' && d !== undefined && e['decisionSeq'] === d['seq']);
  t.match(outcomeOf(pending), { outcome: 'ok', index: 0x0100 }, 'its outcome follows');
  const lost = rd.find(wrote('0040'));
  t.match(outcomeOf(lost), { outcome: 'write-lost' }, 'the lost write is audited as write-lost');
  t.match(
    rd.find((e) => e['pnioStatus'] === 'de80b200'),
    { outcome: 'pnio-error', slot: 9, index: 0x800a },
    'the device error with its status',
  );
  t.match(rd.find(wrote('0fa0')), { decision: 'deny', reason: /^value-not-allowed/ }, 'the out-of-range write');
});

t.test(
  'a device name clipped at the echo limit through an emoji: INVALID_ARGUMENT, and the gateway serves on',
  async (t) => {
    // after the audit checks above: these refusals count toward the identities' denial budget
    const hist = await pn(HISTORIAN);
    const eng = await pn(ENG);
    // clipped at 128 units: through the surrogate pair, grpc-js would throw sending the status (process exit)
    const emoji = (c: string): string => `${c.repeat(127)}\u{1F600}`;
    const r = failed(
      t,
      await hist.call('ReadRecord', { ...read(0, 1, 0xaff0), device: emoji('x') }),
      'INVALID_ARGUMENT',
      'a read',
    );
    t.equal(r.details, `unknown PROFINET device "${'x'.repeat(127)}"`, 'clipped before the pair');
    failed(
      t,
      await eng.call('WriteRecord', { ...write(1, 1, 0x0100, '0001'), device: emoji('y') }),
      'INVALID_ARGUMENT',
      'a write',
    );
    t.ok((await hist.call('ReadRecord', read(0, 1, 0xaff0))).ok, 'the gateway still serves');
  },
);

// Last: proves the crash fault above was really armed (an ALLOWED user-index read crashes the device).
t.test('control: an allowed user-index read does crash the armed simulator', async (t) => {
  sim.resetCounters();
  const r = await (await pn(ENG)).call('ReadRecord', read(1, 1, 0x0100, 64));
  t.equal(r.ok, false, 'no answer from a crashed device');
  t.equal(sim.crashed, true, 'the simulator crashed on the allowed read');
  t.equal(exits[0]?.code, 70);
});
