import t from 'tap';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { loadPolicyFile, compilePolicyText, isAdmin } from '../../gateway/policy/index.js';
import { ConfigError } from '../../gateway/config/load-yaml.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/policy/${name}`, import.meta.url));

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

t.test('schema errors: all of them, each with file:line:col', async (t) => {
  const err = thrown(() => loadPolicyFile(fixture('bad-schema.yaml')));
  t.equal(err.code, 'GW_ERR_POLICY_INVALID');
  const at = err.details.map((d) => `${d.line}:${d.message}`);
  t.ok(
    at.some((s) => s.startsWith('1:') && /version/.test(s)),
    'version at line 1',
  );
  t.ok(
    at.some((s) => s.startsWith('7:') && /effect/.test(s)),
    'effect enum at line 7',
  );
  t.ok(
    at.some((s) => s.startsWith('9:') && /colour/.test(s)),
    'unknown key at line 9',
  );
  t.ok(
    at.some((s) => s.startsWith('10:') && /required property 'id'/.test(s)),
    'missing id at line 10',
  );
  t.ok(
    at.some((s) => s.startsWith('12:') && /allow/.test(s)),
    'empty allow at line 12',
  );
  for (const d of err.details) t.match(err.message, `${d.file}:${d.line}:${d.col}: ${d.message}`);
  t.match(err.message, /^policy: /);
});

t.test('semantic errors: every one reported with its own line', async (t) => {
  const err = thrown(() => loadPolicyFile(fixture('bad-semantics.yaml')));
  t.equal(err.code, 'GW_ERR_POLICY_INVALID');
  const expected = new Map<number, RegExp>([
    [8, /unknown role "ghost"/],
    [11, /reversed/],
    [13, /outside trustDomain/],
    [16, /input is read-only/],
    [17, /bad duration "0m"/],
    [18, /duplicate rule id "r1"/],
    [19, /wildcard must be a whole path segment/],
    [21, /FC3 is governed by register entries/],
    [22, /unknown time zone "Mars\/Olympus"/],
    [27, /outside 0\.\.65535/],
    [29, /unknown rule id "nope"/],
  ]);
  for (const [line, re] of expected) {
    t.ok(
      err.details.some((d) => d.line === line && re.test(d.message)),
      `line ${line}: ${re}`,
    );
  }
  t.equal(err.details.length, expected.size, 'nothing else reported');
  const source = readFileSync(fixture('bad-semantics.yaml'), 'utf8').split('\n');
  for (const d of err.details) t.match(source[d.line - 1] ?? '', /ERR/, `line ${d.line} is a marked line`);
});

const head = 'version: 1\ntrustDomain: plant.example\n';

t.test('more semantic checks', async (t) => {
  const cases: [string, RegExp][] = [
    ['rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d] }\n', /grants nothing/],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], allow: [{ access: read, table: holding, addresses: 0, values: 1 }] }\n',
      /"values" only applies to write/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], allow: [{ access: read, addresses: 0 }] }\n',
      /missing "table"/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], allow: [{ access: read, table: coils, tables: [coils], addresses: 0 }] }\n',
      /not both/,
    ],
    [
      'rules:\n  - { id: a, effect: deny, principals: [spiffe://plant.example/a], devices: [d], allow: [{ access: read, table: coils, addresses: 0 }] }\n',
      /a deny rule lists/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], deny: [{ access: read, table: coils, addresses: 0 }] }\n',
      /allow rule lists grants/,
    ],
    [
      'rules:\n  - { id: a, effect: deny, principals: [spiffe://plant.example/a], devices: [d], rate: 5/s }\n',
      /rate only applies/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], functions: [{ fc: 65, sub: [1] }] }\n',
      /"sub" only applies/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], functions: [8], schedule: { hours: "25:00-26:00" } }\n',
      /bad hours/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], functions: [8], schedule: { days: funday } }\n',
      /bad days/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], functions: [8], units: "9-3" }\n',
      /reversed/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], functions: [8], units: 300 }\n',
      /outside 0\.\.255/,
    ],
    [
      'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], allow: [{ access: write, table: holding, addresses: 0, values: "1..x" }] }\n',
      /bad range/,
    ],
    ['admins: { locks: [spiffe://plant.example/ops/x*] }\nrules: []\n', /whole path segment/],
    ['session: { idleTimeout: 0s }\nrules: []\n', /bad duration/],
    [
      'rules: []\ntests:\n  - { id: spiffe://plant.example/a, device: d, fc: 3, address: 0, expect: deny, at: yesterday }\n',
      /bad time/,
    ],
    [
      'rules: []\ntests:\n  - { id: spiffe://plant.example/a, device: d, fc: 6, address: 0, value: 1, values: [1], expect: deny }\n',
      /either "value" or "values"/,
    ],
  ];
  for (const [body, re] of cases) {
    const err = thrown(() => compilePolicyText(head + body, 'p.yaml'));
    t.equal(err.code, 'GW_ERR_POLICY_INVALID');
    t.match(err.message, re, re.source);
    t.ok((err.details[0]?.line ?? 0) >= 3, 'located inside the body');
  }
});

t.test('a good policy compiles to a frozen structure with its settings', async (t) => {
  const text =
    head +
    'admins: { sessions: [spiffe://plant.example/ops/**], reload: [spiffe://plant.example/ops/lead] }\n' +
    'trust: { threshold: 0.85, onBreach: terminate, weights: { novelty: 2 } }\n' +
    'session: { maxPerIdentity: 3, idleTimeout: 10m, revalidate: 30s }\n' +
    'rules:\n  - { id: a, principals: [spiffe://plant.example/a], devices: [d], allow: [{ access: read, table: coils, addresses: 0-9 }], rate: 30/m }\n';
  const p = compilePolicyText(text, 'good.yaml');
  t.match(p.version, /^[0-9a-f]{64}$/);
  t.not(compilePolicyText(text + '# comment\n', 'good.yaml').version, p.version, 'version follows the text');
  t.ok(Object.isFrozen(p));
  t.ok(Object.isFrozen(p.rules));
  t.ok(Object.isFrozen(p.rules[0]));
  t.ok(Object.isFrozen(p.source));
  t.same(p.trust, { threshold: 0.85, onBreach: 'terminate', weights: { novelty: 2 } });
  t.same(p.session, { maxPerIdentity: 3, idleTimeoutMs: 600_000, revalidateMs: 30_000 });
  t.equal(p.rules[0]?.rate?.perSecond, 0.5);
  t.equal(p.mode, 'enforce');
  t.ok(isAdmin(p, 'spiffe://plant.example/ops/a/b', 'sessions'));
  t.notOk(isAdmin(p, 'spiffe://plant.example/ops/a', 'reload'));
  t.ok(isAdmin(p, 'spiffe://plant.example/ops/lead', 'reload'));
  t.notOk(isAdmin(p, 'spiffe://plant.example/ops/lead', 'locks'));
  const one = compilePolicyText(head + 'admins: [spiffe://plant.example/ops/**]\nrules: []\n', 'p.yaml');
  t.ok(isAdmin(one, 'spiffe://plant.example/ops/x', 'locks'));
  t.notOk(isAdmin(one, 'spiffe://plant.example/eng/x', 'locks'));
  t.equal(one.trust, null);
  t.same(one.session, { maxPerIdentity: null, idleTimeoutMs: null, revalidateMs: null });
});

t.test('unreadable file is GW_ERR_POLICY_INVALID', async (t) => {
  const err = thrown(() => loadPolicyFile(fixture('does-not-exist.yaml')));
  t.equal(err.code, 'GW_ERR_POLICY_INVALID');
  t.match(err.message, /ENOENT/);
  const syntax = thrown(() => compilePolicyText('version: 1\nrules: [\n', 'broken.yaml'));
  t.equal(syntax.code, 'GW_ERR_POLICY_INVALID');
  t.match(syntax.message, /broken\.yaml:\d+:\d+: YAML syntax/);
});
