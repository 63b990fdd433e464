/**
 * Parent side of the bench child protocol (see child-main.mjs): spawn `node --import tsx <script>` for a
 * TypeScript child or plain `node <script>` for a JavaScript one (the gateway from dist/), wait for its
 * ready line, send commands, stop it. Children run servers (simulator, TLS pipe, gateway) in their own
 * process so that the load generator's event loop and memory never mix with the thing measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

export interface BenchChild {
  readonly info: Record<string, unknown>;
  /** The child's process id (for its CPU time). */
  readonly pid: number | undefined;
  command(cmd: string): Promise<Record<string, unknown>>;
  /** false once the child has exited, whoever stopped it (a row measured against a dead child must say so). */
  running(): boolean;
  stop(): Promise<void>;
}

export async function spawnBenchChild(
  script: string,
  args: string[],
  logFile: string,
  nodeFlags: string[] = [],
  env: Readonly<Record<string, string>> = {},
): Promise<BenchChild> {
  const log = openSync(logFile, 'a');
  const loader = script.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child: ChildProcess = spawn(process.execPath, [...nodeFlags, ...loader, script, ...args], {
    stdio: ['pipe', 'pipe', log],
    env: { ...process.env, ...env },
  });
  closeSync(log);
  const waiting: ((o: Record<string, unknown>) => void)[] = [];
  let ready: ((o: Record<string, unknown>) => void) | null = null;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const o = JSON.parse(line) as Record<string, unknown>;
    if (ready) {
      ready(o);
      ready = null;
    } else waiting.shift()?.(o);
  });
  let alive = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      alive = false;
      resolve();
    }),
  );
  const first = await Promise.race([
    new Promise<Record<string, unknown>>((resolve) => (ready = resolve)),
    exited.then(() => ({ ready: false, error: 'exited before ready' })),
    new Promise<Record<string, unknown>>((resolve) =>
      setTimeout(() => resolve({ ready: false, error: 'not ready in 60 s' }), 60_000).unref(),
    ),
  ]);
  if (first.ready !== true) {
    child.kill('SIGKILL');
    const tail = readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
    throw new Error(`bench child ${script}: ${String(first.error)}\n${tail}`);
  }
  return {
    info: first,
    pid: child.pid,
    command: (cmd) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin!.write(`${JSON.stringify({ cmd })}\n`);
      }),
    running: () => alive,
    stop: async () => {
      child.stdin!.end(`${JSON.stringify({ cmd: 'stop' })}\n`);
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
