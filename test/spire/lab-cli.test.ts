/**
 * The human entry point: `spire-config/lab.sh up DIR` brings up real SPIRE and writes DIR/lab.env;
 * `lab.sh down DIR` stops it with no process left behind. Usage errors exit 2.
 */
import t from 'tap';
import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { spireLabCommand } from '../../gateway/cli/spire-lab-main.js';
import { findProjectRoot } from '../../gateway/cli/spire-paths.js';
import { runCommand } from '../../gateway/cli/spire-process.js';
import { findSpireBinaries, BUILD_HINT } from '../../gateway/cli/spire-lab.js';
import { pidsMentioning } from '../helpers/spire.js';
import { eventually } from '../helpers/eventually.js';

const bins = findSpireBinaries();
if (!bins) throw new Error(`SPIRE binaries missing: ${BUILD_HINT}`);
const root = findProjectRoot() ?? process.cwd();
const labSh = join(root, 'spire-config', 'lab.sh');

function run(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile('bash', [labSh, ...args], { timeout: 30_000 }, (err, so, se) =>
      res({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, out: so + se }),
    );
  });
}

t.test('usage errors exit 2; down without a lab exits 1', async (t) => {
  const io = memoryIo();
  t.equal(await spireLabCommand([], io), 2);
  t.equal(await spireLabCommand(['sideways', '/tmp/x'], io), 2);
  t.equal(await spireLabCommand(['up', '/tmp/x', '--bogus'], io), 2);
  t.match(io.stderr.join('\n'), /usage: spire-lab up DIR/);
  const empty = await mkdtemp(join(tmpdir(), 'vg-lab-'));
  t.teardown(() => rm(empty, { recursive: true, force: true }));
  const io2 = memoryIo();
  t.equal(await spireLabCommand(['down', empty], io2), 1);
  t.match(io2.stderr.join('\n'), /no lab\.pid/);
});

t.test('lab.sh up DIR serves a Workload API; lab.sh down DIR stops everything', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vg-lab-'));
  const child = spawn('bash', [labSh, 'up', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', () => undefined);
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await run(['down', dir]);
      child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  });

  await eventually('lab.env', () => existsSync(join(dir, 'lab.env')) && existsSync(join(dir, 'lab.pid')), {
    timeoutMs: 45_000,
    intervalMs: 100,
  });
  const env = Object.fromEntries(
    (await readFile(join(dir, 'lab.env'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  t.equal(env['SPIFFE_ENDPOINT_SOCKET'], `unix://${join(dir, 'agent', 'public', 'api.sock')}`);
  t.equal(env['SPIRE_TRUST_DOMAIN'], 'plant.example');
  const socket = String(env['SPIFFE_ENDPOINT_SOCKET']).slice('unix://'.length);
  t.equal((await runCommand(bins.agent, ['healthcheck', '-socketPath', socket])).code, 0, 'agent healthy');
  t.equal(
    (await runCommand(bins.server, ['healthcheck', '-socketPath', String(env['SPIRE_SERVER_SOCKET'])])).code,
    0,
    'server healthy',
  );
  t.match(out, /SPIFFE_ENDPOINT_SOCKET=unix:\/\//, 'up prints the environment');

  const down = await run(['down', dir]);
  t.equal(down.code, 0, `down exits 0: ${down.out.trim()}`);
  t.equal(await exited, 0, 'up exits 0 after stopping');
  t.match(out, /SPIRE lab stopped/);
  t.same(await pidsMentioning(dir), [], 'no SPIRE process left');
  t.notOk(existsSync(join(dir, 'lab.pid')), 'lab.pid removed');
});
