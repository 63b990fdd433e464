/**
 * A TLS terminator run as a child process (stunnel, haproxy): config written into a temp dir, started in the
 * foreground, ready once its port accepts, stopped with SIGTERM (SIGKILL after 3 s).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { waitForPort } from './ports.js';

export type Terminator =
  { ok: true; port: number; pid: number | undefined; stop(): Promise<void> } | { ok: false; why: string };

export async function startTerminator(o: {
  bin: string;
  args: string[];
  port: number;
  logFile: string;
}): Promise<Terminator> {
  const log = openSync(o.logFile, 'a');
  const child = spawn(o.bin, o.args, { stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  // unlike the Node children (which end when their stdin closes), these must be killed if the bench dies
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  void exited.then(() => process.off('exit', killOnExit));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
  try {
    await Promise.race([
      waitForPort(o.port),
      exited.then(() => Promise.reject(new Error(`exited early, see ${o.logFile}`))),
    ]);
  } catch (err) {
    await stop();
    return { ok: false, why: `failed: ${(err as Error).message}` };
  }
  return { ok: true, port: o.port, pid: child.pid, stop };
}
