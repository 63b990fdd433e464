// mbpoll (Debian, libmodbus) against the turbine simulator: third-party framing and addressing.
// mbpoll references are 1-based by default (holding 100 = `-r 101`); `-0` switches to PDU addresses.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import t from 'tap';
import { startSimulator } from '../../simulators/simulator.js';
import { requireTool } from '../helpers/tools.js';
import { eventually } from '../helpers/eventually.js';

const TURBINE = resolve(import.meta.dirname, '../../simulators/scenarios/turbine.yaml');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function mbpoll(port: number, args: string[]): Promise<Run> {
  const bin = requireTool('mbpoll');
  return new Promise((resolve) => {
    execFile(
      bin,
      ['-m', 'tcp', '-p', String(port), '-o', '2', '-1', ...args],
      { timeout: 10_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Values from mbpoll's `[ref]: \tvalue` lines. */
function values(out: string): Map<number, number> {
  const m = new Map<number, number>();
  for (const [, ref, v] of out.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)) m.set(Number(ref), Number(v));
  return m;
}

t.test('mbpoll reads and writes the turbine and sees the speed move', async (t) => {
  const sim = await startSimulator({ scenario: TURBINE, scanDelayMs: 10, tickMs: 50 });
  t.teardown(() => sim.close());

  const r0 = await mbpoll(sim.port, ['-a', '255', '-r', '101', '-c', '1', '127.0.0.1']);
  t.equal(r0.code, 0, r0.stderr);
  t.equal(values(r0.stdout).get(101), 0, 'setpoint starts at 0 (holding 100 = mbpoll ref 101)');

  const w = await mbpoll(sim.port, ['-a', '255', '-r', '101', '127.0.0.1', '1800']);
  t.equal(w.code, 0, w.stderr);
  t.match(w.stdout, /Written 1 references/);
  t.same(sim.counters().writes, { 'holding:255:100': 1 }, 'exactly one write reached the PLC');
  t.equal(sim.counters().byFc['6'], 1, 'mbpoll wrote one register with FC6');

  const back = await mbpoll(sim.port, ['-a', '1', '-0', '-r', '100', '127.0.0.1']);
  t.equal(values(back.stdout).get(100), 1800, 'read back through alias unit 1 with PDU addressing (-0)');

  // mbpoll runs as its own process once per poll; the turbine moves on the simulator's tick.
  let speed = 0;
  await eventually(
    'the turbine speed to move',
    async () => {
      const r = await mbpoll(sim.port, ['-a', '255', '-t', '3', '-r', '1', '-c', '4', '127.0.0.1']);
      t.equal(r.code, 0, r.stderr);
      speed = values(r.stdout).get(1) ?? 0;
      t.equal(values(r.stdout).get(4), 1800, 'input 3 = effective setpoint');
      return speed !== 0;
    },
    { timeoutMs: 10_000, intervalMs: 0 },
  ).catch(() => undefined);
  t.ok(speed > 0 && speed <= 1800, `input 0 speed moved toward the setpoint: ${speed} rpm`);
});

t.test('mbpoll sees exception 02 for an address outside the map', async (t) => {
  const sim = await startSimulator({ scenario: TURBINE, scanDelayMs: 0, tickMs: 0 });
  t.teardown(() => sim.close());
  const r = await mbpoll(sim.port, ['-a', '255', '-0', '-r', '300', '127.0.0.1']);
  t.not(r.code, 0, 'mbpoll reports a failure');
  t.match(r.stderr + r.stdout, /Illegal data address/i);
  t.equal(sim.counters().exceptions['2'], 1, 'the simulator answered 02');
});
