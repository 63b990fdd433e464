/**
 * An AR connect the device may have run without the gateway learning of it (answer lost, garbled, or an RPC
 * fault) is released in a turn of its own: otherwise a device that allows one device-access AR refuses every
 * later connect `out of AR resources` until its own activity timeout. Ported from the review's proof (simulated
 * station with ars.max 1, answers dropped): here a fake device that allows one AR and runs the connect while its
 * answer is lost or damaged. One Release, never retried; a connect the device refused (PNIOStatus) is not released.
 */
import t from 'tap';
import {
  encodeFaultBody,
  encodeRpcDatagram,
  PacketType,
  PnioErrors,
  type CmRequest,
} from '../../protocols/profinet/index.js';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import { FakePnioDevice, recordKey, type Reply, type Seen } from '../fixtures/profinet/fake-device.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const WRITE = {
  clientKey: 'spiffe://plant.example/eng/alice',
  api: 0,
  slot: 1,
  subslot: 1,
  index: 0x0100,
  data: Buffer.from('0034', 'hex'),
};

interface Rig {
  readonly dev: FakePnioDevice;
  readonly client: ProfinetClient;
  readonly timers: FakeTimers;
  /** How the next connect's answer goes wrong (the device runs the connect in every case). */
  connectAnswer: 'lost' | 'garbled' | 'fault' | 'ok';
}

async function setup(t: { teardown(fn: () => unknown): void }): Promise<Rig> {
  const dev = await FakePnioDevice.start();
  dev.records.set(recordKey(1, 1, 0x0100), Buffer.from('001e', 'hex'));
  const timers = new FakeTimers();
  const client = new ProfinetClient({ name: 'rio-1', host: '127.0.0.1', port: dev.port, timeoutMs: 1000, timers });
  const rig: Rig = { dev, client, timers, connectAnswer: 'ok' };
  dev.handler = (s: Seen, d): Reply => {
    const req: CmRequest = s.request;
    if (req.op !== 'connect') return d.standardReply(s);
    // ars.max 1: a second device-access AR is refused
    if (d.ars.size >= 1)
      return d.answer(s, { op: 'connect', status: PnioErrors.connectOutOfArResources, otherBlocks: [] });
    const [answer] = d.standardReply(s) as Buffer[]; // the device now holds the AR
    if (answer === undefined || rig.connectAnswer === 'lost') return 'silent';
    if (rig.connectAnswer === 'garbled') {
      const cut = Buffer.from(answer.subarray(0, answer.length - 10));
      cut.writeUInt16BE(cut.length - 80, 74);
      return [cut];
    }
    if (rig.connectAnswer === 'fault') {
      const head = { ...s.header, packetType: PacketType.Fault, flags1: 0, bodyLength: 0 };
      return [encodeRpcDatagram(head, encodeFaultBody(0x1c000019, false))];
    }
    return [answer];
  };
  t.teardown(async () => {
    await client.close();
    await dev.close();
  });
  return rig;
}

/** The ARUUID a connect or release names. */
function arOf(s: Seen | undefined): string | undefined {
  const r = s?.request;
  if (r?.op === 'connect') return r.ar.arUuid;
  return r?.op === 'release' ? r.control.arUuid : undefined;
}

for (const how of ['lost', 'garbled', 'fault'] as const) {
  t.test(`connect answer ${how}: the AR is released in its own turn, and the next write gets a new one`, async (t) => {
    const rig = await setup(t);
    const { dev, client, timers } = rig;
    rig.connectAnswer = how;
    const first = client.writeRecord(WRITE);
    await dev.waitFor(() => dev.ops('connect').length === 1);
    if (how === 'lost') timers.advance(1000); // the connect's one transmission times out
    const r1 = await first;
    t.match(r1, how === 'lost' ? { kind: 'timeout', stage: 'connect' } : { stage: 'connect' });
    t.equal(dev.ops('write').length, 0, 'nothing written');
    await dev.waitFor(() => dev.ops('release').length === 1);
    t.equal(dev.ars.size, 0, 'the device no longer holds the AR the gateway proposed');
    t.equal(arOf(dev.ops('release')[0]), arOf(dev.ops('connect')[0]), 'the Release names the AR of that connect');
    rig.connectAnswer = 'ok';
    const r2 = await client.writeRecord(WRITE);
    t.equal(r2.kind, 'record', 'not out of AR resources: a new AR, the write runs');
    t.equal(dev.records.get(recordKey(1, 1, 0x0100))?.toString('hex'), '0034');
    t.equal(dev.ops('release').length, 1, 'one Release, no retries');
  });
}

t.test('a connect the device refused holds no AR: nothing to release', async (t) => {
  const rig = await setup(t);
  const { dev, client } = rig;
  dev.ars.add('someone-else'); // an engineering tool holds the one AR
  const r = await client.writeRecord(WRITE);
  t.match(r, { kind: 'pnio-error', stage: 'connect', name: 'out-of-ar-resources' });
  dev.ars.delete('someone-else');
  const r2 = await client.writeRecord(WRITE);
  t.equal(r2.kind, 'record');
  t.equal(dev.ops('release').length, 0);
});

t.test('a lost Release is not retried: the device times the AR out', async (t) => {
  const rig = await setup(t);
  const { dev, client, timers } = rig;
  rig.connectAnswer = 'lost';
  const base = dev.handler;
  dev.handler = (s, d) => (s.request.op === 'release' ? 'silent' : base(s, d));
  const first = client.writeRecord(WRITE);
  await dev.waitFor(() => dev.ops('connect').length === 1);
  timers.advance(1000);
  await first;
  await dev.waitFor(() => dev.ops('release').length === 1);
  timers.advance(1000); // the Release's one transmission times out
  timers.advance(60_000);
  await new Promise<void>((r) => setImmediate(r));
  t.equal(dev.ops('release').length, 1, 'one Release only');
});
