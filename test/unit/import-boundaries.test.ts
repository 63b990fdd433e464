/**
 * The import rules of docs/architecture.md ("What may import what"), checked on the real source: every
 * static, type-only and dynamic import of every .ts file under protocols/, gateway/ and simulators/ is read
 * with TypeScript's own pre-processor (no regex over comments), resolved, and matched against the rules.
 * A rule names who it binds, what it forbids, and why; a violation names the file and the import.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../..');
const SOURCE_DIRS = ['protocols', 'gateway', 'simulators'];

/** One import: `from` a repo-relative .ts file, `to` a repo-relative path or a bare module name. */
interface Edge {
  readonly from: string;
  readonly to: string;
}

interface Rule {
  readonly name: string;
  /** Files the rule binds (repo-relative path). */
  readonly binds: (file: string) => boolean;
  /** True when the import is forbidden for a bound file. */
  readonly forbids: (to: string, from: string) => boolean;
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const isBuiltin = (to: string): boolean => NODE_BUILTINS.has(to);
const under =
  (...dirs: string[]) =>
  (p: string): boolean =>
    dirs.some((d) => p === d || p.startsWith(`${d}/`));
/** The construction layer: only it builds concrete objects from configuration. */
const constructionLayer = under('gateway/cli', 'gateway/composition', 'gateway/main.ts');
/** Modules with I/O; the pure policy core must not reach them. */
const IO_BUILTINS = [
  'fs',
  'fs/promises',
  'net',
  'tls',
  'dgram',
  'http',
  'http2',
  'https',
  'child_process',
  'timers',
  'worker_threads',
];
const isIoBuiltin = (to: string): boolean => IO_BUILTINS.includes(to.replace(/^node:/, ''));

const RULES: readonly Rule[] = [
  {
    name: 'protocols/ are pure codecs: they import only protocols/ and Node built-ins',
    binds: under('protocols'),
    forbids: (to) => !isBuiltin(to) && !under('protocols')(to),
  },
  {
    name: 'simulators/ stand in for devices: never gateway/ (they may use protocols/ and packages)',
    binds: under('simulators'),
    forbids: under('gateway'),
  },
  {
    name: 'source never imports test/ or bench/',
    binds: under('protocols', 'gateway', 'simulators'),
    forbids: under('test', 'bench'),
  },
  {
    name: 'only the construction layer (cli/, composition/, main.ts) imports the construction layer',
    binds: (f) => under('gateway')(f) && !constructionLayer(f),
    forbids: constructionLayer,
  },
  {
    name: 'only the CLI (the lab) starts simulators',
    binds: (f) => under('gateway')(f) && !under('gateway/cli')(f),
    forbids: under('simulators'),
  },
  {
    name: 'policy/ decides and knows no sessions, sockets or stores: no frontdoor/, upstream/, trust/, observability/; from audit/ only the AuditSink contract',
    binds: under('gateway/policy'),
    forbids: (to) =>
      under('gateway/frontdoor', 'gateway/upstream', 'gateway/trust', 'gateway/observability')(to) ||
      (under('gateway/audit')(to) && to !== 'gateway/audit/audit-events.ts'),
  },
  {
    name: 'the policy core (everything but the loader and the holder) does no I/O',
    binds: (f) =>
      under('gateway/policy')(f) && !['gateway/policy/policy-holder.ts', 'gateway/policy/load-policy.ts'].includes(f),
    forbids: isIoBuiltin,
  },
  {
    name: 'identity/ knows no policy, front door, upstream, trust or audit',
    binds: under('gateway/identity'),
    forbids: under(
      'gateway/policy',
      'gateway/frontdoor',
      'gateway/upstream',
      'gateway/trust',
      'gateway/audit',
      'gateway/observability',
    ),
  },
  {
    name: 'upstream/ talks to devices only: no frontdoor/, policy/, trust/, audit/, identity/',
    binds: under('gateway/upstream'),
    forbids: under('gateway/frontdoor', 'gateway/policy', 'gateway/trust', 'gateway/audit', 'gateway/identity'),
  },
  {
    name: 'audit/ records events: no frontdoor/, upstream/, policy/, trust/, identity/',
    binds: under('gateway/audit'),
    forbids: under('gateway/frontdoor', 'gateway/upstream', 'gateway/policy', 'gateway/trust', 'gateway/identity'),
  },
  {
    name: 'trust/ is reached through the RuntimeGate: no frontdoor/ or upstream/',
    binds: under('gateway/trust'),
    forbids: under('gateway/frontdoor', 'gateway/upstream'),
  },
  {
    name: 'config/ and observability/ are leaves: no frontdoor/, upstream/, policy/, trust/, identity/, audit/',
    binds: under('gateway/config', 'gateway/observability'),
    forbids: under(
      'gateway/frontdoor',
      'gateway/upstream',
      'gateway/policy',
      'gateway/trust',
      'gateway/identity',
      'gateway/audit',
    ),
  },
];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Every import of one file, resolved: relative specifiers to repo paths (.js → .ts), others as written. */
function importsOf(file: string, text: string): Edge[] {
  const { importedFiles } = ts.preProcessFile(text, true, true);
  return importedFiles.map(({ fileName }) => {
    if (!fileName.startsWith('.')) return { from: file, to: fileName };
    const target = relative(ROOT, resolve(ROOT, dirname(file), fileName)).replace(/\.js$/, '.ts');
    return { from: file, to: target };
  });
}

function violations(edges: readonly Edge[], rules: readonly Rule[]): string[] {
  return edges.flatMap((e) =>
    rules.filter((r) => r.binds(e.from) && r.forbids(e.to, e.from)).map((r) => `${e.from} imports ${e.to}: ${r.name}`),
  );
}

const files = SOURCE_DIRS.flatMap(sourceFiles);
const edges = files.flatMap((f) => importsOf(f, readFileSync(join(ROOT, f), 'utf8')));

t.test('the scan sees the real import graph', async (t) => {
  t.ok(files.length > 200, `${files.length} source files`);
  t.ok(edges.length > files.length, `${edges.length} imports`);
  t.ok(
    edges.some((e) => e.from === 'simulators/request-handler.ts' && e.to === 'protocols/modbus/index.ts'),
    'a relative import resolves to its .ts file',
  );
  t.ok(
    edges.some((e) => e.to === 'node:net'),
    'built-ins are seen',
  );
});

t.test('the rules catch what they forbid (the check can fail)', async (t) => {
  const multiLine =
    "import {\n  loadYamlDocument,\n} from '../gateway/config/load-yaml.js';\nconst m = await import('../gateway/main.js');\n";
  const planted: Edge[] = [
    ...importsOf('simulators/x.ts', multiLine),
    { from: 'protocols/modbus/x.ts', to: 'yaml' },
    { from: 'protocols/modbus/x.ts', to: 'gateway/errors.ts' },
    { from: 'gateway/policy/evaluate.ts', to: 'gateway/frontdoor/session.ts' },
    { from: 'gateway/policy/evaluate.ts', to: 'node:fs' },
    { from: 'gateway/policy/policy-holder.ts', to: 'gateway/audit/audit-log.ts' },
    { from: 'gateway/identity/x.ts', to: 'gateway/frontdoor/session.ts' },
    { from: 'gateway/upstream/x.ts', to: 'gateway/audit/audit-events.ts' },
    { from: 'gateway/frontdoor/x.ts', to: 'gateway/main.ts' },
    { from: 'gateway/frontdoor/x.ts', to: 'test/helpers/clock.ts' },
  ];
  const found = violations(planted, RULES);
  t.equal(found.length, 11, 'each planted import breaks one rule');
  t.match(found[0], /^simulators\/x\.ts imports gateway\/config\/load-yaml\.ts: simulators/);
  t.match(found[1], /^simulators\/x\.ts imports gateway\/main\.ts/, 'dynamic import seen');
  t.same(
    violations(
      [
        { from: 'gateway/policy/policy-holder.ts', to: 'gateway/audit/audit-events.ts' },
        { from: 'gateway/policy/policy-holder.ts', to: 'node:fs' },
        { from: 'gateway/cli/lab.ts', to: 'simulators/simulator.ts' },
        { from: 'simulators/x.ts', to: 'protocols/modbus/index.ts' },
        { from: 'protocols/modbus/x.ts', to: 'node:buffer' },
      ],
      RULES,
    ),
    [],
    'allowed imports pass',
  );
});

t.test('the source obeys every rule', async (t) => {
  t.same(violations(edges, RULES), []);
});
