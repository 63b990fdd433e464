/**
 * Loads a scenario YAML through the simulators' loader (schema errors as file:line:col), then checks what a
 * schema cannot: unit ids unique across aliases, initial values and FIFOs inside their tables, process models
 * given the registers their map needs. Every problem is reported at once, located in the file.
 */
import type { Table } from '../protocols/modbus/types.js';
import { modelRequirements } from './dynamics/create-model.js';
import { scenarioSchema, type Scenario } from './scenario.js';
import { checkScenarioObject, loadScenarioYaml, type PathProblem, type YamlPath } from './scenario-yaml.js';

export function loadScenarioFile(path: string): Scenario {
  return loadScenarioYaml<Scenario>(path, scenarioSchema, scenarioProblems);
}

/** For scenarios built in code: the same semantic checks, located by path instead of line. */
export function checkScenario(scenario: Scenario, sourceName = '(scenario object)'): Scenario {
  return checkScenarioObject(scenario, sourceName, scenarioProblems);
}

export function scenarioProblems(s: Scenario): PathProblem[] {
  const problems: PathProblem[] = [];
  const owner = new Map<number, number>();
  s.units.forEach((u, i) => {
    const ids: [number, YamlPath][] = [
      [u.id, ['units', i, 'id']],
      ...(u.aliases ?? []).map((a, j): [number, YamlPath] => [a, ['units', i, 'aliases', j]]),
    ];
    for (const [id, path] of ids) {
      const prev = owner.get(id);
      if (prev !== undefined) problems.push({ path, message: `unit id ${id} is already served by units[${prev}]` });
      else owner.set(id, i);
    }
    for (const [table, map] of Object.entries(u.init ?? {}) as [Table, Record<string, number | readonly number[]>][]) {
      for (const [addr, v] of Object.entries(map)) {
        const end = Number(addr) + (Array.isArray(v) ? v.length : 1);
        if (end > u.tables[table]) {
          problems.push({
            path: ['units', i, 'init', table, addr],
            message: `${table} ${addr}..${end - 1} is outside the table (size ${u.tables[table]})`,
          });
        }
      }
    }
    for (const addr of Object.keys(u.fifos ?? {})) {
      if (Number(addr) >= u.tables.holding) {
        problems.push({
          path: ['units', i, 'fifos', addr],
          message: `FIFO pointer ${addr} is outside the holding table (size ${u.tables.holding})`,
        });
      }
    }
    if (u.process) {
      for (const [table, min] of Object.entries(modelRequirements(u.process)) as [Table, number][]) {
        if (u.tables[table] < min) {
          problems.push({
            path: ['units', i, 'tables', table],
            message: `model '${u.process.model}' needs at least ${min} ${table} (has ${u.tables[table]})`,
          });
        }
      }
    }
  });
  return problems;
}
