/**
 * The bench runs the gateway from dist/ (compiled JavaScript), as users run it. Before a run, dist/ must
 * exist and be newer than every source file it is built from; otherwise the bench runs `npm run build`
 * first and says so. A build that fails (type errors in work in progress) still leaves tsc's output; the
 * bench then uses it and says that too, so a result is never silently from stale or broken code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** What `npm run build` compiles or copies (tsconfig.build.json + scripts/copy-assets.mjs). */
const SOURCE_ROOTS = ['gateway', 'protocols', 'simulators'];
const SOURCE_EXT = new Set(['.ts', '.proto', '.yaml', '.yml', '.json']);
/** tsc rewrites every output on each build, so one output's time is the build's time. */
export const DIST_MARKER = join(ROOT, 'dist', 'gateway', 'main.js');

function newestSource(dir: string): { file: string; mtimeMs: number } {
  let best = { file: '', mtimeMs: 0 };
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const b = newestSource(p);
      if (b.mtimeMs > best.mtimeMs) best = b;
    } else if (SOURCE_EXT.has(extname(e.name))) {
      const m = statSync(p).mtimeMs;
      if (m > best.mtimeMs) best = { file: p, mtimeMs: m };
    }
  }
  return best;
}

/** Why dist/ needs a build, or null when it is up to date. */
export function distStaleness(): string | null {
  if (!existsSync(DIST_MARKER)) return 'dist/ is missing';
  const built = statSync(DIST_MARKER).mtimeMs;
  for (const r of SOURCE_ROOTS) {
    const n = newestSource(join(ROOT, r));
    if (n.mtimeMs > built) return `${n.file.slice(ROOT.length)} is newer than dist/`;
  }
  return null;
}

/**
 * Makes dist/ current; returns a note for the results header (empty when nothing was done). With
 * `noBuild` (`--no-build`: someone else's half-edited tree must not be compiled) a stale dist/ is used as it
 * is, and the note says so.
 */
export function ensureDist(log: (m: string) => void, noBuild = false): string {
  const why = distStaleness();
  if (why === null) return '';
  if (noBuild) {
    if (!existsSync(DIST_MARKER)) throw new Error('dist/ is missing: run npm run build (or drop --no-build)');
    log(`${why}; --no-build: running the existing dist/`);
    return `--no-build: dist/ was older than the sources (${why}).`;
  }
  log(`${why}: running npm run build (the gateway runs from dist/)`);
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status === 0) return `dist/ rebuilt before the run (${why}).`;
  // tsc emits despite type errors; copy the assets the failed build skipped so dist/ still runs
  spawnSync(process.execPath, ['scripts/copy-assets.mjs'], { cwd: ROOT });
  const tail = `${r.stdout}${r.stderr}`.trim().split('\n').slice(-5).join('\n');
  log(`npm run build failed; running what tsc emitted anyway:\n${tail}`);
  if (!existsSync(DIST_MARKER)) throw new Error('npm run build failed and dist/ has no gateway');
  return `dist/ rebuilt before the run (${why}); the build reported errors (see stderr), tsc's output was used.`;
}
