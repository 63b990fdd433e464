/**
 * What every profile mode (profile.ts, profile-handshakes.ts, profile-grpc.ts) sets up the same way: a temp
 * directory with the bench PKI and the simulator child, torn down after; the child's profiler clock; and the
 * .cpuprofile V8 wrote when a child exited.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import { createBenchPki, type BenchPki } from './bench-pki.js';

export interface ProfileLab {
  /** The run's temp directory (child logs and configs); removed after `fn`. */
  readonly dir: string;
  readonly pki: BenchPki;
  /** The simulator child (sim-child.ts), stopped after `fn`. */
  readonly simPort: number;
}

/** Runs `fn` with a fresh directory, PKI and simulator; stops and removes them whatever happens. */
export async function withProfileLab<T>(name: string, fn: (lab: ProfileLab) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `verigate-${name}-run-`));
  try {
    const pki = await createBenchPki(dir);
    const sim = await spawnBenchChild(
      fileURLToPath(new URL('./sim-child.ts', import.meta.url)),
      [],
      join(dir, 'sim.log'),
    );
    try {
      return await fn({ dir, pki, simPort: sim.info.port as number });
    } finally {
      await sim.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** µs on the child's monotonic clock, the one V8's CPU profiler stamps samples with (brackets a window). */
export async function childClock(child: BenchChild): Promise<number> {
  return ((await child.command('clock')) as { us: number }).us;
}

/** The newest .cpuprofile in `dir`; throws with `hint` (where to look) when the child wrote none. */
export function newestCpuProfile(dir: string, hint: string): string {
  const file = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()
    .map((f) => join(dir, f))
    .pop();
  if (!file) throw new Error(`no .cpuprofile in ${dir}: the child did not exit cleanly (see ${hint})`);
  return file;
}
