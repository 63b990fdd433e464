import t from 'tap';
import { TankModel, TANK } from '../../simulators/dynamics/tank.js';
import { TurbineModel, TURBINE } from '../../simulators/dynamics/turbine.js';
import { lag } from '../../simulators/dynamics/process-model.js';
import { RegisterStore } from '../../simulators/register-store.js';

const turbineStore = (): RegisterStore => {
  const s = new RegisterStore(255, { coils: 16, discrete: 16, holding: 256, input: 16 });
  s.set('coils', TURBINE.runCoil, 1);
  return s;
};
/** Advance `model` by `totalMs` in `stepMs` ticks (the injected clock). */
const run = (m: { step(dt: number): void }, totalMs: number, stepMs = 100): void => {
  for (let t = 0; t < totalMs; t += stepMs) m.step(stepMs);
};

t.test('first-order lag moves part of the way', async (t) => {
  t.equal(lag(0, 100, 1, 1), 100 * (1 - Math.exp(-1)));
  t.equal(lag(50, 50, 5, 1), 50);
});

t.test('turbine speed follows the setpoint with inertia and ramp limit', async (t) => {
  const s = turbineStore();
  const m = new TurbineModel(s);
  t.equal(s.get('input', TURBINE.speedInput), 0, 'cold start');
  s.write('holding', TURBINE.setpointHolding, [1800]);
  m.step(100);
  const after100 = s.get('input', TURBINE.speedInput);
  t.ok(after100 > 0 && after100 <= 60, `ramp-limited first step (600 rpm/s × 0.1 s), got ${after100}`);
  t.equal(s.get('discrete', TURBINE.runningDiscrete), 1, 'running');
  t.equal(s.get('discrete', TURBINE.atSetpointDiscrete), 0, 'not yet at setpoint');
  run(m, 1000);
  const after1s = s.get('input', TURBINE.speedInput);
  t.ok(after1s > after100 && after1s < 1800, `still accelerating after 1.1 s: ${after1s}`);
  run(m, 30_000);
  t.ok(Math.abs(s.get('input', TURBINE.speedInput) - 1800) <= 2, 'settles at the setpoint');
  t.equal(s.get('discrete', TURBINE.atSetpointDiscrete), 1, 'at setpoint');
  t.equal(s.get('input', TURBINE.effectiveSetpointInput), 1800);
});

t.test('turbine temperatures follow speed slowly', async (t) => {
  const s = turbineStore();
  const m = new TurbineModel(s);
  t.equal(s.get('input', TURBINE.bearingTempInput), 250, 'bearing at ambient 25.0 °C');
  s.write('holding', TURBINE.setpointHolding, [3600]);
  run(m, 10_000);
  const b10 = s.get('input', TURBINE.bearingTempInput);
  const e10 = s.get('input', TURBINE.exhaustTempInput);
  t.ok(b10 > 250 && b10 < 750, `bearing warming: ${b10}`);
  t.ok(e10 > 250 && e10 < 4250, `exhaust warming: ${e10}`);
  run(m, 300_000, 1000);
  t.ok(Math.abs(s.get('input', TURBINE.bearingTempInput) - 750) <= 2, 'bearing settles at 25 + 50 °C');
  t.ok(Math.abs(s.get('input', TURBINE.exhaustTempInput) - 4250) <= 2, 'exhaust settles at 25 + 400 °C');
});

t.test('turbine clamps the setpoint and coasts down without run enable', async (t) => {
  const s = turbineStore();
  const m = new TurbineModel(s, { maxRpm: 3000 });
  s.write('holding', TURBINE.setpointHolding, [9000]);
  run(m, 60_000);
  t.equal(s.get('input', TURBINE.effectiveSetpointInput), 3000, 'program clamps to maxRpm');
  t.ok(s.get('input', TURBINE.speedInput) <= 3000);
  t.equal(s.get('holding', TURBINE.setpointHolding), 9000, 'register keeps what was written');
  s.write('coils', TURBINE.runCoil, [0]);
  run(m, 60_000);
  t.equal(s.get('input', TURBINE.speedInput), 0, 'coasted to 0');
  t.equal(s.get('discrete', TURBINE.runningDiscrete), 0);
  m.step(0);
  m.step(-5);
  t.equal(s.get('input', TURBINE.speedInput), 0, 'non-positive dt does nothing');
});

const tankStore = (level: number): RegisterStore => {
  const s = new RegisterStore(255, { coils: 16, discrete: 16, holding: 64, input: 16 });
  s.set('coils', TANK.interlockCoil, 1);
  s.set('holding', TANK.highSetpointHolding, 1800);
  s.set('holding', TANK.lowSetpointHolding, 200);
  s.set('input', TANK.levelInput, level);
  return s;
};

t.test('tank level follows the valves', async (t) => {
  const s = tankStore(1000);
  const m = new TankModel(s);
  run(m, 5000);
  t.equal(s.get('input', TANK.levelInput), 1000, 'valves closed: level holds');
  s.write('holding', TANK.inletHolding, [100]);
  run(m, 4000);
  t.equal(s.get('input', TANK.levelInput), 1200, 'inlet 100 % × 50 mm/s × 4 s');
  s.write('holding', TANK.inletHolding, [0]);
  s.write('holding', TANK.outletHolding, [100]);
  run(m, 1000);
  const l = s.get('input', TANK.levelInput);
  t.ok(l < 1200 && l > 1160, `outflow ≈ 40 × sqrt(0.6) mm/s: ${l}`);
  t.equal(s.get('input', TANK.outletInput), 100);
  run(m, 600_000);
  t.ok(s.get('input', TANK.levelInput) <= 5, 'drains to (near) empty and never below 0');
  t.equal(s.get('discrete', TANK.lowAlarmDiscrete), 1, 'low alarm');
});

t.test('tank high-level interlock shuts the inlet', async (t) => {
  const s = tankStore(1700);
  const m = new TankModel(s);
  s.write('holding', TANK.inletHolding, [100]);
  run(m, 10_000);
  const level = s.get('input', TANK.levelInput);
  t.ok(level >= 1800 && level <= 1810, `stops near the high setpoint: ${level}`);
  t.equal(s.get('discrete', TANK.highAlarmDiscrete), 1);
  t.equal(s.get('input', TANK.inletInput), 0, 'effective inlet 0 while interlocked');
  s.write('coils', TANK.interlockCoil, [0]);
  run(m, 60_000);
  t.equal(s.get('input', TANK.levelInput), 2000, 'without interlock it fills to the top and stops');
});
