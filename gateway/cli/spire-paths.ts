/**
 * Where the SPIRE lab finds its parts: the project root (holding spire-config/), the committed config
 * templates and the SPIRE binaries built by `bash spire-config/build-spire.sh` into `.spire/bin`.
 * Works from the TypeScript sources (tsx) and from dist/ because it walks up from this module and the cwd.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { dirname, join, resolve, delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface SpireBinaries {
  readonly server: string;
  readonly agent: string;
}

export const BUILD_HINT =
  'run `bash spire-config/build-spire.sh` (builds spire-server and spire-agent into .spire/bin)';

/** Directories to search upward from: this module's folder, then the working directory. */
function startDirs(): string[] {
  return [dirname(fileURLToPath(import.meta.url)), process.cwd()];
}

function walkUp(from: string, found: (dir: string) => boolean): string | null {
  let dir = resolve(from);
  for (;;) {
    if (found(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** The project root: the nearest ancestor holding spire-config/server.conf. */
export function findProjectRoot(): string | null {
  for (const start of startDirs()) {
    const root = walkUp(start, (d) => existsSync(join(d, 'spire-config', 'server.conf')));
    if (root) return root;
  }
  return null;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pairIn(dir: string): SpireBinaries | null {
  const server = join(dir, 'spire-server');
  const agent = join(dir, 'spire-agent');
  return isExecutable(server) && isExecutable(agent) ? { server, agent } : null;
}

/**
 * Finds spire-server and spire-agent: `binDir` when given (or $SPIRE_BIN_DIR, as in build-spire.sh), and
 * only there; otherwise `<project>/.spire/bin`, then each PATH entry that holds both. Null when none does.
 */
export function findSpireBinaries(binDir?: string, env: NodeJS.ProcessEnv = process.env): SpireBinaries | null {
  const only = binDir ?? env['SPIRE_BIN_DIR'];
  if (only !== undefined && only !== '') return pairIn(resolve(only));
  for (const start of startDirs()) {
    const root = walkUp(start, (d) => existsSync(join(d, '.spire', 'bin')));
    const pair = root ? pairIn(join(root, '.spire', 'bin')) : null;
    if (pair) return pair;
  }
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const pair = pairIn(dir);
    if (pair) return pair;
  }
  return null;
}
