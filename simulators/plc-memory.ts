/**
 * All the memory behind one simulated address: a RegisterStore per unit id (aliases share one store) and the
 * process model running on each. Built from a scenario; `reset()` is a power cycle (initial values again).
 */
import type { Table } from '../protocols/modbus/types.js';
import { createModel } from './dynamics/create-model.js';
import type { ProcessModel } from './dynamics/process-model.js';
import { RegisterStore } from './register-store.js';
import type { Scenario, UnitSpec } from './scenario.js';

export class PlcMemory {
  private readonly byUnit = new Map<number, RegisterStore>();
  private models: ProcessModel[] = [];

  constructor(private readonly scenario: Scenario) {
    this.reset();
  }

  /** The store answering `unit`, or undefined when this address serves no such unit. */
  lookup(unit: number): RegisterStore | undefined {
    return this.byUnit.get(unit);
  }

  /** Unit ids served (primary ids and aliases). */
  units(): number[] {
    return [...this.byUnit.keys()].sort((a, b) => a - b);
  }

  /** Runs every process model for dtMs of simulated time. */
  step(dtMs: number): void {
    for (const m of this.models) m.step(dtMs);
  }

  /** Power cycle: fresh stores with the scenario's initial values and fresh models. */
  reset(): void {
    this.byUnit.clear();
    this.models = [];
    for (const spec of this.scenario.units) {
      const store = buildStore(spec);
      for (const id of [spec.id, ...(spec.aliases ?? [])]) this.byUnit.set(id, store);
      if (spec.process) this.models.push(createModel(spec.process, store));
    }
  }
}

function buildStore(spec: UnitSpec): RegisterStore {
  const store = new RegisterStore(spec.id, spec.tables);
  for (const [table, map] of Object.entries(spec.init ?? {}) as [Table, Record<string, number | readonly number[]>][]) {
    for (const [addr, v] of Object.entries(map)) {
      const values: readonly number[] = typeof v === 'number' ? [v] : v;
      values.forEach((value, i) => store.set(table, Number(addr) + i, value));
    }
  }
  for (const [ptr, values] of Object.entries(spec.fifos ?? {})) store.setFifo(Number(ptr), values);
  return store;
}
