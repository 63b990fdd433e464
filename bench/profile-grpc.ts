/**
 * `npm run bench:profile-grpc [-- --seconds=5 --channels=4 --in-flight=16 --top=30 --rate=N
 * --side=gateway|bare|both --out=<dir> --no-build --no-prof]`: row 9's load (grpc-rate.ts: grpc-js channels ×
 * unary ReadHoldingRegisters in flight, mTLS) against the gateway's gRPC listener from dist/ under `node --cpu-prof`,
 * then against the bare grpc-js server (grpc-bare-child.mjs) under the same profiler, so what the gateway adds
 * per call can be told from what grpc-js itself costs. Each side is warmed for 2 s, then profiled for
 * `--seconds`; only samples inside that window count (the child's profiler clock brackets it). Prints the top
 * self-time entries of each side (cpuprofile-top.ts), mapped through dist/'s source maps; the .cpuprofile
 * files stay in --out for Chrome DevTools / speedscope. Each side also prints the CPU time (user + system,
 * from /proc) its server, the simulator and the load generator spent per completed call: a count that does not
 * depend on the profiler's sampling (`--no-prof` prints only that, without the profiler's overhead). `--rate=N`
 * paces the load at N calls/s (open loop) instead, so that per-call counts of two builds can be compared on a
 * busy machine: at a fixed pace, how calls batch does not depend on how fast the machine happens to be.
 *
 * Frames are mapped back to the TypeScript sources by source-map-locate.ts, as in the other profile modes.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import type { BenchPki } from './bench-pki.js';
import { cpuNs } from './cpu-meter.js';
import { formatTop, topSelfTime, type CpuProfile } from './cpuprofile-top.js';
import { sourceMapLocate } from './source-map-locate.js';
import { ensureDist } from './dist-build.js';
import { spawnGateway } from './gateway-fixture.js';
import { readOnce, runGrpcLoad } from './grpc-rate.js';
import { childClock, newestCpuProfile, withProfileLab } from './profile-lab.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const seconds = opt('seconds', 5);
const channels = opt('channels', 4);
const inFlight = opt('in-flight', 16);
const top = opt('top', 30);
const rate = opt('rate', 0);
const side = args.find((a) => a.startsWith('--side='))?.slice(7) ?? 'both';
const out = resolve(
  args.find((a) => a.startsWith('--out='))?.slice(6) ?? mkdtempSync(join(tmpdir(), 'verigate-profile-grpc-')),
);
const profiling = !args.includes('--no-prof');
const log = (m: string): void => void process.stderr.write(`profile-grpc: ${m}\n`);
const WARM_MS = 2000;

interface ProcStats {
  /** user + system CPU time, µs */
  readonly cpuUs: number;
  /** read and write system calls (socket reads and writes, audit writes) */
  readonly reads: number;
  readonly writes: number;
}
const NO_STATS: ProcStats = { cpuUs: 0, reads: 0, writes: 0 };
/** CPU time (cpu-meter.ts) and system calls (`/proc/<pid>/io` syscr / syscw) of one process so far. */
function procStats(pid: number): ProcStats {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? 0);
  return {
    cpuUs: (cpuNs(pid) ?? 0) / 1000,
    reads: field('syscr'),
    writes: field('syscw'),
  };
}

/** The stats of this process's child whose command line names `script` (the server, the simulator). */
function childStats(script: string): ProcStats {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(script)) return procStats(Number(pid));
    } catch {
      /* the process ended meanwhile */
    }
  }
  return NO_STATS;
}

/** Per completed call: CPU µs, reads, writes (`after` − `before`). */
function perCall(before: ProcStats, after: ProcStats, calls: number): string {
  const d = (k: keyof ProcStats): string => ((after[k] - before[k]) / calls).toFixed(k === 'cpuUs' ? 1 : 2);
  return `${d('cpuUs')} µs CPU, ${d('reads')} reads, ${d('writes')} writes`;
}

/** Warms `port`, then loads it for `seconds` inside the child's profiler-clock window; stops the child. */
async function profileSide(
  name: string,
  script: string,
  child: BenchChild,
  port: number,
  pki: BenchPki,
  profDir: string,
): Promise<void> {
  const load = {
    channels,
    inFlight,
    durationMs: seconds * 1000,
    warmupMs: 0,
    ...(rate ? { ratePerSecond: rate } : {}),
  };
  await runGrpcLoad(port, pki, { ...load, durationMs: WARM_MS });
  log(`${name}: ${channels} channels × ${inFlight} in flight for ${seconds} s (after ${WARM_MS / 1000} s warm-up)`);
  const fromUs = await childClock(child);
  // the load generator's own counts are taken outside the /proc scans (they read files too)
  const children = (): Record<string, ProcStats> => ({
    server: childStats(script),
    simulator: childStats('sim-child'),
  });
  const before: Record<string, ProcStats> = { ...children(), 'load generator': procStats(process.pid) };
  const r = await runGrpcLoad(port, pki, load);
  const after: Record<string, ProcStats> = { 'load generator': procStats(process.pid), ...children() };
  process.stdout.write(
    `\n${name}: ${Math.round(r.perSecond).toLocaleString('en-US')} calls/s${profiling ? ' under the profiler' : ''}, ` +
      `${r.failed} failed. Per call:\n` +
      Object.keys(before)
        .map((k) => `  ${k.padEnd(15)} ${perCall(before[k]!, after[k]!, r.completed)}\n`)
        .join(''),
  );
  const toUs = await childClock(child);
  await child.stop();
  if (!profiling) return;
  const file = newestCpuProfile(profDir, `the ${name} child's log`);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const result = topSelfTime(profile, { top, locate: sourceMapLocate(), window: { fromUs, toUs } });
  process.stdout.write(
    `Top ${top} self time (${result.samples} samples${result.windowed ? ' in the load window' : ', whole run'}; ` +
      `${result.idlePct.toFixed(1)} % idle; % of busy samples):\n${formatTop(result)}\nProfile: ${file}\n`,
  );
}

async function main(): Promise<void> {
  const note = ensureDist(log, args.includes('--no-build'));
  if (note) log(note);
  const prof = (name: string): string[] => {
    if (!profiling) return [];
    mkdirSync(join(out, name), { recursive: true });
    return ['--cpu-prof', `--cpu-prof-dir=${join(out, name)}`];
  };
  await withProfileLab('profile-grpc', async ({ dir, pki, simPort }) => {
    // like the bench's data-path gateway (paths.ts): 16 upstream connections, gRPC listener on
    const gw = await spawnGateway(
      {
        dir: join(dir, 'gw'),
        caDir: pki.caDir,
        simPort,
        upstreamConnections: 16,
        grpc: true,
      },
      side === 'bare' ? [] : prof('gateway'),
    );
    const gwPort = gw.info.grpcPort as number;
    const values = await readOnce(gwPort, pki);
    if (side === 'bare') await gw.stop();
    else await profileSide('gateway', 'gateway-child', gw, gwPort, pki, join(out, 'gateway'));
    if (side === 'gateway') return;
    const bare = await spawnBenchChild(
      fileURLToPath(new URL('./grpc-bare-child.mjs', import.meta.url)),
      [pki.server.cert, pki.server.key, pki.server.bundle, JSON.stringify(values)],
      join(dir, 'grpc-bare.log'),
      prof('bare'),
    );
    await profileSide('bare grpc-js', 'grpc-bare-child', bare, bare.info.port as number, pki, join(out, 'bare'));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`profile-grpc failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
