/**
 * One nats-server child process of the fleet lab: started from a config file, logs to a file, signalled by pid
 * (SIGHUP reload, SIGKILL crash), stopped within a bounded time (SIGTERM, then SIGKILL).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/tools.js';

export const NATS_SERVER_BIN = join(REPO_ROOT, '.tools', 'bin', 'nats-server');

export function requireNatsServer(): string {
  if (!existsSync(NATS_SERVER_BIN))
    throw new Error(`${NATS_SERVER_BIN} is missing: run \`bash scripts/build-nats.sh\` from the repository root`);
  return NATS_SERVER_BIN;
}

export class NatsServerProcess {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly configFile: string,
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  start(): void {
    if (this.running) return;
    const fd = openSync(this.logFile, 'a');
    try {
      const child = spawn(requireNatsServer(), ['-c', this.configFile], { stdio: ['ignore', fd, fd] });
      this.child = child;
      this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
      child.once('error', () => undefined);
    } finally {
      closeSync(fd);
    }
  }

  /** SIGHUP: nats-server reloads its config file. */
  reload(): void {
    const pid = this.pid;
    if (pid === undefined) throw new Error(`${this.name} is not running`);
    process.kill(pid, 'SIGHUP');
  }

  async kill9(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (nats-server shuts down cleanly), SIGKILL after `graceMs`. Never waits longer than that + 2 s. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGTERM');
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (timedOut) {
      this.child?.kill('SIGKILL');
      await Promise.race([this.exited, sleep(2000)]);
    }
  }

  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }
}

/** Resident set size of a process in bytes (VmRSS in /proc/<pid>/status), or null if it is gone. */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
