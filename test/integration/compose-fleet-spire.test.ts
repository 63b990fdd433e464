/**
 * The fleet compose variant's identity plumbing on real SPIRE 1.13 (no Docker engine here), as plain processes:
 * deploy/compose/spire/server.conf, registrar/register.sh with ENTRIES_SCRIPT = deploy/compose/fleet/fleet-entries.sh,
 * the agent from agent.conf.tmpl, then `spire-agent api fetch x509 -write` run as each uid:gid the compose file
 * gives a workload (read from `docker-compose config`, via setpriv). Each gets exactly ONE SVID, with its
 * `fleetIds` identity and, for the nats-servers, the DNS SAN the other servers dial. Needs root (to switch uids)
 * and the SPIRE binaries: a missing piece fails the file, naming how to get it.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findSpireBinaries, BUILD_HINT } from '../../gateway/cli/spire-paths.js';
import { fleetIds } from '../../gateway/fleet/fleet-topology.js';
import { composeConfig, mountsOf } from '../helpers/compose-file.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/free-port.js';
import { REPO_ROOT } from '../helpers/tools.js';

const at = (p: string): string => join(REPO_ROOT, p);
const TD = 'plant.example';

/** Replaces every `from` (which must occur: the deploy file drifted otherwise) by `to`. */
function mapPaths(text: string, file: string, pairs: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`${file} no longer contains ${JSON.stringify(from)}: update this test`);
    out = out.split(from).join(to);
  }
  return out;
}

function preconditions(): { server: string; agent: string } | string {
  if (process.getuid?.() !== 0) return 'needs root to run the fetches as the compose uids and gids (setpriv)';
  if (spawnSync('setpriv', ['--version']).error) return 'setpriv is missing: apt-get install util-linux';
  return findSpireBinaries() ?? `SPIRE binaries missing: ${BUILD_HINT}`;
}

t.test(
  'fleet compose identities on real SPIRE: one SVID per workload, the fleetIds ones',
  { timeout: 90_000 },
  async (t) => {
    const pre = preconditions();
    if (typeof pre === 'string') return void t.fail(pre);
    const compose = composeConfig('docker-compose.fleet.yml');
    if (typeof compose === 'string') return void t.fail(compose);
    const dir = mkdtempSync('/tmp/vgf-');
    chmodSync(dir, 0o755);
    const procs: ChildProcess[] = [];
    t.teardown(async () => {
      for (const p of procs.reverse()) if (p.exitCode === null) p.kill('SIGTERM');
      await Promise.all(procs.filter((p) => p.exitCode === null).map((p) => new Promise((r) => p.once('exit', r))));
      rmSync(dir, { recursive: true, force: true });
    });
    const d = (p: string): string => {
      const full = join(dir, p);
      mkdirSync(full, { recursive: true, mode: 0o777 });
      chmodSync(full, 0o777);
      return full;
    };
    const start = (cmd: string[], log: string): void => {
      const p = spawn(cmd[0]!, cmd.slice(1), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr?.on('data', (c: Buffer) => (out += c.toString()));
      p.once('exit', () => writeFileSync(join(dir, log), out));
      procs.push(p);
    };

    const spirePort = await freePort();
    const serverConf = mapPaths(readFileSync(at('deploy/compose/spire/server.conf'), 'utf8'), 'server.conf', [
      ['/var/lib/spire/server', d('sdata')],
      ['/tmp/spire-server/private', d('ssock')],
      ['bind_address = "0.0.0.0"', 'bind_address = "127.0.0.1"'],
      ['bind_port = "8081"', `bind_port = "${spirePort}"`],
    ]);
    writeFileSync(join(dir, 'server.conf'), serverConf);
    start([pre.server, 'run', '-config', join(dir, 'server.conf')], 'server.log');

    // The registrar as the fleet compose file runs it: ENTRIES_SCRIPT replaces the plain lab's entries.
    const registrar = compose.services['spire-registrar']!;
    const entriesTarget = registrar.environment?.['ENTRIES_SCRIPT'] ?? '';
    const entriesFile = mountsOf(registrar).find((m) => m.target === entriesTarget)?.source ?? '';
    t.ok(existsSync(entriesFile), `ENTRIES_SCRIPT ${entriesTarget} is mounted from the repository`);
    const tmpl = mapPaths(readFileSync(at('deploy/compose/registrar/agent.conf.tmpl'), 'utf8'), 'agent.conf.tmpl', [
      ['/run/spire/agent-conf', d('conf')],
      ['/var/lib/spire/agent', d('adata')],
      ['/run/spire/agent/public', d('asock')],
      ['server_address = "spire-server"', 'server_address = "127.0.0.1"'],
      ['server_port = "8081"', `server_port = "${spirePort}"`],
    ]);
    writeFileSync(join(dir, 'agent.conf.tmpl'), tmpl);
    const reg = spawnSync('sh', [at('deploy/compose/registrar/register.sh')], {
      env: {
        ...process.env,
        TRUST_DOMAIN: registrar.environment?.['TRUST_DOMAIN'] ?? '',
        ENTRIES_SCRIPT: entriesFile,
        SPIRE_SERVER_SOCKET: join(dir, 'ssock', 'api.sock'),
        AGENT_CONF_DIR: join(dir, 'conf'),
        AGENT_CONF_TEMPLATE: join(dir, 'agent.conf.tmpl'),
        SPIRE_SERVER_BIN: pre.server,
      },
      encoding: 'utf8',
      timeout: 75_000,
    });
    t.equal(reg.status, 0, `register.sh with the fleet entries succeeds: ${reg.stderr}`);
    t.notMatch(reg.stdout, /plant\.example\/historian/, "the plain lab's entries are not registered");

    const socket = join(dir, 'asock', 'api.sock');
    start([pre.agent, 'run', '-config', join(dir, 'conf', 'agent.conf')], 'agent.log');
    await eventually(
      'a healthy spire-agent',
      () => spawnSync(pre.agent, ['healthcheck', '-socketPath', socket]).status === 0,
      { timeoutMs: 30_000, intervalMs: 250 },
    );

    // uid:gid of each workload as compose runs it (the gateway: the image's USER 10001:10001).
    const userOf = (name: string): string => compose.services[name]!.user ?? '10001:10001';
    const expected: [string, string, string | null][] = [
      ['svid-hub-1', fleetIds.hubNode(TD, 1), 'hub-1'],
      ['svid-hub-2', fleetIds.hubNode(TD, 2), 'hub-2'],
      ['svid-hub-3', fleetIds.hubNode(TD, 3), 'hub-3'],
      ['svid-leaf-site-a', fleetIds.leaf(TD, 'site-a'), null],
      ['gateway-site-a', fleetIds.gateway(TD, 'site-a', 'gw-1'), null],
      ['control', fleetIds.control(TD), null],
    ];
    for (const [service, id, dns] of expected) {
      const [uid, gid] = userOf(service).split(':');
      const out = d(`svid-${service}`);
      const fetch = (): boolean =>
        spawnSync('setpriv', [
          `--reuid=${uid}`,
          `--regid=${gid}`,
          '--clear-groups',
          pre.agent,
          'api',
          'fetch',
          'x509',
          '-socketPath',
          socket,
          '-write',
          out,
        ]).status === 0;
      await eventually(`an SVID for ${service} (${uid}:${gid})`, fetch, { timeoutMs: 30_000, intervalMs: 250 });
      const cert = new X509Certificate(readFileSync(join(out, 'svid.0.pem')));
      const sans = (cert.subjectAltName ?? '').split(', ');
      t.same(
        sans.filter((s) => s.startsWith('URI:')),
        [`URI:${id}`],
        `${service} gets ${id}`,
      );
      if (dns) t.ok(sans.includes(`DNS:${dns}`), `${service}: DNS SAN ${dns}`);
      t.notOk(existsSync(join(out, 'svid.1.pem')), `${service} gets exactly one SVID`);
      t.ok(existsSync(join(out, 'svid.0.key')) && existsSync(join(out, 'bundle.0.pem')), 'key and bundle written');
    }
  },
);
