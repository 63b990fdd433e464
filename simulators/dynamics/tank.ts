/**
 * Water tank with an inlet and an outlet valve. Register map (PDU addresses, 0-based):
 *   coil 0        high-level interlock enable (1 = the program shuts the inlet while the high alarm is on)
 *   holding 0     inlet valve opening, % (0..100; larger values count as 100)
 *   holding 1     outlet valve opening, % (0..100)
 *   holding 10    high alarm setpoint, mm
 *   holding 11    low alarm setpoint, mm
 *   input 0       level, mm (0..heightMm)
 *   input 1       effective inlet opening, % (0 while the interlock holds it shut)
 *   input 2       effective outlet opening, %
 *   discrete 0    high alarm (level ≥ holding 10)
 *   discrete 1    low alarm (level ≤ holding 11)
 * dL/dt = inlet% × inletMmPerS − outlet% × outletMmPerS × sqrt(L / heightMm) (Torricelli outflow).
 */
import type { RegisterStore } from '../register-store.js';
import type { TankParams } from '../scenario.js';
import { clamp, type ModelRequirements, type ProcessModel } from './process-model.js';

export const TANK = {
  interlockCoil: 0,
  inletHolding: 0,
  outletHolding: 1,
  highSetpointHolding: 10,
  lowSetpointHolding: 11,
  levelInput: 0,
  inletInput: 1,
  outletInput: 2,
  highAlarmDiscrete: 0,
  lowAlarmDiscrete: 1,
} as const;

export const tankRequirements: ModelRequirements = { coils: 1, discrete: 2, holding: 12, input: 3 };

const DEFAULTS: Required<TankParams> = { heightMm: 2000, inletMmPerS: 50, outletMmPerS: 40 };

export class TankModel implements ProcessModel {
  readonly model = 'tank';
  private readonly p: Required<TankParams>;
  private level: number;

  constructor(
    private readonly store: RegisterStore,
    params: TankParams = {},
  ) {
    this.p = { ...DEFAULTS, ...params };
    this.level = clamp(store.get('input', TANK.levelInput), 0, this.p.heightMm);
    this.publish(this.inletOpening(), this.outletOpening());
  }

  step(dtMs: number): void {
    if (dtMs <= 0) return;
    const dtS = dtMs / 1000;
    const inlet = this.inletOpening();
    const outlet = this.outletOpening();
    const inflow = (inlet / 100) * this.p.inletMmPerS;
    const outflow = (outlet / 100) * this.p.outletMmPerS * Math.sqrt(this.level / this.p.heightMm);
    this.level = clamp(this.level + (inflow - outflow) * dtS, 0, this.p.heightMm);
    this.publish(this.inletOpening(), outlet);
  }

  private inletOpening(): number {
    const s = this.store;
    const interlocked =
      s.get('coils', TANK.interlockCoil) === 1 && this.level >= s.get('holding', TANK.highSetpointHolding);
    return interlocked ? 0 : clamp(s.get('holding', TANK.inletHolding), 0, 100);
  }

  private outletOpening(): number {
    return clamp(this.store.get('holding', TANK.outletHolding), 0, 100);
  }

  private publish(inlet: number, outlet: number): void {
    const s = this.store;
    const mm = Math.round(this.level);
    s.set('input', TANK.levelInput, mm);
    s.set('input', TANK.inletInput, inlet);
    s.set('input', TANK.outletInput, outlet);
    s.set('discrete', TANK.highAlarmDiscrete, mm >= s.get('holding', TANK.highSetpointHolding) ? 1 : 0);
    s.set('discrete', TANK.lowAlarmDiscrete, mm <= s.get('holding', TANK.lowSetpointHolding) ? 1 : 0);
  }
}
