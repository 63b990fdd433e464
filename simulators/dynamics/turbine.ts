/**
 * Steam-turbine speed loop. Register map (PDU addresses, 0-based):
 *   coil 0        run enable (1 = follow the setpoint, 0 = coast down to 0 rpm)
 *   holding 100   speed setpoint, rpm (the program clamps it to 0..maxRpm; the register keeps what was written)
 *   input 0       speed, rpm
 *   input 1       bearing temperature, 0.1 °C
 *   input 2       exhaust temperature, 0.1 °C
 *   input 3       effective (clamped) setpoint, rpm
 *   discrete 0    running (speed > 0)
 *   discrete 1    at setpoint (|speed − effective setpoint| ≤ 1 % of maxRpm)
 * Speed follows the setpoint with inertia: a first-order lag limited by a ramp rate. Temperatures follow
 * the speed with a slower thermal lag toward ambient + rise × (speed / maxRpm)².
 */
import type { RegisterStore } from '../register-store.js';
import type { TurbineParams } from '../scenario.js';
import { clamp, lag, type ModelRequirements, type ProcessModel } from './process-model.js';

export const TURBINE = {
  runCoil: 0,
  setpointHolding: 100,
  speedInput: 0,
  bearingTempInput: 1,
  exhaustTempInput: 2,
  effectiveSetpointInput: 3,
  runningDiscrete: 0,
  atSetpointDiscrete: 1,
} as const;

export const turbineRequirements: ModelRequirements = { coils: 1, discrete: 2, holding: 101, input: 4 };

const DEFAULTS: Required<TurbineParams> = {
  maxRpm: 3600,
  tauS: 2,
  maxRampRpmPerS: 600,
  ambientC: 25,
  bearingRiseC: 50,
  exhaustRiseC: 400,
  thermalTauS: 20,
};

export class TurbineModel implements ProcessModel {
  readonly model = 'turbine';
  private readonly p: Required<TurbineParams>;
  private speed: number;
  private bearingC: number;
  private exhaustC: number;

  constructor(
    private readonly store: RegisterStore,
    params: TurbineParams = {},
  ) {
    this.p = { ...DEFAULTS, ...params };
    // Start from whatever the scenario put in the process registers (a warm restart), else cold.
    this.speed = store.get('input', TURBINE.speedInput);
    const b = store.get('input', TURBINE.bearingTempInput);
    const e = store.get('input', TURBINE.exhaustTempInput);
    this.bearingC = b > 0 ? b / 10 : this.p.ambientC;
    this.exhaustC = e > 0 ? e / 10 : this.p.ambientC;
    this.publish(this.effectiveSetpoint());
  }

  step(dtMs: number): void {
    if (dtMs <= 0) return;
    const dtS = dtMs / 1000;
    const target = this.effectiveSetpoint();
    const wanted = lag(this.speed, target, dtS, this.p.tauS) - this.speed;
    const maxDelta = this.p.maxRampRpmPerS * dtS;
    this.speed = clamp(this.speed + clamp(wanted, -maxDelta, maxDelta), 0, this.p.maxRpm);
    const load = (this.speed / this.p.maxRpm) ** 2;
    this.bearingC = lag(this.bearingC, this.p.ambientC + this.p.bearingRiseC * load, dtS, this.p.thermalTauS);
    this.exhaustC = lag(this.exhaustC, this.p.ambientC + this.p.exhaustRiseC * load, dtS, this.p.thermalTauS);
    this.publish(target);
  }

  private effectiveSetpoint(): number {
    if (this.store.get('coils', TURBINE.runCoil) === 0) return 0;
    return clamp(this.store.get('holding', TURBINE.setpointHolding), 0, this.p.maxRpm);
  }

  private publish(target: number): void {
    const s = this.store;
    const rpm = Math.round(this.speed);
    s.set('input', TURBINE.speedInput, rpm);
    s.set('input', TURBINE.bearingTempInput, this.bearingC * 10);
    s.set('input', TURBINE.exhaustTempInput, this.exhaustC * 10);
    s.set('input', TURBINE.effectiveSetpointInput, target);
    s.set('discrete', TURBINE.runningDiscrete, rpm > 0 ? 1 : 0);
    s.set('discrete', TURBINE.atSetpointDiscrete, Math.abs(this.speed - target) <= this.p.maxRpm * 0.01 ? 1 : 0);
  }
}
