/**
 * Helpers for test/spire/**: one real SPIRE lab (server + agent) per test file, torn down in t.teardown.
 * Missing binaries FAIL the file (never skip) with a message naming the build script.
 */
import { mkdtemp, mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSpireBinaries, startSpireLab, BUILD_HINT, type SpireLab } from '../../gateway/cli/spire-lab.js';
import { runCommand } from '../../gateway/cli/spire-process.js';
import { eventually } from './eventually.js';

/** The tap object as far as these helpers need it. */
interface Teardownable {
  teardown(fn: () => unknown): void;
}

export const TRUST_DOMAIN = 'plant.example';

/** Tests run as one uid; the unix attestor selects on it [docs/architecture.md "SPIRE facts"]. */
export function uidSelector(): string {
  return `unix:uid:${process.getuid?.() ?? 0}`;
}

/** Starts a lab in a short temp dir; stops it and removes the dir at teardown (KEEP_SPIRE_LAB=1 keeps it). */
export async function startTestLab(t: Teardownable, opts: { trustDomain?: string } = {}): Promise<SpireLab> {
  if (!findSpireBinaries()) {
    throw new Error(
      `SPIRE binaries missing (spire-server/spire-agent in $SPIRE_BIN_DIR, .spire/bin or on PATH): ${BUILD_HINT}`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), 'vg-spire-'));
  let lab: SpireLab;
  try {
    lab = await startSpireLab({ dir, trustDomain: opts.trustDomain ?? TRUST_DOMAIN });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  t.teardown(async () => {
    await lab.stop();
    if (!process.env['KEEP_SPIRE_LAB']) await rm(dir, { recursive: true, force: true });
  });
  return lab;
}

export interface FetchedSvid {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly keyPem: string;
  readonly bundle: X509Certificate[];
}

function splitPem(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => new X509Certificate(p),
  );
}

/**
 * `spire-agent api fetch x509 -write DIR` until it returns an SVID or `timeoutMs` passes
 * (entry → fetchable SVID takes a few seconds [docs/architecture.md "SPIRE facts"]). Returns the default SVID (#0).
 */
export async function fetchX509ViaCli(lab: SpireLab, outDir: string, timeoutMs = 30_000): Promise<FetchedSvid> {
  await mkdir(outDir, { recursive: true });
  let last = '';
  const fetchOnce = async (): Promise<FetchedSvid | null> => {
    const r = await runCommand(lab.binaries.agent, [
      'api',
      'fetch',
      'x509',
      '-socketPath',
      lab.agentSocket,
      '-write',
      outDir,
      '-timeout',
      '5s',
    ]);
    if (r.code !== 0 || !(await readdir(outDir)).includes('svid.0.pem')) {
      last = (r.stderr || r.stdout).trim();
      return null;
    }
    const certPem = await readFile(join(outDir, 'svid.0.pem'), 'utf8');
    const [cert] = splitPem(certPem);
    if (!cert) throw new Error(`no certificate in ${outDir}/svid.0.pem`);
    return {
      cert,
      certPem,
      keyPem: await readFile(join(outDir, 'svid.0.key'), 'utf8'),
      bundle: splitPem(await readFile(join(outDir, 'bundle.0.pem'), 'utf8')),
    };
  };
  // SPIRE is another process: the one kind of wait that stays on the wall clock (test/helpers/eventually.ts).
  return eventually('an SVID from spire-agent api fetch x509', fetchOnce, { timeoutMs, intervalMs: 500 }).catch(
    (err: Error) => {
      throw new Error(`spire-agent api fetch x509 gave no SVID within ${timeoutMs} ms: ${last || err.message}`);
    },
  );
}

export function readPemCerts(pem: string): X509Certificate[] {
  return splitPem(pem);
}

/** The URI SANs of a certificate, from Node's formatted subjectAltName string. */
export function uriSans(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(', ')
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

/** PIDs of live processes whose command line mentions `needle` (e.g. the lab dir): finds orphans. */
export async function pidsMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (cmd.includes(needle) && state !== 'Z') pids.push(Number(name));
    } catch {
      // the process went away while we looked
    }
  }
  return pids;
}
