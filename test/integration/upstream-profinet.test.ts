/**
 * The PROFINET upstream client against the PROFINET device simulator (simulators/profinet, remote-io
 * scenario) on loopback UDP: identity (I&M0 + RealIdentificationData), a write through the gateway's
 * device-access AR (one AR for several writes, released on close), a lost write that the simulator
 * executed and the client did not resend (simulator counters), a silent device read twice then timeout,
 * and a power-cycled device whose "unknown AR" refuses that write (never resent) while the next write opens a new AR.
 */
import t from 'tap';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import { recordKey, startProfinetSimulator } from '../../simulators/profinet/profinet-simulator.js';

const SCENARIO = 'simulators/scenarios/remote-io.yaml';
const KEY = 'spiffe://lab.verigate.test/engineer';
const INPUT_DELAY = { api: 0, slot: 1, subslot: 1, index: 0x0100 };

t.test('identity, writes through one device-access AR, a lost write not resent, unknown AR', async (t) => {
  const sim = await startProfinetSimulator({ scenario: SCENARIO, port: 0, controlPort: 0, sweepMs: 0 });
  const client = new ProfinetClient({
    name: 'rio-1',
    host: '127.0.0.1',
    port: sim.port,
    objectUuid: sim.objectUuid,
    timeoutMs: 400,
  });
  t.teardown(async () => {
    await client.close();
    await sim.close();
  });

  const id = await client.readIdentity({ clientKey: KEY });
  t.equal(id.kind, 'identity');
  if (id.kind === 'identity') {
    t.equal(id.im0.orderId, 'VG-RIO-ET16');
    t.equal(id.im0.vendorId, 0x0fee);
    t.same([...new Set(id.modules.map((m) => m.slot))].sort(), [0, 1, 2, 3]);
  }
  const im0 = await client.readRecord({ clientKey: KEY, api: 0, slot: 0, subslot: 1, index: 0xaff0, maxLength: 1024 });
  t.equal(im0.kind, 'record');
  t.equal(sim.counters().ars.established, 0, 'reads open no AR');

  const w1 = await client.writeRecord({ clientKey: KEY, ...INPUT_DELAY, data: Buffer.from('0032', 'hex') });
  t.equal(w1.kind, 'record');
  t.same(sim.readRecord(INPUT_DELAY), Buffer.from('0032', 'hex'), 'the device applied the write');
  const w2 = await client.writeRecord({ clientKey: KEY, ...INPUT_DELAY, data: Buffer.from('0028', 'hex') });
  t.equal(w2.kind, 'record');
  t.equal(sim.counters().ars.established, 1, 'one AR for both writes');
  t.equal(sim.ars().length, 1);

  const wrong = await client.writeRecord({ clientKey: KEY, ...INPUT_DELAY, data: Buffer.from('01', 'hex') });
  t.match(wrong, { kind: 'pnio-error', name: 'write-length', stage: 'write' }, 'the device’s own status comes back');

  const key = recordKey(INPUT_DELAY);
  const writesBefore = sim.counters().writes[key] ?? 0;
  sim.setFault({ mode: 'drop-answers' });
  const lost = await client.writeRecord({ clientKey: KEY, ...INPUT_DELAY, data: Buffer.from('0014', 'hex') });
  t.same(lost, { kind: 'write-lost' });
  sim.setFault({ mode: 'none' });
  // One more round trip, so a resend (if there were one) would have reached the device by now.
  t.equal((await client.readRecord({ clientKey: KEY, ...INPUT_DELAY, maxLength: 64 })).kind, 'record');
  t.equal((sim.counters().writes[key] ?? 0) - writesBefore, 1, 'the lost write reached the device once, never again');
  t.same(
    sim.readRecord(INPUT_DELAY),
    Buffer.from('0014', 'hex'),
    'and it was executed: "may have been executed" is real',
  );

  sim.setFault({ mode: 'silent' });
  const before = sim.counters().datagrams;
  const silent = await client.readRecord({ clientKey: KEY, ...INPUT_DELAY, maxLength: 64 });
  t.same(silent, { kind: 'timeout', stage: 'read' });
  t.equal(sim.counters().datagrams - before, 2, 'a read is sent twice, no more');
  sim.setFault({ mode: 'none' });

  await sim.restart(0); // power cycle: the device forgets the gateway's AR
  const refused = await client.writeRecord({ clientKey: KEY, ...INPUT_DELAY, data: Buffer.from('001f', 'hex') });
  t.match(refused, { kind: 'pnio-error', stage: 'write' }, "unknown AR → the device's error, the write not sent again");
  t.notSame(sim.readRecord(INPUT_DELAY), Buffer.from('001f', 'hex'), 'the device did not apply it');
  const after = await client.writeRecord({ clientKey: KEY, ...INPUT_DELAY, data: Buffer.from('001e', 'hex') });
  t.equal(after.kind, 'record', 'the next write opens a new AR and goes through');
  t.equal(client.stats().ar.reestablished, 1);
  t.same(sim.readRecord(INPUT_DELAY), Buffer.from('001e', 'hex'));

  await client.close();
  t.equal(sim.ars().length, 0, 'close released the AR');
});
