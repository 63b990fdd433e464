import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { checkScenario, loadScenarioFile } from '../../simulators/load-scenario.js';
import { scenarioErrorDetails } from '../../simulators/scenario-yaml.js';
import { PlcMemory } from '../../simulators/plc-memory.js';
import { TURBINE } from '../../simulators/dynamics/turbine.js';

const scenarios = resolve(import.meta.dirname, '../../simulators/scenarios');
const dir = mkdtempSync(join(tmpdir(), 'sim-scenario-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

t.test('the shipped scenarios load and build their memory', async (t) => {
  const turbine = loadScenarioFile(join(scenarios, 'turbine.yaml'));
  t.equal(turbine.name, 'turbine-1');
  t.ok(Object.isFrozen(turbine.units), 'deep-frozen');
  const mem = new PlcMemory(turbine);
  t.same(mem.units(), [1, 255], 'unit 255 with alias 1');
  t.equal(mem.lookup(1), mem.lookup(255), 'alias shares the store');
  t.equal(mem.lookup(255)?.get('coils', TURBINE.runCoil), 1, 'init applied');
  t.same(mem.lookup(255)?.readFifo(200), { ok: true, value: [101, 102, 103] });

  const tank = loadScenarioFile(join(scenarios, 'tank.yaml'));
  t.equal(new PlcMemory(tank).lookup(255)?.get('input', 0), 1000);

  const multi = new PlcMemory(loadScenarioFile(join(scenarios, 'multi-unit.yaml')));
  t.same(multi.units(), [1, 2, 3]);
  t.same(
    multi.lookup(3)?.snapshot('holding', 0, 10),
    [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    'array init spreads over addresses',
  );
  t.equal(multi.lookup(9), undefined);
});

t.test('reset restores the initial values (power cycle)', async (t) => {
  const mem = new PlcMemory(loadScenarioFile(join(scenarios, 'turbine.yaml')));
  mem.lookup(255)?.write('holding', 100, [1500]);
  mem.step(1000);
  t.ok((mem.lookup(255)?.get('input', 0) ?? 0) > 0);
  mem.reset();
  t.equal(mem.lookup(255)?.get('holding', 100), 0);
  t.equal(mem.lookup(255)?.get('input', 0), 0);
});

t.test('schema errors are reported with file:line:col, all at once', async (t) => {
  const p = write(
    'bad-schema.yaml',
    [
      'name: x',
      'units:',
      '  - id: 300',
      '    tables: { coils: 1, discrete: 1, holding: 1, input: 1 }',
      '    colour: red',
      '',
    ].join('\n'),
  );
  const err = t.throws(() => loadScenarioFile(p)) as Error & { code?: string };
  t.equal(err.code, 'SIM_ERR_SCENARIO_INVALID');
  t.match(err.message, `${p}:3:9: `, 'id points at line 3');
  t.match(err.message, `${p}:5:5: `, 'unknown property at line 5');
  t.match(err.message, /unknown property 'colour'/);
  t.equal(scenarioErrorDetails(err).length, 2);
});

t.test('semantic errors: duplicate unit ids, init outside a table, model needs registers', async (t) => {
  const p = write(
    'bad-semantic.yaml',
    [
      'name: x',
      'units:',
      '  - id: 1',
      '    tables: { coils: 1, discrete: 2, holding: 10, input: 4 }',
      '    init:',
      '      holding: { 8: [1, 2, 3] }',
      '    process: { model: turbine }',
      '  - id: 2',
      '    aliases: [1]',
      '    tables: { coils: 1, discrete: 1, holding: 1, input: 1 }',
      '',
    ].join('\n'),
  );
  const err = t.throws(() => loadScenarioFile(p)) as Error;
  const details = scenarioErrorDetails(err);
  t.equal(details.length, 3, details.map((d) => d.message).join('; '));
  t.match(err.message, `${p}:6:`, 'init range line');
  t.match(err.message, /holding 8\.\.10 is outside the table/);
  t.match(err.message, /model 'turbine' needs at least 101 holding/);
  t.match(err.message, `${p}:9:`, 'alias line');
  t.match(err.message, /unit id 1 is already served by units\[0\]/);
});

t.test('wrong process params and unreadable files', async (t) => {
  const p = write(
    'bad-params.yaml',
    [
      'name: x',
      'units:',
      '  - id: 1',
      '    tables: { coils: 1, discrete: 2, holding: 12, input: 3 }',
      '    process: { model: tank, params: { maxRpm: 5 } }',
      '',
    ].join('\n'),
  );
  t.throws(() => loadScenarioFile(p), /unknown property 'maxRpm'/);
  const err = t.throws(() => loadScenarioFile(join(dir, 'missing.yaml'))) as Error & { code?: string };
  t.equal(err.code, 'SIM_ERR_SCENARIO_UNREADABLE');
});

t.test('scenario objects built in code get the semantic checks', async (t) => {
  t.throws(
    () =>
      checkScenario({
        name: 'x',
        units: [{ id: 1, tables: { coils: 0, discrete: 0, holding: 1, input: 1 }, init: { holding: { '5': 1 } } }],
      }),
    /units\.0\.init\.holding\.5: holding 5\.\.5 is outside the table/,
  );
  const ok = { name: 'y', units: [{ id: 1, tables: { coils: 0, discrete: 0, holding: 1, input: 1 } }] };
  t.equal(checkScenario(ok), ok);
});
