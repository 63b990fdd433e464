/**
 * A pair of linked pseudo-terminals from socat (Debian), standing in for an RS-485 line between the gateway (or a
 * client) and a device: bytes written on one end are read on the other. Started per test, ended with `close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './eventually.js';
import { requireTool } from './tools.js';

export interface PtyPair {
  /** One end (e.g. the device's). */
  readonly a: string;
  /** The other end (e.g. the gateway's). */
  readonly b: string;
  close(): Promise<void>;
}

export async function startPtyPair(): Promise<PtyPair> {
  const socat = requireTool('socat');
  const dir = mkdtempSync(join(tmpdir(), 'vg-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  // raw, no echo: a byte-transparent line; the links name the /dev/pts/N socat allocates.
  const child: ChildProcess = spawn(socat, ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await eventually('socat PTY links', () => existsSync(a) && existsSync(b), { timeoutMs: 5000 });
  } catch (err) {
    child.kill();
    throw err;
  }
  return {
    a,
    b,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
