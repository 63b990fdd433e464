/**
 * `node --import tsx bench/profile-handshakes.ts [-- --seconds=5 --concurrency=8 --top=30 --inclusive=25
 * --out=<dir> --no-build]`: the gateway from dist/ under `node --cpu-prof`, driven by row 6's load
 * (handshake-rate.ts: connect + full mTLS handshake + 1 read + close, `concurrency` at once), then stopped
 * cleanly so V8 writes the profile. Prints the top self-time entries of the load window (after 1 s of
 * warm-up), and the gateway's own functions by inclusive time — what a session costs beyond OpenSSL's
 * handshake. The .cpuprofile stays in --out (default a fresh temp dir).
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatTop, topSelfTime, type CallFrame, type CpuProfile } from './cpuprofile-top.js';
import { ensureDist } from './dist-build.js';
import { spawnGateway } from './gateway-fixture.js';
import { measureHandshakes } from './handshake-rate.js';
import { childClock, newestCpuProfile, withProfileLab } from './profile-lab.js';
import { sourceMapLocate } from './source-map-locate.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const seconds = opt('seconds', 5);
const concurrency = opt('concurrency', 8);
const top = opt('top', 30);
const inclusiveTop = opt('inclusive', 25);
const out = resolve(
  args.find((a) => a.startsWith('--out='))?.slice(6) ?? mkdtempSync(join(tmpdir(), 'verigate-profile-hs-')),
);
const profiling = !args.includes('--no-profile');
const log = (m: string): void => void process.stderr.write(`profile-handshakes: ${m}\n`);

/**
 * Inclusive time of each (function, location) whose location passes `keep`: the share of busy samples in the
 * window with that function anywhere on the stack (counted once per sample even when recursive).
 */
export function inclusiveTime(
  p: CpuProfile,
  o: {
    locate: (f: CallFrame) => string;
    keep: (location: string) => boolean;
    window: { fromUs: number; toUs: number };
  },
): { name: string; location: string; pct: number }[] {
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame] as const));
  const counts = new Map<string, number>();
  let busy = 0;
  let t = p.startTime;
  const samples = p.samples ?? [];
  for (let i = 0; i < samples.length; i++) {
    t += p.timeDeltas?.[i] ?? 0;
    if (t < o.window.fromUs || t > o.window.toUs) continue;
    const leaf = samples[i] as number;
    if (byId.get(leaf)?.functionName === '(idle)') continue;
    busy++;
    const seen = new Set<string>();
    for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id);
      if (!f || f.url === '') continue;
      const location = o.locate(f);
      if (!o.keep(location)) continue;
      seen.add(`${f.functionName || '(anonymous)'}\u0000${location}`);
    }
    for (const k of seen) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return [...counts.entries()]
    .map(([k, n]) => {
      const [name = '', location = ''] = k.split('\u0000');
      return { name, location, pct: (100 * n) / Math.max(1, busy) };
    })
    .sort((a, b) => b.pct - a.pct);
}

async function main(): Promise<void> {
  const note = ensureDist(log, args.includes('--no-build'));
  if (note) log(note);
  mkdirSync(out, { recursive: true });
  await withProfileLab('profile-hs', async ({ dir, pki, simPort }) => {
    const gw = await spawnGateway(
      { dir: join(dir, 'gw'), caDir: pki.caDir, simPort, upstreamConnections: 8 },
      profiling ? ['--cpu-prof', `--cpu-prof-dir=${out}`] : [],
    );
    const ep = { port: gw.info.port as number, tls: pki.client, pid: gw.pid };
    log(`${concurrency} at once: connect + full handshake + 1 read + close, ${seconds} s (after 1 s warm-up)`);
    await measureHandshakes(ep, { concurrency, durationMs: 1000 });
    // the child's clock (process.hrtime, the profile's clock) brackets the measured window
    const fromUs = await childClock(gw);
    const r = await measureHandshakes(ep, { concurrency, durationMs: seconds * 1000 });
    const toUs = await childClock(gw);
    await gw.stop();
    const gwUs = r.cpu?.server;
    const perSession = gwUs === undefined ? '' : `; gateway CPU ${Math.round(gwUs)} µs per session`;
    log(
      `${Math.round(r.perSecond)} sessions/s${profiling ? ' under the profiler (slower than unprofiled)' : ''}, ${r.failed} failed${perSession}`,
    );
    if (!profiling) return;
    const file = newestCpuProfile(out, join(dir, 'gw', 'gateway.log'));
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const locate = sourceMapLocate();
    const window = { fromUs, toUs };
    const result = topSelfTime(profile, { top, locate, window });
    process.stdout.write(
      `Top ${top} self time, gateway from dist/ under ${concurrency} concurrent sessions (${result.samples} samples` +
        `${result.windowed ? ' in the load window' : ', whole run'}; ${result.idlePct.toFixed(1)} % idle; % of busy samples):\n`,
    );
    process.stdout.write(`${formatTop(result)}\n\n`);
    const incl = inclusiveTime(profile, { locate, window, keep: (l) => l.startsWith('gateway/') }).slice(
      0,
      inclusiveTop,
    );
    process.stdout.write(`Gateway functions by inclusive time (% of busy samples):\n`);
    for (const e of incl) process.stdout.write(`${e.pct.toFixed(1).padStart(5)} %  ${e.name}  ${e.location}\n`);
    process.stdout.write(`\nProfile: ${file}\n`);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`profile failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
