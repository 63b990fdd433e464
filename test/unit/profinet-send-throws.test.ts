/**
 * A datagram the gateway's UDP socket refuses is an outcome, never an exception (profinet-transport.ts,
 * profinet-socket.ts). dgram's `send` throws at once on a closed socket (ERR_SOCKET_DGRAM_NOT_RUNNING): here the
 * test closes the client's socket under it, as a failing socket would be. Thrown from the retransmission timer or
 * the fack in the socket's 'message' handler, that took the process down; thrown on the first transmission it
 * rejected a call that must resolve. Once a datagram of the call was handed over, the call is never "not sent"
 * (a write the device may have run must not be retried), and the next call gets a new socket.
 */
import { Socket } from 'node:dgram';
import t, { type Test } from 'tap';
import { decodeRpcDatagram, isFragment, PacketType } from '../../protocols/profinet/index.js';
import { recordEnding } from '../../gateway/frontdoor/record-ending.js';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import { FakePnioDevice, recordKey } from '../fixtures/profinet/fake-device.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const KEY = 'spiffe://plant.example/historian';
const READ = { clientKey: KEY, api: 0, slot: 1, subslot: 1, index: 0x0020, maxLength: 4000 };
const WRITE = { clientKey: KEY, api: 0, slot: 1, subslot: 1, index: 0x0100 };

type Verdict = 'pass' | 'close-then-send' | 'fail-later';

interface Sends {
  /** The client's sockets, in the order they first sent. */
  readonly sockets: Socket[];
  /**
   * What happens to each datagram the client sends: `close-then-send` closes its socket first, so dgram's own send
   * throws ERR_SOCKET_DGRAM_NOT_RUNNING; `fail-later` reports an error to the send callback (the kernel refused it).
   */
  verdict: (dg: Buffer) => Verdict;
}

/** Watches every datagram the client sends, through Socket.prototype.send (put back at teardown). */
function watchSends(t: Test, dev: FakePnioDevice): Sends {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, called with its `this`
  const real = Socket.prototype.send;
  const w: Sends = { sockets: [], verdict: () => 'pass' };
  Socket.prototype.send = function (this: Socket, ...args: unknown[]): void {
    if (this !== dev.socket) {
      if (!w.sockets.includes(this)) w.sockets.push(this);
      const v = w.verdict(args[0] as Buffer);
      if (v === 'close-then-send') this.close();
      if (v === 'fail-later') {
        const done = args.at(-1) as (err: Error) => void;
        process.nextTick(done, Object.assign(new Error('send EPERM'), { code: 'EPERM' }));
        return;
      }
    }
    Reflect.apply(real, this, args);
  } as typeof real;
  t.teardown(() => {
    Socket.prototype.send = real;
  });
  return w;
}

/** Uncaught exceptions while the test runs (one would end the gateway). */
function uncaught(t: Test): unknown[] {
  const seen: unknown[] = [];
  const h = (err: unknown): void => void seen.push(err);
  process.on('uncaughtException', h);
  t.teardown(() => void process.off('uncaughtException', h));
  return seen;
}

async function setup(t: Test) {
  const timers = new FakeTimers();
  const dev = await FakePnioDevice.start();
  dev.records.set(recordKey(1, 1, 0x0020), Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff)));
  dev.records.set(recordKey(1, 1, 0x0100), Buffer.from('001e', 'hex'));
  const sends = watchSends(t, dev);
  const client = new ProfinetClient({
    name: 'rio-1',
    host: '127.0.0.1',
    port: dev.port,
    timeoutMs: 1000,
    maxFragmentBody: 512,
    timers,
  });
  t.teardown(async () => {
    await client.close();
    await dev.close();
  });
  return { timers, dev, client, sends, uncaught: uncaught(t) };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('the retransmission timer meets a closed socket: no throw, the read is sent-and-unanswered', async (t) => {
  const { timers, dev, client, sends, uncaught } = await setup(t);
  dev.handler = () => 'silent';
  const p = client.readRecord(READ);
  await dev.waitFor(() => dev.datagrams === 1);
  sends.sockets[0]?.close();
  if (!t.doesNotThrow(() => timers.advance(1000), 'the retransmission is due: its send throws inside the timer'))
    return;
  const r = await p;
  t.same(r, { kind: 'timeout', stage: 'read' }, 'the first transmission went out: not "unavailable, nothing sent"');
  t.equal(recordEnding(r, false).mayHaveExecuted, true);
  dev.handler = (s, d) => d.standardReply(s);
  const next = await client.readRecord(READ);
  t.equal(next.kind, 'record', 'the next call opens a new socket');
  t.equal(sends.sockets.length, 2);
  t.same(uncaught, []);
});

t.test('the first transmission meets a closed socket: unavailable with the reason, the next call works', async (t) => {
  const { dev, client, sends } = await setup(t);
  t.equal((await client.readRecord(READ)).kind, 'record');
  sends.sockets[0]?.close();
  const r = await client.readRecord(READ);
  t.match(r, { kind: 'unavailable', sent: false, reason: /send failed: .*not running/i });
  t.equal(dev.datagrams, 1, 'nothing reached the device');
  t.equal((await client.readRecord(READ)).kind, 'record', 'a new socket');
});

t.test('a write whose second fragment cannot be handed over is write-lost, never unsent', async (t) => {
  const { dev, client, sends } = await setup(t);
  sends.verdict = (dg) => {
    const d = decodeRpcDatagram(dg);
    return d.ok && isFragment(d.value.header) && d.value.header.fragmentNumber === 1 ? 'close-then-send' : 'pass';
  };
  const r = await client.writeRecord({ ...WRITE, data: Buffer.alloc(1200, 7) });
  t.same(r, { kind: 'write-lost' }, 'fragment 0 went out: the write may have run');
  t.equal(recordEnding(r, true).mayHaveExecuted, true);
  t.equal(dev.ops('connect').length, 1);
  t.equal(client.stats().datagramsSent, 2, 'handed to the socket: the connect and fragment 0, nothing after');
  sends.verdict = () => 'pass';
  t.equal((await client.writeRecord({ ...WRITE, data: Buffer.from('0034', 'hex') })).kind, 'record');
});

t.test('a later fragment the kernel refuses: the write is not reported unsent either', async (t) => {
  const { timers, dev, client, sends } = await setup(t);
  sends.verdict = (dg) => {
    const d = decodeRpcDatagram(dg);
    return d.ok && isFragment(d.value.header) && d.value.header.fragmentNumber === 1 ? 'fail-later' : 'pass';
  };
  const p = client.writeRecord({ ...WRITE, data: Buffer.alloc(1200, 7) });
  await dev.waitFor(() => dev.datagrams >= 2);
  await turn(); // the refusal reaches the send callback
  timers.advance(1000);
  t.same(await p, { kind: 'write-lost' });
});

t.test('the fack meets a closed socket inside the message handler: no uncaught exception', async (t) => {
  const { timers, dev, client, sends, uncaught } = await setup(t);
  dev.maxFragmentBody = 1000; // a three-fragment answer: the client acknowledges fragments 0 and 1
  let facked!: () => void;
  const fackTried = new Promise<void>((r) => (facked = r));
  let firstFack = true;
  sends.verdict = (dg) => {
    const d = decodeRpcDatagram(dg);
    if (!d.ok || d.value.header.packetType !== PacketType.Fack || !firstFack) return 'pass';
    firstFack = false;
    facked();
    return 'close-then-send';
  };
  const p = client.readRecord(READ);
  await fackTried;
  await turn();
  timers.advance(1000); // unless the rest of the answer was already read: the read goes again, on a new socket
  const r = await p;
  t.equal(r.kind, 'record');
  t.same(uncaught, [], 'the throw stayed inside the socket send');
  t.equal((await client.readRecord(READ)).kind, 'record');
});
