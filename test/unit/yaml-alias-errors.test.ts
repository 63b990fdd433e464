/**
 * A YAML alias the document cannot resolve (a typo in `*name`, an alias before its anchor) or an alias bomb is
 * a config error like any other: GW_ERR_…, located as file:line:col, every path reporting it — `policy check`
 * exits 2, a reload keeps the old policy and its error names the line — never a bare ReferenceError.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configErrorDetails, parseYamlDocument } from '../../gateway/config/load-yaml.js';
import { isGatewayError } from '../../gateway/errors.js';
import { PolicyHolder } from '../../gateway/policy/policy-holder.js';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';

const policy = (devices: string): string => `version: 1
trustDomain: td.example
rules:
  - id: hmi
    principals: [spiffe://td.example/hmi]
    devices: ${devices}
    allow: [{ access: read, table: holding, addresses: 0-9 }]
`;

t.test('an unresolved alias or an alias bomb is a located config error', async (t) => {
  const cases: [string, number][] = [
    ['a: 1\nb: *nope\n', 2],
    [
      'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n',
      2,
    ],
  ];
  for (const [text, line] of cases) {
    let err: unknown;
    try {
      parseYamlDocument(text, 'f.yaml', {});
    } catch (e) {
      err = e;
    }
    t.ok(isGatewayError(err), `a GatewayError, not ${String(err)}`);
    t.equal(configErrorDetails(err)[0]?.line, line, 'located at the alias');
    t.match((err as Error).message, new RegExp(`f\\.yaml:${line}:\\d+: `));
  }
});

t.test('policy check fails and a reload keeps the old policy, naming file:line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-alias-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, policy('[plc]'));
  const h = PolicyHolder.load(file, { audit: { append: () => ({ ok: true, seq: 1 }) } });
  const v1 = h.current.version;
  writeFileSync(file, policy('[*plc]'));
  const io = memoryIo();
  t.equal(await policyCommand(['check', file], io), 1, 'policy check: the check fails, no crash');
  t.match(io.stderr.join('\n'), /policy\.yaml:6:\d+: /);
  const r = h.reload('test');
  t.match(r, { ok: false, keptVersion: v1 });
  t.match(r.ok ? '' : r.error, /policy\.yaml:6:\d+: /, 'the reload error names the line');
  t.equal(h.current.version, v1, 'the old policy stays in force');
});
