/**
 * Third-party RTU masters against our simulator's RTU line: pymodbus's serial RTU client and mbpoll -m rtu
 * (libmodbus, Debian) over a socat PTY pair at 9600 8E1, and pymodbus with RTU framing over TCP (a serial device
 * server's raw mode). Reads, writes and exceptions; an address nobody has gets no answer; a broadcast write
 * reaches both meters.
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import t from 'tap';
import { startSimulator } from '../../simulators/simulator.js';
import { startPtyPair } from '../helpers/pty-pair.js';
import { runPymodbusRtu } from '../helpers/pymodbus-rtu.js';
import { requireTool } from '../helpers/tools.js';

const METERS = resolve(import.meta.dirname, '../../simulators/scenarios/meters.yaml');

function mbpoll(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = requireTool('mbpoll');
  return new Promise((done) => {
    execFile(
      bin,
      ['-m', 'rtu', '-b', '9600', '-P', 'even', '-s', '1', '-o', '1', '-1', ...args],
      { timeout: 15_000 },
      (err, stdout, stderr) => {
        done({
          code: err ? (typeof err.code === 'number' ? err.code : -1) : 0,
          stdout: String(stdout),
          stderr: String(stderr),
        });
      },
    );
  });
}

function values(out: string): number[] {
  return [...out.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)].map((m) => Number(m[2]));
}

t.test('pymodbus serial RTU client and mbpoll -m rtu against the meters line on a PTY', async (t) => {
  const pty = await startPtyPair();
  t.teardown(() => pty.close());
  const sim = await startSimulator({
    scenario: METERS,
    scanDelayMs: 2,
    tickMs: 0,
    rtu: { serialPath: pty.a, tcpPort: 0 },
  });
  t.teardown(() => sim.close());

  const py = await runPymodbusRtu({ kind: 'serial', path: pty.b }, [
    { op: 'read_input', address: 0, count: 8, unit: 11 },
    { op: 'read_input', address: 0, count: 8, unit: 12 },
    { op: 'write_register', address: 1, value: 30, unit: 12 },
    { op: 'read_holding', address: 0, count: 2, unit: 12 },
    { op: 'read_holding', address: 40, count: 1, unit: 11 },
    { op: 'read_holding', address: 0, count: 1, unit: 13 },
    // mbpoll refuses address 0; pymodbus sends it (and, expecting an answer, times out: nobody answers a broadcast)
    { op: 'write_register', address: 10, value: 2, unit: 0 },
  ]);
  t.notOk(py[6]?.ok, `no answer to a broadcast: ${JSON.stringify(py[6])}`);
  t.equal(sim.store(11).get('holding', 10), 2, 'meter-1 switched tariff');
  t.equal(sim.store(12).get('holding', 10), 2, 'meter-2 switched tariff');
  t.equal(sim.rtuStats()?.broadcasts, 1);
  t.same(py[0], { values: [2301, 2298, 2305, 1250, 1180, 1302, 862, 5000] }, 'meter-1 readings');
  t.same(py[1], { values: [2297, 2302, 2299, 420, 395, 410, 287, 5000] }, 'meter-2 readings');
  t.same(py[2], { ok: true }, 'FC6 echo');
  t.same(py[3], { values: [100, 30] }, 'the write landed on meter-2 only');
  t.same(py[4], { exception: 2 }, 'holding 40 is outside the meter: exception 02');
  t.ok(py[5]?.error, `address 13 is silent on the line: ${py[5]?.error ?? ''}`);
  t.equal(sim.store(11).get('holding', 1), 15, 'meter-1 untouched');
  t.equal(sim.rtuStats()?.notForUs, 1);

  const r = await mbpoll(['-a', '11', '-t', '3', '-r', '1', '-c', '8', pty.b]);
  t.equal(r.code, 0, r.stderr);
  t.same(values(r.stdout), [2301, 2298, 2305, 1250, 1180, 1302, 862, 5000], 'mbpoll reads meter-1 input registers');
  const w = await mbpoll(['-a', '11', '-t', '4', '-r', '2', pty.b, '20']);
  t.equal(w.code, 0, w.stderr);
  t.match(w.stdout, /Written 1 references/);
  t.equal(sim.store(11).get('holding', 1), 20);
  const x = await mbpoll(['-a', '12', '-t', '4', '-r', '41', pty.b]);
  t.not(x.code, 0, 'mbpoll reports the exception');
  t.match(x.stdout + x.stderr, /Illegal data address/i);
  t.equal(sim.rtuStats()?.collisions, 0);

  const tcp = await runPymodbusRtu({ kind: 'tcp', host: '127.0.0.1', port: sim.rtuPort ?? 0 }, [
    { op: 'read_input', address: 6, count: 2, unit: 12 },
    { op: 'read_holding', address: 50, count: 1, unit: 12 },
  ]);
  t.same(tcp, [{ values: [287, 5000] }, { exception: 2 }], 'RTU framing over TCP (device-server mode)');
});
