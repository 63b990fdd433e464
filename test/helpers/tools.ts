/**
 * Locates the third-party tools the interop tests drive. A missing tool is a test FAILURE (thrown with the
 * fix in the message), never a skip: interop is required in CI [CONTRIBUTING.md "Tests"].
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const INSTALL_HINT = 'run `bash scripts/install-test-tools.sh` from the repository root';

export type ToolName = 'python' | 'mbpoll' | 'go-mbaps-client' | 'grpcurl' | 'scapy' | 'tshark' | 'socat';

/** The venv python with pymodbus ≥ 3.7, or mbpoll from PATH. Throws (the test fails) when missing. */
export function requireTool(name: ToolName): string {
  const found = findTool(name);
  if (found.path) return found.path;
  const hint =
    name === 'tshark' || name === 'socat'
      ? `run \`bash scripts/install-system-packages.sh\` as root (Debian package ${name})`
      : name === 'grpcurl' || name === 'go-mbaps-client'
        ? 'run `bash scripts/build-go-client.sh` from the repository root (Go from the module proxy)'
        : INSTALL_HINT;
  throw new Error(`interop tool '${name}' is missing: ${found.why}; ${hint}`);
}

export function findTool(name: ToolName): { path?: string; why: string } {
  if (name === 'go-mbaps-client') {
    const p = join(REPO_ROOT, '.tools', 'bin', 'go-mbaps-client');
    return existsSync(p)
      ? { path: p, why: '' }
      : { why: `${p} does not exist (run \`bash scripts/build-go-client.sh\`)` };
  }
  if (name === 'grpcurl') {
    // The stock gRPC client, built from the Go module proxy at a pinned version (not from PATH: the version matters).
    const p = join(REPO_ROOT, '.tools', 'bin', 'grpcurl');
    return existsSync(p)
      ? { path: p, why: '' }
      : {
          why: `${p} does not exist (run \`bash scripts/build-grpcurl.sh\`, or scripts/build-go-client.sh which calls it)`,
        };
  }
  if (name === 'scapy') return findScapyPython();
  if (name === 'tshark' || name === 'socat') return findOnPath(name);
  return name === 'python' ? findPymodbusPython() : findOnPath('mbpoll');
}

/** The venv python that imports Scapy's DCE/RPC v4 and PNIO-RPC layers (PROFINET interop). */
function findScapyPython(): { path?: string; why: string } {
  const py = join(REPO_ROOT, '.venv', 'bin', 'python');
  if (!existsSync(py)) return { why: `${py} does not exist` };
  try {
    execFileSync(py, ['-c', 'import scapy.layers.dcerpc, scapy.contrib.pnio_rpc'], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: 'pipe',
    });
    return { path: py, why: '' };
  } catch (err) {
    return {
      why: `scapy (scapy.contrib.pnio_rpc) not importable from ${py} (${(err as Error).message.split('\n')[0] ?? ''})`,
    };
  }
}

function findPymodbusPython(): { path?: string; why: string } {
  const py = join(REPO_ROOT, '.venv', 'bin', 'python');
  if (!existsSync(py)) return { why: `${py} does not exist` };
  try {
    const v = execFileSync(py, ['-c', 'from importlib.metadata import version; print(version("pymodbus"))'], {
      encoding: 'utf8',
      timeout: 15_000,
    }).trim();
    const [major = 0, minor = 0] = v.split('.').map(Number);
    if (major !== 3 || minor < 7) return { why: `pymodbus ${v} in .venv, need 3.x ≥ 3.7 (MBAP framing on TLS)` };
    return { path: py, why: '' };
  } catch (err) {
    return { why: `pymodbus not importable from ${py} (${(err as Error).message.split('\n')[0] ?? ''})` };
  }
}

function findOnPath(bin: string): { path?: string; why: string } {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, bin);
    if (existsSync(p)) return { path: p, why: '' };
  }
  return { why: `${bin} not found on PATH` };
}
