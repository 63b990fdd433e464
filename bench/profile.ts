/**
 * `npm run bench:profile [-- --seconds=5 --depth=8 --connections=8 --top=15 --out=<dir> --no-build --alloc]`
 * (also `npm run bench -- --profile ...`): the gateway from dist/ under `node --cpu-prof`, driven by the
 * closed-loop load of the throughput row (8 connections × 8 in flight), then stopped cleanly so V8 writes the
 * profile. Prints the top self-time entries of the load window only (start-up and warm-up are cut off by the
 * child's clock), mapped through dist/'s source maps back to the TypeScript file:line. The .cpuprofile is kept
 * in --out (default a fresh temp dir) for Chrome DevTools / speedscope. `--alloc`: the same load under the
 * sampling heap profiler instead (alloc-profile.ts): bytes per request and the top allocation sites.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { allocWindow, cpuPerRequest, usage, type Usage } from './alloc-profile.js';
import { formatTop, topSelfTime, type CpuProfile } from './cpuprofile-top.js';
import { ensureDist } from './dist-build.js';
import { spawnGateway } from './gateway-fixture.js';
import { openConnections, runClosed } from './load-generator.js';
import { childClock, newestCpuProfile, withProfileLab } from './profile-lab.js';
import { sourceMapLocate } from './source-map-locate.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const seconds = opt('seconds', 5);
const depth = opt('depth', 8);
const connections = opt('connections', 8);
const top = opt('top', 15);
const alloc = args.includes('--alloc');
const out = resolve(
  args.find((a) => a.startsWith('--out='))?.slice(6) ?? mkdtempSync(join(tmpdir(), 'verigate-profile-')),
);
const log = (m: string): void => void process.stderr.write(`profile: ${m}\n`);

async function main(): Promise<void> {
  const note = ensureDist(log, args.includes('--no-build'));
  if (note) log(note);
  mkdirSync(out, { recursive: true });
  await withProfileLab('profile', async ({ dir, pki, simPort }) => {
    const gw = await spawnGateway(
      { dir: join(dir, 'gw'), caDir: pki.caDir, simPort, upstreamConnections: connections },
      alloc ? [] : ['--cpu-prof', `--cpu-prof-dir=${out}`],
    );
    const conns = await openConnections({ port: gw.info.port as number, tls: pki.client }, connections);
    if (alloc) {
      await allocWindow(gw, conns, { depth, seconds, top, out, log });
      return;
    }
    log(`${connections} connections × ${depth} in flight for ${seconds} s (after 1 s warm-up)`);
    // the child's clock (process.hrtime, the profile's clock) brackets the measured window
    let fromUs = 0;
    let fromUsage: Usage | null = null;
    const startClock = setTimeout(
      () =>
        void childClock(gw)
          .then((t) => (fromUs = t))
          .then(() => usage(gw))
          .then((u) => (fromUsage = u)),
      1000,
    );
    const r = await runClosed(conns, { depth, durationMs: seconds * 1000, warmupMs: 1000 });
    clearTimeout(startClock);
    const toUs = await childClock(gw);
    const toUsage = await usage(gw);
    for (const c of conns) c.close();
    await gw.stop();
    log(
      `${Math.round(r.perSecond).toLocaleString('en-US')} req/s under the profiler (slower than unprofiled), ${r.failed} failed`,
    );
    if (fromUsage !== null) log(cpuPerRequest(fromUsage, toUsage));
    const file = newestCpuProfile(out, join(dir, 'gw', 'gateway.log'));
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const result = topSelfTime(profile, {
      top,
      locate: sourceMapLocate(),
      ...(fromUs > 0 ? { window: { fromUs, toUs } } : {}),
    });
    process.stdout.write(
      `Top ${top} self time, gateway from dist/ under ${connections}×${depth} closed-loop load (${result.samples} samples` +
        `${result.windowed ? ' in the load window' : ', whole run'}; ${result.idlePct.toFixed(1)} % idle; % of busy samples):\n`,
    );
    process.stdout.write(`${formatTop(result)}\n\nProfile: ${file}\n`);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`profile failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
