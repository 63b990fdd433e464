/**
 * The serial transport end to end, without the rest of the gateway: a DevicePool on a real serial port (one end
 * of a socat PTY pair, opened by `serialport`) and the simulator CLI on the other end at a slow 1200 baud 8E1.
 * Answers take their time on the wire; line noise switched on through the simulator's control channel is counted
 * and answered invalid-response (0x0B for a client), never a value; RTU over TCP reaches the same meters. A closed
 * line lets go of its port: the next open of the same path succeeds at once. After a broadcast the line stays quiet
 * for the frame's time plus the turnaround, counted on fake timers (the gateway's clock, not a relay's).
 */
import { spawn } from 'node:child_process';
import pino from 'pino';
import { SerialPort } from 'serialport';
import t from 'tap';
import { charTimeMs } from '../../protocols/modbus/index.js';
import { systemTimers } from '../../gateway/timers.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import { rtuOverTcpTransport, serialTransport } from '../../gateway/upstream/rtu-transports.js';
import type { LinkSettings } from '../../gateway/upstream/types.js';
import { eventually } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { startPtyPair } from '../helpers/pty-pair.js';

/** A pool of one connection, one request at a time, as an RTU line is used (timers: the test's clock, if any). */
const onePool = (
  name: string,
  transport: ConstructorParameters<typeof DevicePool>[0]['transport'],
  timers?: FakeTimers,
) =>
  new DevicePool({
    name,
    transport,
    maxConnections: 1,
    maxInFlight: 1,
    timeoutMs: 2000,
    queueLimit: 16,
    ...(timers ? { timers } : {}),
  });

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const FORMAT = { baudRate: 1200, dataBits: 8, parity: 'even', stopBits: 1 } as const;

t.test('slow line through the simulator CLI: timing, noise, recovery, RTU over TCP', async (t) => {
  const pty = await startPtyPair();
  t.teardown(() => pty.close());
  const cli = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'simulators/cli.ts',
      '--scenario',
      'simulators/scenarios/meters.yaml',
      '--port',
      '0',
      '--scan-delay',
      '0',
      '--serial',
      pty.a,
      '--rtu-port',
      '0',
      '--baud',
      '1200',
      '--parity',
      'even',
      // Whole answers once their wire time (≥ 192 ms here) has passed: paced byte by byte on the simulator's
      // timers, a process or socat descheduled for the 100 ms receive gap mid-answer on a loaded machine is a
      // real pause on the line, answered invalid-response (seen in a whole-suite run under a CPU hog).
      '--pace',
      'frame',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const cliExited = new Promise<void>((resolve) => cli.once('exit', () => resolve()));
  // Teardowns run last-registered first, so this one runs before the PTY pair goes: wait (bounded) until the
  // simulator has closed its end of the line and exited, so no port is left open on a PTY that vanishes (a
  // port left open there can loop on zero-byte reads: gateway/upstream/rtu-transports.ts, "Closing").
  t.teardown(async () => {
    cli.kill('SIGTERM');
    const kill = setTimeout(() => cli.kill('SIGKILL'), 5000);
    await cliExited;
    clearTimeout(kill);
  });
  const ready = await new Promise<{ controlPort: number; rtuPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('simulator CLI did not start')), 20_000);
    cli.stdout.on('data', (c: Buffer) => {
      const line = c
        .toString()
        .split('\n')
        .find((l) => l.includes('"listening"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { controlPort: number; rtuPort: number });
      }
    });
  });
  const transport = serialTransport({ path: pty.b, format: FORMAT, turnaroundMs: 100 });
  const pool = onePool('line', transport);
  t.teardown(() => pool.close());
  const read = (): Promise<string> =>
    pool
      .submit({ clientKey: 'a', unitId: 11, pdu: hex('04 0000 0008'), isWrite: false })
      .then((r) => (r.kind === 'response' ? r.pdu.toString('hex') : r.kind));

  const started = performance.now();
  t.equal(await read(), '041008fd08fa090104e2049c0516035e1388', 'meter-1 readings');
  const ms = performance.now() - started;
  // the answer's 21 characters of 11 bits at 1200 baud: ≥ 192 ms on the wire
  t.ok(ms >= 21 * (11 / 1.2), `the answer took its time on a 1200-baud line: ${ms.toFixed(0)} ms`);

  const fault = async (body: object): Promise<void> => {
    const res = await fetch(`http://127.0.0.1:${ready.controlPort}/fault`, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
    });
    t.equal(res.status, 200, `fault ${JSON.stringify(body)}`);
  };
  await fault({ mode: 'noise', kind: 'crc', every: 1 });
  t.same(
    [await read(), await read()],
    ['invalid-response', 'invalid-response'],
    'every answer corrupted: never a value',
  );
  t.equal(transport.counters().corrupt.crc, 2, 'both CRC errors counted');
  await fault({ mode: 'none' });
  t.equal(await read(), '041008fd08fa090104e2049c0516035e1388', 'the line recovered');

  const tcp = onePool('nport', rtuOverTcpTransport({ host: '127.0.0.1', port: ready.rtuPort, turnaroundMs: 100 }));
  t.teardown(() => tcp.close());
  const r = await tcp.submit({ clientKey: 'a', unitId: 12, pdu: hex('04 0006 0002'), isWrite: false });
  t.same(r.kind === 'response' && r.pdu.toString('hex'), '0404011f1388', 'RTU over TCP: meter-2 power and frequency');
});

t.test('a closed line lets go of its serial port (descriptor and exclusive lock)', async (t) => {
  // Closed with destroy() alone, the port kept its descriptor and its flock: this second open failed with
  // "Cannot lock port", and once the PTY's other end went, a read left on the port spun on zero-byte reads and
  // kept this process alive past tap's timeout (rtu-transports.ts, "Closing").
  const pty = await startPtyPair();
  t.teardown(() => pty.close());
  const transport = serialTransport({ path: pty.b, format: FORMAT, turnaroundMs: 100 });
  const settings: LinkSettings<number> = {
    id: 1,
    maxInFlight: 1,
    lateGraceMs: 250,
    logger: pino({ level: 'silent' }),
    timers: systemTimers,
    events: { reply: () => undefined, slotFreed: () => undefined, unsent: () => undefined, closed: () => undefined },
  };
  for (const round of [1, 2, 3]) {
    const line = await transport.open(settings, new AbortController().signal).then(
      (l) => l,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    );
    if (line instanceof Error) {
      t.fail(`open #${round} of ${pty.b}: ${line.message}`);
      return;
    }
    t.pass(`open #${round}`);
    line.close('test');
    await line.whenClosed();
  }
  t.equal(transport.counters().opened, 3, 'three opens of the same path');
});

t.test(
  'after a broadcast the line stays quiet for the frame time plus the turnaround (fake clock, real port)',
  async (t) => {
    // The pool's clock is fake, so "when did the next frame go out" is read on the gateway's side, synchronously
    // (the transport's counters), not timed at a device behind a socat relay that a busy box can delay by tens of
    // ms (gateway-rtu.test.ts checks the same line end to end: order on the wire, turnaround from gateway.yaml).
    const pty = await startPtyPair();
    t.teardown(() => pty.close());
    const format = { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 } as const;
    const device = new SerialPort({ path: pty.a, ...format, autoOpen: false });
    await new Promise<void>((resolve, reject) => device.open((err) => (err ? reject(err) : resolve())));
    t.teardown(() => new Promise<void>((resolve) => device.close(() => resolve())));
    const received: Buffer[] = [];
    device.on('data', (c: Buffer) => received.push(c));

    const timers = new FakeTimers(1000);
    const transport = serialTransport({ path: pty.b, format, turnaroundMs: 150 });
    const pool = onePool('line', transport, timers);
    t.teardown(() => pool.close());
    const broadcast = pool.submit({ clientKey: 'a', unitId: 0, pdu: hex('06 000A 0002'), isWrite: true });
    const read = pool.submit({ clientKey: 'b', unitId: 11, pdu: hex('03 000A 0001'), isWrite: false });
    t.match(await broadcast, { kind: 'response' }, 'the broadcast is answered at once (no answer awaited)');
    t.match(transport.counters(), { broadcasts: 1, requests: 0 }, 'the read waits behind the broadcast');
    const quietMs = 8 * charTimeMs(format) + 150; // the 8-byte frame's time on the wire + the turnaround
    await timers.tick(Math.ceil(quietMs) - 1);
    t.equal(transport.counters().requests, 0, `nothing sent ${Math.ceil(quietMs) - 1} ms after the broadcast`);
    await timers.tick(1);
    t.equal(transport.counters().requests, 1, `the read goes out once ${quietMs.toFixed(2)} ms have passed`);
    await eventually('both frames at the device end', () => Buffer.concat(received).length >= 16);
    const wire = Buffer.concat(received);
    t.same(
      [wire.subarray(0, 6).toString('hex'), wire.subarray(8, 14).toString('hex')],
      ['0006000a0002', '0b03000a0001'],
      'broadcast (unit 0) then the read (unit 11), in that order on the wire (CRCs aside)',
    );
    await pool.close();
    t.match(await read, { kind: 'unavailable' }, 'the unanswered read ends with the pool');
  },
);
