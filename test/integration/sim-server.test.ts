// The simulator seen from outside: real loopback sockets, real HTTP control channel, the codec's framer.
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { resolve } from 'node:path';
import t from 'tap';
import { MbapFramer, encodeAdu, encodeRequest, type ModbusRequest } from '../../protocols/modbus/index.js';
import type { Frame } from '../../protocols/modbus/types.js';
import { startSimulator, type Simulator } from '../../simulators/simulator.js';
import type { SimCounters } from '../../simulators/sim-counters.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { when } from '../helpers/when.js';

const TURBINE = resolve(import.meta.dirname, '../../simulators/scenarios/turbine.yaml');
const MULTI = resolve(import.meta.dirname, '../../simulators/scenarios/multi-unit.yaml');

/** A bare Modbus/TCP client: sends ADUs, collects answer frames; `closed` resolves on EOF/reset. */
class RawClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private readonly framer = new MbapFramer();
  private waiters: (() => void)[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.framer.push(c);
      for (let r = this.framer.next(); r.kind === 'frame'; r = this.framer.next()) this.frames.push(r.frame);
      this.wake();
    });
    socket.on('error', () => {});
    this.closed = once(socket, 'close').then(() => this.wake());
  }
  static async open(port: number): Promise<RawClient> {
    const s = connect(port, '127.0.0.1');
    await once(s, 'connect');
    return new RawClient(s);
  }
  send(tid: number, unit: number, req: ModbusRequest | Buffer): void {
    this.socket.write(encodeAdu(tid, unit, Buffer.isBuffer(req) ? req : encodeRequest(req)));
  }
  /** Waits for `n` frames in total, or the timeout; returns what arrived. */
  async waitFrames(n: number, timeoutMs = 2000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length < n && !this.socket.destroyed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
    return this.frames.slice(0, n);
  }
  close(): void {
    this.socket.destroy();
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

const readHolding = (address: number, quantity = 1): ModbusRequest => ({
  type: 'read-registers',
  fc: 3,
  address,
  quantity,
});
const regs = (f: Frame | undefined): number[] => {
  if (!f) return [];
  const out: number[] = [];
  for (let i = 2; i + 1 < f.pdu.length; i += 2) out.push(f.pdu.readUInt16BE(i));
  return out;
};

async function control(
  sim: Simulator,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${sim.controlPort}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, json: await res.json() };
}

async function withSim(
  t: { teardown(fn: () => unknown): void },
  opts: Parameters<typeof startSimulator>[0],
): Promise<Simulator> {
  const sim = await startSimulator(opts);
  t.teardown(() => sim.close());
  return sim;
}

t.test(
  'connection limit: the 5th connection is accepted and closed at once, counted, and a slot frees on close',
  async (t) => {
    const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 0, tickMs: 0 });
    const clients = await Promise.all([1, 2, 3, 4].map(() => RawClient.open(sim.port)));
    for (const [i, c] of clients.entries()) c.send(i + 1, 255, readHolding(100));
    await Promise.all(clients.map((c) => c.waitFrames(1)));
    t.ok(
      clients.every((c) => c.frames.length === 1),
      'four connections are served',
    );

    const fifth = await RawClient.open(sim.port);
    fifth.send(99, 255, readHolding(100));
    await fifth.closed;
    t.equal(fifth.frames.length, 0, 'over-limit connection closed without an answer');
    const counters = (await control(sim, 'GET', '/counters')).json as SimCounters;
    t.equal(counters.connections.refused, 1, 'refusal counted');
    t.equal(counters.connections.current, 4);
    t.equal(counters.connections.peak, 4);

    clients[0]?.close();
    await clients[0]?.closed;
    // the simulator learns of the close on its own side of the loopback connection
    await when(sim.events, 'connectionClosed', () => sim.counters().connections.current === 3);
    const again = await RawClient.open(sim.port);
    again.send(7, 255, readHolding(100));
    t.equal((await again.waitFrames(1)).length, 1, 'a freed slot serves a new connection');
    for (const c of [...clients, again]) c.close();
  },
);

t.test('maxConnections and overLimit=reset are configurable', async (t) => {
  const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 0, tickMs: 0, maxConnections: 1, overLimit: 'reset' });
  const first = await RawClient.open(sim.port);
  // The RST may arrive before or after Node reports the connect: either way the socket errors ECONNRESET.
  const second = connect(sim.port, '127.0.0.1');
  const [err] = (await once(second, 'error')) as [NodeJS.ErrnoException];
  t.equal(err.code, 'ECONNRESET', 'RST instead of FIN');
  t.equal(sim.counters().connections.refused, 1);
  first.close();
});

t.test('pipelined requests on one connection are answered in order (in-flight 1)', async (t) => {
  const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 5, tickMs: 0 });
  const c = await RawClient.open(sim.port);
  // One TCP write with three ADUs: write, then two reads that must see the write.
  c.socket.write(
    Buffer.concat([
      encodeAdu(10, 255, encodeRequest({ type: 'write-single-register', fc: 6, address: 100, value: 1500 })),
      encodeAdu(11, 255, encodeRequest(readHolding(100))),
      encodeAdu(12, 1, encodeRequest(readHolding(100))),
    ]),
  );
  const frames = await c.waitFrames(3);
  t.same(
    frames.map((f) => f.header.transactionId),
    [10, 11, 12],
    'answers in request order, ids echoed',
  );
  t.same(
    frames.map((f) => f.header.unitId),
    [255, 255, 1],
    'unit ids echoed',
  );
  t.same(regs(frames[1]), [1500]);
  t.same(regs(frames[2]), [1500], 'alias unit reads the same memory');
  c.close();
});

t.test('maxInFlight bounds how many pipelined requests a connection has picked up', async (t) => {
  // Scan delay 400 ms on the simulator's fake timers: no answer leaves until the test moves them, so after three
  // requests in-flight 1 has taken one and in-flight 3 all three, however long the I/O takes.
  for (const [maxInFlight, expected] of [
    [1, 1],
    [3, 3],
  ] as const) {
    const timers = new FakeTimers();
    const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 400, tickMs: 0, maxInFlight, timers });
    const c = await RawClient.open(sim.port);
    for (const tid of [1, 2, 3]) c.send(tid, 255, readHolding(100));
    await when(sim.events, 'request', () => sim.counters().requests >= expected);
    await flushIo(); // all three requests are in by now; a bound that did not hold would take more
    t.equal(sim.counters().requests, expected, `maxInFlight ${maxInFlight}: ${expected} picked up`);
    timers.advance(3 * 400); // each answer frees the slot for the next request, whose scan ends 400 ms later
    const frames = await c.waitFrames(3, 3000);
    t.same(
      frames.map((f) => f.header.transactionId),
      [1, 2, 3],
      'all answered, in order',
    );
    c.close();
  }
});

t.test('faults switched at run time over the control channel', async (t) => {
  const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 0, tickMs: 0 });
  const c = await RawClient.open(sim.port);

  t.same((await control(sim, 'POST', '/fault', { mode: 'silent' })).json, { fault: { mode: 'silent' } });
  c.send(1, 255, readHolding(100));
  t.equal((await c.waitFrames(1, 300)).length, 0, 'silent: no answer');
  t.match((await control(sim, 'GET', '/state')).json, { fault: { mode: 'silent' } });

  await control(sim, 'POST', '/fault', { mode: 'exception', code: 6 });
  c.send(2, 255, { type: 'write-single-register', fc: 6, address: 100, value: 999 });
  const [ex] = await c.waitFrames(1);
  t.same(ex?.pdu, Buffer.from([0x86, 0x06]), 'exception fault: FC|0x80, code 06');
  t.equal(sim.store(255).get('holding', 100), 0, 'and the write was not executed');

  await control(sim, 'POST', '/fault', { mode: 'slow', delayMs: 150 });
  const sent = Date.now();
  c.send(3, 255, readHolding(100));
  const frames = await c.waitFrames(2);
  t.equal(frames.length, 2, 'slow: answered');
  t.ok(Date.now() - sent >= 140, 'but not before the injected delay');

  await control(sim, 'POST', '/fault', { mode: 'close' });
  c.send(4, 255, readHolding(100));
  await c.closed;
  t.equal(c.frames.length, 2, 'close: connection dropped without an answer');

  await control(sim, 'POST', '/fault', { mode: 'none' });
  const d = await RawClient.open(sim.port);
  d.send(5, 255, readHolding(100));
  t.equal((await d.waitFrames(1)).length, 1, 'none: served again');
  d.close();

  const k = sim.counters();
  t.equal(k.dropped, 1);
  t.equal(k.closedByFault, 1);
  t.equal(k.exceptions['6'], 1);
  t.equal(k.requests, 5);

  t.equal((await control(sim, 'POST', '/fault', { mode: 'explode' })).status, 400, 'bad mode refused');
  t.equal((await control(sim, 'POST', '/fault', { mode: 'slow' })).status, 400, 'slow without delayMs refused');
  t.equal((await control(sim, 'GET', '/nope')).status, 404);
});

t.test('counters prove a write reached the PLC exactly once', async (t) => {
  const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 0, tickMs: 0 });
  const c = await RawClient.open(sim.port);
  c.send(1, 255, { type: 'write-multiple-registers', fc: 16, address: 100, values: [1200, 7] });
  c.send(2, 255, readHolding(100, 2));
  await c.waitFrames(2);
  const k = (await control(sim, 'GET', '/counters')).json as SimCounters;
  t.same(k.writes, { 'holding:255:100': 1, 'holding:255:101': 1 });
  t.same(k.byFc, { '16': 1, '3': 1 });
  const reg = (await control(sim, 'GET', '/registers?unit=1&table=holding&address=100&count=2')).json as {
    values: number[];
  };
  t.same(reg.values, [1200, 7], 'control channel reads the same memory');
  t.equal((await control(sim, 'GET', '/registers?unit=9')).status, 404);
  t.equal((await control(sim, 'GET', '/registers?table=bogus')).status, 400);
  const reset = (await control(sim, 'POST', '/counters/reset')).json as SimCounters;
  t.same(reset.writes, {});
  t.equal(reset.connections.current, 1, 'live connection count survives a reset');
  c.close();
});

t.test('restart drops connections, resets memory, is down for downMs, then serves again', async (t) => {
  const timers = new FakeTimers();
  const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 0, tickMs: 0, timers });
  const c = await RawClient.open(sim.port);
  c.send(1, 255, { type: 'write-single-register', fc: 6, address: 100, value: 3000 });
  await c.waitFrames(1);
  sim.advance(2000);
  t.ok(sim.store(255).get('input', 0) > 0, 'turbine spun up');

  const restarting = control(sim, 'POST', '/restart', { downMs: 300 });
  await c.closed;
  t.pass('live connection dropped');
  // Counted once the listener has closed; the downtime runs on the simulator's fake timers.
  await when(sim.events, 'restarted', () => sim.counters().restarts === 1);
  t.equal(await connectError(sim.port), 'ECONNREFUSED', 'nothing listens while down');
  timers.advance(299);
  await flushIo();
  t.equal(sim.state().up, false, 'still down 1 ms before downMs');
  timers.advance(1);
  t.equal((await restarting).status, 200);

  const d = await RawClient.open(sim.port);
  d.send(2, 255, readHolding(100));
  t.same(regs((await d.waitFrames(1))[0]), [0], 'memory back to the scenario values');
  t.equal(sim.store(255).get('input', 0), 0, 'process state reset');
  t.equal(sim.counters().restarts, 1);
  t.same(sim.counters().writes, { 'holding:255:100': 1 }, 'counters survive the restart');
  d.close();
});

t.test('malformed MBAP closes the connection and is counted', async (t) => {
  const sim = await withSim(t, { scenario: TURBINE, scanDelayMs: 0, tickMs: 0 });
  const c = await RawClient.open(sim.port);
  c.socket.write(Buffer.from([0, 1, 0, 7, 0, 6, 255, 3, 0, 0, 0, 1])); // protocol id 7
  await c.closed;
  t.equal(c.frames.length, 0);
  t.equal(sim.counters().malformed, 1);
});

t.test('multi-unit: unit ids pick the device, an unknown unit answers 0x0B', async (t) => {
  const timers = new FakeTimers();
  const sim = await withSim(t, { scenario: MULTI, scanDelayMs: 0, tickMs: 10, timers });
  const c = await RawClient.open(sim.port);
  c.send(1, 3, readHolding(0, 3));
  c.send(2, 2, { type: 'read-registers', fc: 4, address: 0, quantity: 1 });
  c.send(3, 9, readHolding(0));
  c.send(4, 1, { type: 'write-single-register', fc: 6, address: 100, value: 900 });
  const f = await c.waitFrames(4);
  t.same(regs(f[0]), [1, 2, 3], 'unit 3 I/O block');
  t.same(regs(f[1]), [1000], 'unit 2 tank level');
  t.same(f[2]?.pdu, Buffer.from([0x83, 0x0b]), 'unit 9 → gateway target failed to respond');
  t.same(sim.state().units, [1, 2, 3]);
  t.throws(() => sim.store(9), RangeError);
  // The tick timer runs the turbine on unit 1: its speed moves on its own, every 10 ms of the simulator's timers.
  t.equal(sim.store(1).get('input', 0), 0, 'unit 1 turbine at rest before any tick');
  timers.advance(1000);
  t.ok(sim.store(1).get('input', 0) > 0, 'unit 1 turbine accelerates on the tick timer');
  t.equal(sim.store(2).get('input', 0), 1000, 'unit 2 tank untouched');
  c.close();
});

t.test('a port already in use fails startup and leaves nothing listening', async (t) => {
  const a = await withSim(t, { scenario: TURBINE, tickMs: 0 });
  await t.rejects(startSimulator({ scenario: TURBINE, port: a.port, tickMs: 0 }), { code: 'EADDRINUSE' });
  await t.rejects(startSimulator({ scenario: TURBINE, controlPort: a.controlPort, tickMs: 0 }), { code: 'EADDRINUSE' });
});

/** The error code of a loopback connect to `port`, or null once one is accepted (then closed at once). */
function connectError(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(null)));
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}
