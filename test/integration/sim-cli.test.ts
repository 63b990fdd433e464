// The simulator CLI as a user runs it: a child process, the JSON "listening" line, signals, exit codes.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { eventually } from '../helpers/eventually.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'simulators/cli.ts');
const TURBINE = join(ROOT, 'simulators/scenarios/turbine.yaml');

function runCli(args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: 'pipe' });
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000);
  child.once('exit', () => clearTimeout(killer));
  return child;
}

async function firstLine(child: ChildProcessWithoutNullStreams): Promise<string> {
  const rl = createInterface({ input: child.stdout });
  const [line] = (await once(rl, 'line')) as [string];
  rl.close();
  return line;
}

async function exitOf(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

/** The control channel's JSON, typed by the caller as the fields it reads (simulators/control-server.ts). */
const get = async <T = unknown>(port: number, path: string): Promise<T> =>
  (await fetch(`http://127.0.0.1:${port}${path}`)).json() as Promise<T>;
type FaultState = { fault: { mode: string } };

t.test('prints the listening line, obeys SIGUSR1/SIGUSR2, exits 0 on SIGTERM', async (t) => {
  const child = runCli(['--scenario', TURBINE, '--port', '0', '--scan-delay', '0', '--max-connections', '2']);
  const exit = exitOf(child);
  const ready = JSON.parse(await firstLine(child)) as { event: string; port: number; controlPort: number };
  t.equal(ready.event, 'listening');
  t.ok(ready.port > 0 && ready.controlPort > 0, 'ephemeral ports reported');
  const state = await get(ready.controlPort, '/state');
  t.match(state, { scenario: 'turbine-1', port: ready.port, fault: { mode: 'none' }, units: [1, 255] });

  child.kill('SIGUSR1');
  await eventually(
    'silent fault',
    async () => (await get<FaultState>(ready.controlPort, '/state')).fault.mode === 'silent',
    {
      intervalMs: 25,
    },
  );
  t.pass('SIGUSR1 switched the silent fault on');
  child.kill('SIGUSR1');
  await eventually(
    'fault off',
    async () => (await get<FaultState>(ready.controlPort, '/state')).fault.mode === 'none',
    {
      intervalMs: 25,
    },
  );
  t.pass('SIGUSR1 again switched it off');
  child.kill('SIGUSR2');
  await eventually(
    'restart',
    async () => (await get<{ restarts: number }>(ready.controlPort, '/counters')).restarts === 1,
    {
      intervalMs: 25,
    },
  );
  t.pass('SIGUSR2 power-cycled the PLC');

  child.kill('SIGTERM');
  const { code } = await exit;
  t.equal(code, 0, 'clean exit');
});

t.test('SIGINT also exits cleanly', async (t) => {
  const child = runCli(['--scenario', TURBINE, '--port', '0', '--tick', '0']);
  const exit = exitOf(child);
  await firstLine(child);
  child.kill('SIGINT');
  t.equal((await exit).code, 0);
});

t.test('bad usage and invalid scenarios exit 2 with a located message', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'name: x\nunits:\n  - id: 1\n    tables: { coils: 1, discrete: 1, holding: 1 }\n');

  // Three independent child processes at once: each pays the tsx start-up only in parallel.
  const [r1, r2, r3] = await Promise.all([
    exitOf(runCli(['--scenario', bad, '--port', '0'])),
    exitOf(runCli(['--port', '0'])),
    exitOf(runCli(['--scenario', TURBINE, '--port', 'abc'])),
  ]);
  t.equal(r1.code, 2);
  t.match(r1.stderr, `${bad}:4:13: /units/0/tables must have required property 'input'`);
  t.equal(r2.code, 2);
  t.match(r2.stderr, /--scenario is required/);
  t.equal(r3.code, 2);
  t.match(r3.stderr, /--port must be a non-negative integer/);
});
