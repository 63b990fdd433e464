/** Builds the process model a scenario names, and tells which register map it needs. */
import type { RegisterStore } from '../register-store.js';
import type { ProcessSpec } from '../scenario.js';
import type { ModelRequirements, ProcessModel } from './process-model.js';
import { TankModel, tankRequirements } from './tank.js';
import { TurbineModel, turbineRequirements } from './turbine.js';

export function createModel(spec: ProcessSpec, store: RegisterStore): ProcessModel {
  switch (spec.model) {
    case 'turbine':
      return new TurbineModel(store, spec.params);
    case 'tank':
      return new TankModel(store, spec.params);
  }
}

export function modelRequirements(spec: ProcessSpec): ModelRequirements {
  return spec.model === 'turbine' ? turbineRequirements : tankRequirements;
}
