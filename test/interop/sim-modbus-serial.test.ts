// modbus-serial (npm, ModbusRTU.connectTCP) against the simulators.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import type { ModbusRTU as ModbusClient } from 'modbus-serial/ModbusRTU.js';
import t from 'tap';
import { startSimulator } from '../../simulators/simulator.js';
import { eventually } from '../helpers/eventually.js';

// modbus-serial is CommonJS (`module.exports = ModbusRTU`) with ESM-style typings: load it the CJS way.
const ModbusRTU = createRequire(import.meta.url)('modbus-serial') as typeof ModbusClient;
type ModbusRTU = ModbusClient;
const SCENARIOS = resolve(import.meta.dirname, '../../simulators/scenarios');

async function client(port: number, unit: number): Promise<ModbusRTU> {
  const c = new ModbusRTU();
  await c.connectTCP('127.0.0.1', { port });
  c.setID(unit);
  c.setTimeout(2000);
  return c;
}
const closeClient = (c: ModbusRTU): Promise<void> => new Promise((r) => c.close(() => r()));

t.test('modbus-serial reads and writes the tank and sees the level rise', async (t) => {
  const sim = await startSimulator({ scenario: resolve(SCENARIOS, 'tank.yaml'), scanDelayMs: 5, tickMs: 50 });
  t.teardown(() => sim.close());
  const c = await client(sim.port, 255);
  t.teardown(() => closeClient(c));

  const level0 = (await c.readInputRegisters(0, 1)).data[0] ?? 0;
  t.ok(Math.abs(level0 - 1000) <= 1, `initial level ≈ 1000 mm: ${level0}`);
  t.same(await c.writeRegisters(0, [100, 0]), { address: 0, length: 2 }, 'FC16: inlet 100 %, outlet 0 %');
  // The simulator's own 50 ms tick (simulators/ keep real timers) fills the tank; read it through the client.
  let level = level0;
  await eventually(
    'the level to rise',
    async () => (level = (await c.readInputRegisters(0, 1)).data[0] ?? 0) > level0 + 10,
    { timeoutMs: 5000, intervalMs: 50 },
  ).catch(() => undefined);
  t.ok(level > level0 + 10, `level rises with the inlet open: ${level0} → ${level}`);
  t.same((await c.readDiscreteInputs(0, 2)).data.slice(0, 2), [false, false], 'no alarms mid-range');
  t.same((await c.readCoils(0, 1)).data[0], true, 'interlock enabled');
  await c.writeCoil(0, false);
  t.same((await c.readCoils(0, 1)).data[0], false);
  t.same(sim.counters().writes, { 'holding:255:0': 1, 'holding:255:1': 1, 'coils:255:0': 1 });
});

t.test('modbus-serial sees exceptions as errors with the Modbus code', async (t) => {
  const sim = await startSimulator({ scenario: resolve(SCENARIOS, 'turbine.yaml'), scanDelayMs: 0, tickMs: 0 });
  t.teardown(() => sim.close());
  const c = await client(sim.port, 255);
  t.teardown(() => closeClient(c));
  const codeOf = (p: Promise<unknown>): Promise<unknown> =>
    p.then(
      () => 'no error',
      (e: { modbusCode?: number }) => e.modbusCode,
    );
  t.equal(await codeOf(c.readHoldingRegisters(250, 10)), 2, 'outside the map → 02');
  sim.setFault({ mode: 'exception', code: 4 });
  t.equal(await codeOf(c.readHoldingRegisters(0, 1)), 4, 'fault → 04');
  sim.setFault({ mode: 'none' });
  t.same((await c.readHoldingRegisters(100, 1)).data, [0]);
});
