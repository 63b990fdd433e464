/**
 * The serial transport end to end, without the rest of the gateway: a DevicePool on a real serial port (one end
 * of a socat PTY pair, opened by `serialport`) and the simulator CLI on the other end at a slow 1200 baud 8E1.
 * Answers take their time on the wire; line noise switched on through the simulator's control channel is counted
 * and answered invalid-response (0x0B for a client), never a value; RTU over TCP reaches the same meters.
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import { rtuOverTcpTransport, serialTransport } from '../../gateway/upstream/rtu-transports.js';
import { startPtyPair } from '../helpers/pty-pair.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const FORMAT = { baudRate: 1200, dataBits: 8, parity: 'even', stopBits: 1 } as const;

t.test('slow line through the simulator CLI: timing, noise, recovery, RTU over TCP', async (t) => {
  // Torn down in reverse order of creation: the pools close their ports while the PTY pair still exists (a
  // serial port whose PTY vanished first may never report its close, and the file then outlives tap's timeout).
  const undo: (() => unknown)[] = [];
  t.teardown(async () => {
    for (const f of undo.reverse()) await f();
  });
  const pty = await startPtyPair();
  undo.push(() => pty.close());
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
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  undo.push(() => void cli.kill('SIGTERM'));
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
  const pool = new DevicePool({
    name: 'line',
    transport,
    maxConnections: 1,
    maxInFlight: 1,
    timeoutMs: 2000,
    queueLimit: 16,
  });
  undo.push(() => pool.close());
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

  const tcp = new DevicePool({
    name: 'nport',
    transport: rtuOverTcpTransport({ host: '127.0.0.1', port: ready.rtuPort, turnaroundMs: 100 }),
    maxConnections: 1,
    maxInFlight: 1,
    timeoutMs: 2000,
    queueLimit: 16,
  });
  undo.push(() => tcp.close());
  const r = await tcp.submit({ clientKey: 'a', unitId: 12, pdu: hex('04 0006 0002'), isWrite: false });
  t.same(r.kind === 'response' && r.pdu.toString('hex'), '0404011f1388', 'RTU over TCP: meter-2 power and frequency');
});
