import t from 'tap';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadYamlFile,
  parseYamlText,
  parseYamlDocument,
  configErrorDetails,
  ConfigError,
  deepFreeze,
  pointerToPath,
} from '../../gateway/config/load-yaml.js';
import { isGatewayError } from '../../gateway/errors.js';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'items'],
  properties: {
    name: { type: 'string' },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    mode: { enum: ['a', 'b'] },
    items: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: { id: { type: 'string' }, n: { type: 'number' } },
      },
    },
  },
};

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

t.test('valid document parses and is deep-frozen', async (t) => {
  const v = parseYamlText<{ name: string; items: { id: string }[] }>(
    'name: x\nitems:\n  - id: a\n',
    'mem.yaml',
    schema,
  );
  t.same(v, { name: 'x', items: [{ id: 'a' }] });
  t.ok(Object.isFrozen(v));
  t.ok(Object.isFrozen(v.items));
  t.ok(Object.isFrozen(v.items[0]));
  t.throws(() => {
    (v as { name: string }).name = 'y';
  });
});

t.test('every schema error is reported with file:line:col', async (t) => {
  const text = [
    'name: 5',
    'port: 70000',
    'mode: c',
    'extra: 1',
    'items:',
    '  - id: a',
    '  - n: 2',
    '    bogus: true',
    '',
  ].join('\n');
  const err = thrown(() => parseYamlText(text, 'cfg.yaml', schema));
  t.ok(isGatewayError(err));
  t.ok(err instanceof ConfigError);
  const e = err as ConfigError;
  t.equal(e.code, 'GW_ERR_CONFIG_INVALID');
  const lines = e.details.map((d) => `${d.line}:${d.col}`);
  t.ok(lines.includes('1:7'), 'name type at line 1 col 7');
  t.ok(lines.includes('2:7'), 'port maximum at line 2');
  t.ok(lines.includes('3:7'), 'enum at line 3');
  t.ok(lines.includes('4:1'), 'unknown key points at the key');
  t.ok(lines.includes('7:5'), 'missing required id points at the item');
  t.ok(lines.includes('8:5'), 'unknown nested key');
  t.ok(e.details.length >= 6);
  for (const d of e.details) t.match(e.message, `cfg.yaml:${d.line}:${d.col}: ${d.message}`);
  t.match(e.message, /^config: /);
  t.match(e.message, /unknown property 'extra'/);
  t.match(e.message, /"a", "b"/);
  t.same(configErrorDetails(err), e.details);
  t.same(configErrorDetails(new Error('x')), []);
});

t.test('caller picks the code and the module prefix', async (t) => {
  const err = thrown(() =>
    parseYamlText('name: x\n', 'p.yaml', schema, { code: 'GW_ERR_POLICY_INVALID', module: 'policy' }),
  ) as ConfigError;
  t.equal(err.code, 'GW_ERR_POLICY_INVALID');
  t.match(err.message, /^policy: /);
  t.match(err.message, /p\.yaml:1:1: \(root\) must have required property 'items'/);
});

t.test('YAML syntax errors and duplicate keys are unreadable, with positions', async (t) => {
  const err = thrown(() => parseYamlText('name: x\nitems: [a, b\n', 'bad.yaml', schema)) as ConfigError;
  t.equal(err.code, 'GW_ERR_CONFIG_UNREADABLE');
  t.ok(err.details.length >= 1);
  t.match(err.message, /bad\.yaml:\d+:\d+: YAML syntax/);
  const dup = thrown(() => parseYamlText('name: x\nname: y\nitems: []\n', 'dup.yaml', schema)) as ConfigError;
  t.equal(dup.code, 'GW_ERR_CONFIG_UNREADABLE');
  t.equal(dup.details[0]?.line, 2);
});

t.test('empty document fails schema at 1:1', async (t) => {
  const err = thrown(() => parseYamlText('', 'empty.yaml', schema)) as ConfigError;
  t.equal(err.code, 'GW_ERR_CONFIG_INVALID');
  t.equal(err.details[0]?.line, 1);
});

t.test('files: read, missing file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'load-yaml-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'ok.yaml');
  writeFileSync(f, 'name: y\nitems: []\n');
  t.same(loadYamlFile(f, schema), { name: 'y', items: [] });
  const err = thrown(() =>
    loadYamlFile(join(dir, 'nope.yaml'), schema, { unreadableCode: 'GW_ERR_POLICY_INVALID' }),
  ) as ConfigError;
  t.equal(err.code, 'GW_ERR_POLICY_INVALID');
  t.match(err.message, /ENOENT/);
});

t.test('positionOf maps paths for semantic errors', async (t) => {
  const doc = parseYamlDocument('name: x\nitems:\n  - id: a\n  - id: b\n    n: 3\n', 'pos.yaml', schema);
  t.same(doc.positionOf(['items', 1, 'n']), { file: 'pos.yaml', line: 5, col: 8 });
  t.same(doc.positionOf(['items', '1', 'id']), { file: 'pos.yaml', line: 4, col: 9 });
  t.same(doc.positionOf(['items', 7, 'id']), { file: 'pos.yaml', line: 3, col: 3 }, 'falls back to deepest ancestor');
  t.same(doc.problemAt(['name'], 'bad'), { file: 'pos.yaml', line: 1, col: 7, message: 'bad' });
  t.equal(doc.source.length > 0, true);
});

t.test('aliases resolve for positions and values', async (t) => {
  const doc = parseYamlDocument('name: &n x\nitems:\n  - &i { id: a }\n  - *i\n', 'alias.yaml', schema);
  t.same(doc.value, { name: 'x', items: [{ id: 'a' }, { id: 'a' }] });
  t.equal(doc.positionOf(['items', 1, 'id']).line, 3);
});

t.test('helpers', async (t) => {
  t.same(pointerToPath(''), []);
  t.same(pointerToPath('/a~1b/0/c~0d'), ['a/b', '0', 'c~d']);
  const o = deepFreeze({ a: [{ b: 1 }] });
  t.ok(Object.isFrozen(o.a[0]));
});

t.test('two schemas with the same $id do not clash', async (t) => {
  const a = { $id: 'same', type: 'object', properties: { x: { type: 'integer' } } };
  const b = { $id: 'same', type: 'object', properties: { x: { type: 'string' } } };
  t.same(parseYamlText('x: 1\n', 'a.yaml', a), { x: 1 });
  t.same(parseYamlText('x: s\n', 'b.yaml', b), { x: 's' });
  t.throws(() => void parseYamlText('x: s\n', 'a.yaml', a), { code: 'GW_ERR_CONFIG_INVALID' });
});
