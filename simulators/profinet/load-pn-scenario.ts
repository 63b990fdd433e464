/**
 * Loads a PROFINET scenario YAML through the simulators' loader (schema errors as file:line:col), then checks
 * what a schema cannot: slots, subslots and record indices unique, initial values as long as their record,
 * diagnosis entries on plugged submodules. Every problem is reported at once, located in the file.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { checkScenarioObject, loadScenarioYaml, type PathProblem, type YamlPath } from '../scenario-yaml.js';
import { pnScenarioSchema, type PnScenario } from './pn-scenario.js';

/** True when the file says `protocol: profinet` at its top level (the sim CLI picks the simulator with it). */
export function isProfinetScenarioFile(path: string): boolean {
  try {
    const v = parse(readFileSync(path, 'utf8')) as unknown;
    return typeof v === 'object' && v !== null && (v as Record<string, unknown>)['protocol'] === 'profinet';
  } catch {
    return false; // the Modbus loader reports unreadable files and YAML errors with their position
  }
}

export function loadPnScenarioFile(path: string): PnScenario {
  return loadScenarioYaml<PnScenario>(path, pnScenarioSchema, pnScenarioProblems);
}

/** For scenarios built in code: the same semantic checks, located by path. */
export function checkPnScenario(s: PnScenario, sourceName = '(scenario object)'): PnScenario {
  return checkScenarioObject(s, sourceName, pnScenarioProblems);
}

export function pnScenarioProblems(s: PnScenario): PathProblem[] {
  const problems: PathProblem[] = [];
  const plugged = new Set<string>(['0:1', `0:${s.dap.interface.subslot}`]);
  const dapSubs = new Map<number, YamlPath>([
    [1, ['dap', 'submoduleIdent']],
    [s.dap.interface.subslot, ['dap', 'interface', 'subslot']],
  ]);
  s.dap.ports.forEach((p, i) => {
    if (dapSubs.has(p.subslot))
      problems.push({
        path: ['dap', 'ports', i, 'subslot'],
        message: `subslot 0x${p.subslot.toString(16)} is already used in slot 0`,
      });
    dapSubs.set(p.subslot, ['dap', 'ports', i]);
    plugged.add(`0:${p.subslot}`);
  });
  const slots = new Map<number, number>();
  s.modules.forEach((m, i) => {
    const prev = slots.get(m.slot);
    if (prev !== undefined)
      problems.push({ path: ['modules', i, 'slot'], message: `slot ${m.slot} is already used by modules[${prev}]` });
    else slots.set(m.slot, i);
    const subs = new Set<number>();
    m.subslots.forEach((sub, j) => {
      const at: YamlPath = ['modules', i, 'subslots', j];
      if (subs.has(sub.subslot))
        problems.push({ path: [...at, 'subslot'], message: `subslot ${sub.subslot} appears twice in slot ${m.slot}` });
      subs.add(sub.subslot);
      plugged.add(`${m.slot}:${sub.subslot}`);
      const indices = new Set<number>();
      (sub.records ?? []).forEach((r, k) => {
        if (indices.has(r.index))
          problems.push({
            path: [...at, 'records', k, 'index'],
            message: `record index 0x${r.index.toString(16)} appears twice`,
          });
        indices.add(r.index);
        if (r.value !== undefined && r.value.length !== r.length * 2) {
          problems.push({
            path: [...at, 'records', k, 'value'],
            message: `value has ${r.value.length / 2} bytes, the record is ${r.length} bytes long`,
          });
        }
      });
    });
  });
  (s.diagnosis ?? []).forEach((d, i) => {
    if (!plugged.has(`${d.slot}:${d.subslot}`))
      problems.push({ path: ['diagnosis', i], message: `no submodule plugged at slot ${d.slot} subslot ${d.subslot}` });
  });
  return problems;
}
