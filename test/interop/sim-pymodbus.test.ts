// pymodbus (PyPI, in .venv) against the simulators: reads, writes, device id, exceptions, multi-unit.
import { resolve } from 'node:path';
import t from 'tap';
import { startSimulator } from '../../simulators/simulator.js';
import { runPymodbus } from '../helpers/pymodbus.js';

const SCENARIOS = resolve(import.meta.dirname, '../../simulators/scenarios');

t.test('pymodbus writes the setpoint and sees the turbine speed move', async (t) => {
  const sim = await startSimulator({ scenario: resolve(SCENARIOS, 'turbine.yaml'), scanDelayMs: 10, tickMs: 50 });
  t.teardown(() => sim.close());
  const [before, write, , after, temps, id, bad] = await runPymodbus('127.0.0.1', sim.port, [
    { op: 'read_holding', address: 100, count: 1 },
    { op: 'write_register', address: 100, value: 2400 },
    { op: 'sleep', seconds: 0.6 },
    { op: 'read_input', address: 0, count: 4 },
    { op: 'read_input', address: 1, count: 2 },
    { op: 'device_id' },
    { op: 'read_holding', address: 255, count: 2 },
  ]);
  t.same(before, { values: [0] });
  t.same(write, { ok: true });
  const [speed = 0, , , effective] = after?.values ?? [];
  t.ok(speed > 0 && speed < 2400, `speed moved toward 2400 with inertia: ${speed}`);
  t.equal(effective, 2400);
  t.ok(
    (temps?.values ?? []).every((v) => v >= 250),
    'temperatures at or above ambient (0.1 °C)',
  );
  t.same(id?.objects, { '0': 'verigate labs', '1': 'SIM-TURBINE', '2': '1.2' }, 'FC43/14 basic objects');
  t.same(bad, { exception: 2 }, 'range past the end → exception 02');
  t.same(sim.counters().writes, { 'holding:255:100': 1 });
});

t.test('pymodbus against several units behind one address', async (t) => {
  const sim = await startSimulator({ scenario: resolve(SCENARIOS, 'multi-unit.yaml'), scanDelayMs: 0, tickMs: 0 });
  t.teardown(() => sim.close());
  const [io, tank, coil, coilBack, missing] = await runPymodbus('127.0.0.1', sim.port, [
    { op: 'read_holding', address: 0, count: 3, unit: 3 },
    { op: 'read_input', address: 0, count: 1, unit: 2 },
    { op: 'write_coil', address: 5, value: true, unit: 3 },
    { op: 'read_coils', address: 4, count: 3, unit: 3 },
    { op: 'read_holding', address: 0, count: 1, unit: 42 },
  ]);
  t.same(io, { values: [1, 2, 3] });
  t.same(tank, { values: [1000] });
  t.same(coil, { ok: true });
  t.same(coilBack, { values: [0, 1, 0] });
  t.same(missing, { exception: 0x0b }, 'unknown unit → 0x0B');
  t.same(sim.counters().writes, { 'coils:3:5': 1 });
});
