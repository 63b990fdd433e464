/**
 * The PLC program of a simulated device: reads its command registers from the store and writes its process
 * values back, one scan step at a time. `step(dtMs)` is the only clock: tests advance it by hand, the
 * simulator from a timer. Models keep their physics state in floats and publish rounded words.
 */
import type { Table } from '../../protocols/modbus/types.js';

export interface ProcessModel {
  readonly model: string;
  /** Advance the process by dtMs milliseconds of simulated time. */
  step(dtMs: number): void;
}

/** Smallest table sizes a model needs for its register map (checked when the scenario loads). */
export type ModelRequirements = Readonly<Partial<Record<Table, number>>>;

/** First-order lag: how far `current` moves toward `target` in dt seconds with time constant tau. */
export function lag(current: number, target: number, dtS: number, tauS: number): number {
  return current + (target - current) * (1 - Math.exp(-dtS / tauS));
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
