/**
 * ghostunnel v1.8.4 (the SPIFFE-native TLS proxy, built by scripts/build-ghostunnel.sh into .tools/bin) in
 * server mode in front of the simulator: client certificate REQUIRED and verified against the dev CA bundle
 * (`--cacert`), and the client's SPIFFE ID authorized (`--allow-uri`, as a plant would configure it); plain
 * TCP to the PLC. Default threading (Go uses every core).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CLIENT_ID, type BenchPki } from './bench-pki.js';
import { ROOT } from './dist-build.js';
import { startTerminator, type Terminator } from './external-terminator.js';
import { findBinary, freePort } from './ports.js';

const BIN = join(ROOT, '.tools', 'bin', 'ghostunnel');
const BUILD = 'bash scripts/build-ghostunnel.sh';

/**
 * The binary, built first if missing (a few minutes the first time, from the Go module proxy; instant
 * after); or why there is none — that becomes the ghostunnel rows. Runs before any measurement.
 */
export function ensureGhostunnel(log: (m: string) => void, build: boolean): { bin: string } | { why: string } {
  if (existsSync(BIN)) return { bin: BIN };
  if (!build) return { why: `missing: ${BUILD}` };
  if (!findBinary('go')) return { why: `missing: install Go, then ${BUILD}` };
  log(`ghostunnel is not built: running ${BUILD} (a few minutes the first time)`);
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'build-ghostunnel.sh')], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status === 0 && existsSync(BIN)) return { bin: BIN };
  const last = `${r.stderr}`.trim().split('\n').pop() ?? '';
  return { why: `missing: ${BUILD} failed (${last.slice(0, 120)})` };
}

export async function startGhostunnel(bin: string, dir: string, pki: BenchPki, simPort: number): Promise<Terminator> {
  const port = await freePort();
  return startTerminator({
    bin,
    args: [
      'server',
      `--listen=127.0.0.1:${port}`,
      `--target=127.0.0.1:${simPort}`,
      `--cert=${pki.server.cert}`,
      `--key=${pki.server.key}`,
      `--cacert=${pki.server.bundle}`,
      `--allow-uri=${CLIENT_ID}`,
      // per-connection log lines would be work stunnel/haproxy (no access log) do not do
      '--quiet=conns',
      '--shutdown-timeout=2s',
    ],
    port,
    logFile: join(dir, 'ghostunnel.log'),
  });
}
