/**
 * fleet-control.yaml (gateway/fleet/fleet-control-config.ts): the sample loads with its defaults, every schema
 * and semantic error is reported as file:line:col all at once, the result is frozen, and site selection by
 * --site/--group refuses names the config does not have.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { configErrorDetails, formatDetail } from '../../gateway/config/load-yaml.js';
import { isGatewayError } from '../../gateway/errors.js';
import {
  checkpointSignerFor,
  DEFAULT_HEARTBEAT_EVERY_MS,
  loadFleetControlConfig,
  selectSites,
} from '../../gateway/fleet/fleet-control-config.js';
import { fleetIds } from '../../gateway/fleet/fleet-topology.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { controlCommand } from '../../gateway/cli/control-command.js';

const SAMPLE = resolve(import.meta.dirname, '../../fleet-config/fleet-control.yaml');

function withFile(t: { teardown(fn: () => void): void }, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-control-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fleet-control.yaml');
  writeFileSync(file, text);
  return file;
}

function errorsOf(file: string): string[] {
  try {
    loadFleetControlConfig(file);
  } catch (err) {
    if (isGatewayError(err)) return configErrorDetails(err).map(formatDetail);
    throw err;
  }
  return [];
}

const GOOD = `version: 1
hub:
  urls: [tls://127.0.0.1:4222]
identity:
  files: { cert: c.pem, key: c.key, bundle: b.pem }
sites: [site-a, site-b]
`;

t.test('the sample config loads, paths resolve next to it, defaults applied, frozen', async (t) => {
  const c = loadFleetControlConfig(SAMPLE);
  t.same(c.sites, ['site-a', 'site-b']);
  t.same(c.groups['north'], ['site-a']);
  t.equal(c.heartbeatEveryMs, 1000);
  t.equal(c.identity.source, 'files');
  if (c.identity.source === 'files') t.equal(c.identity.cert, resolve(SAMPLE, '..', 'control/svid.pem'));
  t.equal(c.audit.dir, resolve(SAMPLE, '..', 'fleet-audit'));
  t.equal(c.audit.syslog, null);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.sites) && Object.isFrozen(c.groups), 'deep-frozen');
});

t.test('defaults: heartbeat 1 s, workload API identity when no files are given', async (t) => {
  const file = withFile(t, GOOD.replace(/identity:\n.*\n/, 'identity: { socket: unix:///run/spire/agent.sock }\n'));
  const c = loadFleetControlConfig(file);
  t.equal(c.heartbeatEveryMs, DEFAULT_HEARTBEAT_EVERY_MS);
  t.same(c.identity, { source: 'workload-api', socket: 'unix:///run/spire/agent.sock', startupTimeoutMs: 30_000 });
  t.same(c.groups, {});
});

t.test('schema errors: every one at its file:line:col, all at once', async (t) => {
  const file = withFile(
    t,
    `version: 1
hub:
  urls: [http://hub:4222]
identity:
  files: { cert: c.pem, key: c.key, bundle: b.pem }
sites: [site-a, Site_B]
heartbeatEvery: soon
colour: blue
`,
  );
  const errors = errorsOf(file);
  t.equal(errors.length, 4, errors.join('\n'));
  t.ok(
    errors.some((e) => e.startsWith(`${file}:3:10:`) && e.includes('/hub/urls/0')),
    'bad hub URL at line 3',
  );
  t.ok(
    errors.some((e) => e.startsWith(`${file}:6:17:`) && e.includes('/sites/1')),
    'bad site name at line 6',
  );
  t.ok(
    errors.some((e) => e.startsWith(`${file}:7:17:`) && e.includes('/heartbeatEvery')),
    'bad duration at line 7',
  );
  t.ok(
    errors.some((e) => e.startsWith(`${file}:8:1:`) && e.includes("unknown property 'colour'")),
    'unknown key',
  );
});

t.test(
  'semantic errors: groups name configured sites, one identity source, unique sites, positive interval',
  async (t) => {
    const file = withFile(
      t,
      `version: 1
hub: { urls: [tls://127.0.0.1:4222] }
identity:
  source: workload-api
  files: { cert: c.pem, key: c.key, bundle: b.pem }
sites: [site-a, site-a]
groups:
  north: [site-a, site-z]
heartbeatEvery: 0s
`,
    );
    const errors = errorsOf(file);
    t.equal(errors.length, 4, errors.join('\n'));
    t.ok(errors.some((e) => e.startsWith(`${file}:5:`) && e.includes('does not go with source "workload-api"')));
    t.ok(errors.some((e) => e.startsWith(`${file}:6:17:`) && e.includes('"site-a" is listed twice')));
    t.ok(errors.some((e) => e.startsWith(`${file}:8:19:`) && e.includes('"site-z" is not a site')));
    t.ok(errors.some((e) => e.startsWith(`${file}:9:`) && e.includes('heartbeatEvery must be longer than 0')));
  },
);

t.test('audit.checkpointSigner: the fleet convention by default, a template, or any SVID', async (t) => {
  const signer = (yaml: string) =>
    checkpointSignerFor(loadFleetControlConfig(withFile(t, GOOD + yaml)), 'plant.example');
  t.equal(
    signer('')('site-a', 'gw-1'),
    fleetIds.gateway('plant.example', 'site-a', 'gw-1'),
    'default: fleetIds.gateway, the user the leaf maps the gateway to',
  );
  t.equal(
    signer('audit: { checkpointSigner: "spiffe://{trustDomain}/ot/{site}/{gateway}/gw" }')('site-b', 'gw-2'),
    'spiffe://plant.example/ot/site-b/gw-2/gw',
  );
  t.equal(signer('audit: { checkpointSigner: any }')('site-a', 'gw-1'), undefined, 'any: the bundle alone decides');
  const errors = errorsOf(withFile(t, GOOD + 'audit:\n  checkpointSigner: "spiffe://{td}/gw/{gateway}"\n'));
  t.equal(errors.length, 1, errors.join('\n'));
  t.match(errors[0], /:8:\d+: unknown placeholder \{td\}/);
  t.equal(errorsOf(withFile(t, GOOD + 'audit: { checkpointSigner: "gw-1" }\n')).length, 1, 'not a SPIFFE ID');
});

t.test('`verigate control check` prints the located errors and exits 2; a good file exits 0', async (t) => {
  const bad = withFile(t, GOOD.replace('sites: [site-a, site-b]', 'sites: [site-a]\ngroups: { g: [nowhere] }'));
  const io = memoryIo();
  t.equal(await controlCommand(['check', '--config', bad], io), 2);
  t.match(io.stderr.join('\n'), new RegExp(`${bad.replace(/[.]/g, '\\.')}:7:\\d+: group "g": "nowhere" is not a site`));
  const ok = memoryIo();
  t.equal(await controlCommand(['check', '--config', withFile(t, GOOD)], ok), 0);
  t.match(ok.stdout.join('\n'), /ok: .*2 site\(s\)/);
  const missing = memoryIo();
  t.equal(await controlCommand(['check', '--config', '/nonexistent/fleet-control.yaml'], missing), 2);
  t.match(missing.stderr.join('\n'), /cannot read file \(ENOENT\)/);
});

t.test('site selection: --site and --group members, unknown names refused', async (t) => {
  const c = loadFleetControlConfig(SAMPLE);
  t.same(selectSites(c, { groups: ['north'] }), { ok: true, sites: ['site-a'], group: 'north' });
  t.same(selectSites(c, { sites: ['site-b'], groups: ['north'] }), {
    ok: true,
    sites: ['site-b', 'site-a'],
    group: null,
  });
  const r = selectSites(c, { sites: ['site-q'] });
  t.equal(r.ok, false);
  t.match(!r.ok && r.message, /"site-q" is not a site/);
  t.equal(selectSites(c, { groups: ['south'] }).ok, false);
});
