/**
 * Child-process plumbing for the SPIRE lab: long-running daemons (spire-server/agent `run`) with their
 * output in a log file and a bounded stop (SIGTERM, then SIGKILL), and short CLI calls with a timeout.
 * Daemons are also SIGKILLed if this Node process exits without stopping them, so none is orphaned.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { GatewayError } from '../errors.js';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

/**
 * Daemons must not outlive us. 'exit' covers normal ends and uncaught errors ('exit' handlers must be
 * synchronous: child.kill() is). SIGTERM/SIGINT (e.g. a test runner's timeout) skip 'exit', so when no one
 * else handles them we kill the daemons and re-raise the signal with its default action.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(sig) > 1) return; // someone else (e.g. `lab up`) stops the lab gracefully
      killAll();
      process.off(sig, onSignal);
      process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited (for any reason). */
  readonly exited: Promise<void>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `bin args…` with stdout+stderr appended to `logFile`. */
export function startDaemon(name: string, bin: string, args: readonly string[], logFile: string): Daemon {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(bin, args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  if (child.pid === undefined) {
    throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: could not start ${name} (${bin})`);
  }
  installExitHook();
  live.add(child);
  const pid = child.pid;
  const exited = new Promise<void>((res) => {
    child.once('exit', () => {
      live.delete(child);
      res();
    });
    child.once('error', () => {
      live.delete(child);
      res();
    });
  });
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null && live.has(child);
  let stopping: Promise<void> | null = null;
  const stop = (graceMs = 5000): Promise<void> => {
    stopping ??= (async () => {
      if (!isRunning()) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((res) => {
        timer = setTimeout(() => {
          if (isRunning()) child.kill('SIGKILL');
          res();
        }, graceMs);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      await exited;
    })();
    return stopping;
  };
  return { name, pid, logFile, exited, isRunning, stop };
}

/** The last `lines` lines of a log file, for error messages ("" if unreadable). */
export function logTail(logFile: string, lines = 15): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a short SPIRE CLI command; never throws for a non-zero exit (the caller decides). */
export function runCommand(bin: string, args: readonly string[], timeoutMs = 15_000): Promise<CommandResult> {
  return new Promise((res) => {
    execFile(bin, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      res({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

/** Runs a command and throws GW_ERR_SPIRE_LAB with its output when it fails. */
export async function runChecked(
  bin: string,
  args: readonly string[],
  what: string,
  timeoutMs?: number,
): Promise<string> {
  const r = await runCommand(bin, args, timeoutMs);
  if (r.code !== 0) {
    throw new GatewayError(
      'GW_ERR_SPIRE_LAB',
      `spire-lab: ${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`,
    );
  }
  return r.stdout;
}

/**
 * Polls `check` every `intervalMs` until it returns true; throws with `describe()` after `timeoutMs`,
 * or at once when `abortIf()` returns a reason (e.g. the daemon died).
 */
export async function pollUntil(
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; intervalMs?: number; what: string; abortIf?: () => string | null },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const reason = opts.abortIf?.();
    if (reason) throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: ${opts.what}: ${reason}`);
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new GatewayError('GW_ERR_SPIRE_LAB', `spire-lab: ${opts.what}: not ready after ${opts.timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}
