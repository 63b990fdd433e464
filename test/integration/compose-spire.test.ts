/**
 * The compose lab's identity plumbing, run as plain processes against real SPIRE 1.13 (no Docker engine here):
 * deploy/compose/spire/server.conf, registrar/register.sh + agent.conf.tmpl, verigate/gateway.yaml + policy.yaml
 * and client/client.py, with the container paths mapped into a temp dir. Workloads run as the uids the images
 * use (gateway 10001, historian 10002, hmi/line1 10003, via setpriv), so the registered `unix:uid` selectors are
 * exactly what is exercised. Needs root (to switch uids), the SPIRE binaries and pymodbus in .venv: a missing
 * piece fails the file, naming how to get it.
 */
import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { findSpireBinaries, BUILD_HINT } from '../../gateway/cli/spire-paths.js';
import { startSimulator, type Simulator } from '../../simulators/simulator.js';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/free-port.js';
import { REPO_ROOT, requireTool } from '../helpers/tools.js';

const at = (p: string): string => join(REPO_ROOT, p);
const UIDS = { gateway: 10001, historian: 10002, hmi: 10003 } as const;

/** Replaces every `from` (which must occur: the deploy file drifted otherwise) by `to`. */
function mapPaths(text: string, file: string, pairs: readonly (readonly [string, string])[]): string {
  let out = text;
  for (const [from, to] of pairs) {
    if (!out.includes(from)) throw new Error(`${file} no longer contains ${JSON.stringify(from)}: update this test`);
    out = out.split(from).join(to);
  }
  return out;
}

const asUid = (uid: number): string[] => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'];

/** spawn, collect output, resolve on exit (killed after 30 s). */
function run(
  cmd: string,
  args: string[],
  opts: { env: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

function preconditions(): { server: string; agent: string; python: string } | string {
  if (process.getuid?.() !== 0) return 'needs root to run the workloads as the registered uids 10001-10003 (setpriv)';
  if (spawnSync('setpriv', ['--version']).error) return 'setpriv is missing: apt-get install util-linux';
  const bins = findSpireBinaries();
  if (!bins) return `SPIRE binaries missing: ${BUILD_HINT}`;
  try {
    return { ...bins, python: requireTool('python') };
  } catch (err) {
    return (err as Error).message;
  }
}

t.test(
  'compose identity flow on real SPIRE: registrar, agent, gateway as uid 10001, client as 10002/10003',
  { timeout: 90_000 },
  async (t) => {
    const pre = preconditions();
    if (typeof pre === 'string') return void t.fail(pre);
    const dir = mkdtempSync('/tmp/vgc-');
    chmodSync(dir, 0o755);
    const procs: ChildProcess[] = [];
    const sims: Simulator[] = [];
    t.teardown(async () => {
      for (const p of procs.reverse()) if (p.exitCode === null) p.kill('SIGTERM');
      await Promise.all(procs.filter((p) => p.exitCode === null).map((p) => new Promise((r) => p.once('exit', r))));
      await Promise.all(sims.map((s) => s.close()));
      rmSync(dir, { recursive: true, force: true });
    });
    const d = (p: string): string => {
      const full = join(dir, p);
      mkdirSync(full, { recursive: true });
      return full;
    };
    const start = (cmd: string[], log: string): ChildProcess => {
      const p = spawn(cmd[0]!, cmd.slice(1), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr?.on('data', (c: Buffer) => (out += c.toString()));
      p.once('exit', () => writeFileSync(join(dir, log), out));
      Object.defineProperty(p, 'output', { get: () => out });
      procs.push(p);
      return p;
    };
    const output = (p: ChildProcess): string => (p as ChildProcess & { output: string }).output;

    // SPIRE server from the compose config.
    const spirePort = await freePort();
    const serverConf = mapPaths(readFileSync(at('deploy/compose/spire/server.conf'), 'utf8'), 'server.conf', [
      ['/var/lib/spire/server', d('sdata')],
      ['/tmp/spire-server/private', d('ssock')],
      ['bind_address = "0.0.0.0"', 'bind_address = "127.0.0.1"'],
      ['bind_port = "8081"', `bind_port = "${spirePort}"`],
    ]);
    writeFileSync(join(dir, 'server.conf'), serverConf);
    start([pre.server, 'run', '-config', join(dir, 'server.conf')], 'server.log');

    // The one-shot registrar, twice: the second run must find every entry and still succeed.
    const tmpl = mapPaths(readFileSync(at('deploy/compose/registrar/agent.conf.tmpl'), 'utf8'), 'agent.conf.tmpl', [
      ['/run/spire/agent-conf', d('conf')],
      ['/var/lib/spire/agent', d('adata')],
      ['/run/spire/agent/public', d('asock')],
      ['server_address = "spire-server"', 'server_address = "127.0.0.1"'],
      ['server_port = "8081"', `server_port = "${spirePort}"`],
    ]);
    writeFileSync(join(dir, 'agent.conf.tmpl'), tmpl);
    const registrarEnv = {
      ...process.env,
      TRUST_DOMAIN: 'plant.example',
      SPIRE_SERVER_SOCKET: join(dir, 'ssock', 'api.sock'),
      AGENT_CONF_DIR: join(dir, 'conf'),
      AGENT_CONF_TEMPLATE: join(dir, 'agent.conf.tmpl'),
      SPIRE_SERVER_BIN: pre.server,
    };
    const register = (): ReturnType<typeof spawnSync> =>
      spawnSync('sh', [at('deploy/compose/registrar/register.sh')], {
        env: registrarEnv,
        encoding: 'utf8',
        timeout: 75_000,
      });
    const first = register();
    t.equal(first.status, 0, `register.sh succeeds: ${String(first.stderr)}`);
    t.match(
      String(first.stdout),
      /SPIFFE ID\s+: spiffe:\/\/plant\.example\/verigate[\s\S]*Selector\s+: unix:uid:10001[\s\S]*DNS name\s+: verigate/,
    );
    const again = register();
    t.equal(again.status, 0, 'a second run succeeds');
    t.match(
      String(again.stdout),
      /entry spiffe:\/\/plant\.example\/historian \(unix:uid:10002\) exists/,
      'entries are created once',
    );
    t.match(
      readFileSync(join(dir, 'conf', 'agent.conf'), 'utf8'),
      /join_token = "[0-9a-f-]{36}"/,
      'agent.conf carries a fresh join token',
    );

    // The agent, attested with that token, serving the Workload API.
    const agentSocket = join(dir, 'asock', 'api.sock');
    start([pre.agent, 'run', '-config', join(dir, 'conf', 'agent.conf')], 'agent.log');
    await eventually(
      'a healthy spire-agent',
      () => spawnSync(pre.agent, ['healthcheck', '-socketPath', agentSocket]).status === 0,
      { timeoutMs: 30_000, intervalMs: 250 },
    );

    // The gateway's own SVID as uid 10001: its ID and the DNS SAN for hostname-checking clients.
    const svidDir = d('gw-svid');
    chownSync(svidDir, UIDS.gateway, UIDS.gateway);
    const fetchSvid = (): boolean =>
      spawnSync(asUid(UIDS.gateway)[0]!, [
        ...asUid(UIDS.gateway).slice(1),
        pre.agent,
        'api',
        'fetch',
        'x509',
        '-socketPath',
        agentSocket,
        '-write',
        svidDir,
      ]).status === 0;
    await eventually('an SVID for uid 10001', fetchSvid, { timeoutMs: 30_000, intervalMs: 250 });
    const gwCert = new X509Certificate(readFileSync(join(svidDir, 'svid.0.pem')));
    t.match(gwCert.subjectAltName ?? '', /URI:spiffe:\/\/plant\.example\/verigate/);
    t.match(gwCert.subjectAltName ?? '', /DNS:verigate/);

    // PLCs and the gateway with the compose gateway.yaml and policy.
    const turbine = await startSimulator({ scenario: at('simulators/scenarios/turbine.yaml'), scanDelayMs: 0 });
    sims.push(turbine);
    const tank = await startSimulator({ scenario: at('simulators/scenarios/tank.yaml'), scanDelayMs: 0 });
    sims.push(tank);
    const gwDir = d('gw');
    const gatewayYaml = mapPaths(readFileSync(at('deploy/compose/verigate/gateway.yaml'), 'utf8'), 'gateway.yaml', [
      ['unix:///run/spire/agent/public/api.sock', `unix://${agentSocket}`],
      ['port: 802 }', 'port: 0 }'],
      ['port: 8443 }', 'port: 0 }'],
      ['port: 9802 }', 'port: 0 }'],
      ['plc-turbine:502', `127.0.0.1:${turbine.port}`],
      ['plc-tank:502', `127.0.0.1:${tank.port}`],
      ['/var/lib/verigate', gwDir],
    ]);
    writeFileSync(join(gwDir, 'gateway.yaml'), gatewayYaml);
    copyFileSync(at('deploy/compose/verigate/policy.yaml'), join(gwDir, 'policy.yaml'));
    chownSync(gwDir, UIDS.gateway, UIDS.gateway);
    const gw = start(
      [
        ...asUid(UIDS.gateway),
        process.execPath,
        '--import',
        'tsx',
        at('gateway/cli/verigate.ts'),
        'run',
        '--config',
        join(gwDir, 'gateway.yaml'),
      ],
      'gateway.log',
    );
    let mbapsPort = 0;
    const readyOrExited = (): boolean => {
      const ready = output(gw)
        .split('\n')
        .find((l) => l.includes('"verigate ready"'));
      if (ready) mbapsPort = (JSON.parse(ready) as { mbaps: number }).mbaps;
      return mbapsPort > 0 || gw.exitCode !== null;
    };
    await eventually('verigate ready', readyOrExited, { timeoutMs: 45_000, intervalMs: 250 });
    if (mbapsPort === 0) throw new Error(`verigate exited ${gw.exitCode}: ${output(gw)}`);
    t.match(output(gw), /"id":"spiffe:\/\/plant\.example\/verigate"/, 'the gateway runs as its registered identity');

    // The sample client as the historian (read-only) and as hmi/line1 (may write the setpoint).
    // Async: the simulators run in this process and must keep answering while the client runs.
    const runClient = async (uid: number): Promise<Record<string, unknown>> => {
      const r = await run(asUid(uid)[0]!, [...asUid(uid).slice(1), pre.python, at('deploy/compose/client/client.py')], {
        env: {
          PATH: `${dirname(pre.agent)}:/usr/bin:/bin`,
          GATEWAY_HOST: '127.0.0.1',
          GATEWAY_PORT: String(mbapsPort),
          SPIFFE_ENDPOINT_SOCKET: `unix://${agentSocket}`,
          ROUNDS: '1',
          INTERVAL: '0',
        },
      });
      t.equal(r.status, 0, `client as uid ${uid} exits 0: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    };
    const historian = await runClient(UIDS.historian);
    t.match(
      historian,
      { connected: true, gateway: 'spiffe://plant.example/verigate', setpointWrite: { exception: 1 } },
      'historian reads, its write is refused with 0x01',
    );
    t.equal((historian['turbine'] as number[] | undefined)?.length, 3, 'historian read three turbine input registers');
    t.equal((historian['tankLevel'] as number[] | undefined)?.length, 1, 'historian read the tank level');
    const hmi = await runClient(UIDS.hmi);
    t.match(hmi, { connected: true, setpointWrite: 'ok' }, 'hmi/line1 may write the setpoint');
    t.equal(turbine.store(255).get('holding', 100), 1500, 'the allowed write reached the PLC');
  },
);
