/**
 * `npm run bench:multicore [-- --rounds=2 --seconds=3]`: what a second core buys a bare Node TLS pipe on this
 * machine — the question behind "TLS and decoding on worker threads" for the throughput aim. The pipe
 * (pipe-child.ts, no inspection) in one process and in two node:cluster processes sharing the port, against
 * haproxy (its default threading), measured alternately in one run: 16 connections × 1 in flight and 8 × 8,
 * the throughput rows' loads. The load generator and the simulator share the same cores, as in `npm run bench`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import { startHaproxy } from './haproxy.js';
import { openConnections, runClosed } from './load-generator.js';
import { withProfileLab, type ProfileLab } from './profile-lab.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number): number =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt);
const rounds = opt('rounds', 2);
const durationMs = opt('seconds', 3) * 1000;

function startPipe(lab: ProfileLab, processes: number): Promise<BenchChild> {
  const s = lab.pki.server;
  return spawnBenchChild(
    fileURLToPath(new URL('./pipe-child.ts', import.meta.url)),
    [s.cert, s.key, s.bundle, String(lab.simPort), String(processes)],
    join(lab.dir, `pipe-${processes}.log`),
  );
}

/** req/s at 16 × 1 and 8 × 8 through the endpoint on `port`. */
async function throughput(lab: ProfileLab, port: number): Promise<[number, number]> {
  const conns = await openConnections({ port, tls: lab.pki.client }, 16);
  try {
    const a = await runClosed(conns, { depth: 1, durationMs, warmupMs: 700 });
    const b = await runClosed(conns.slice(0, 8), { depth: 8, durationMs, warmupMs: 700 });
    return [a.perSecond, b.perSecond];
  } finally {
    for (const c of conns) c.close();
  }
}

await withProfileLab('multicore', async (lab) => {
  mkdirSync(join(lab.dir, 'haproxy'));
  const haproxy = await startHaproxy(join(lab.dir, 'haproxy'), lab.pki, lab.simPort);
  if (!haproxy.ok) throw new Error(`haproxy: ${haproxy.why}`);
  const one = await startPipe(lab, 1);
  const two = await startPipe(lab, 2);
  try {
    const paths: [string, number][] = [
      ['haproxy', haproxy.port],
      ['Node TLS pipe, 1 process', one.info.port as number],
      ['Node TLS pipe, 2 processes', two.info.port as number],
    ];
    const best = new Map<string, [number, number]>();
    for (let r = 1; r <= rounds; r++)
      for (const [name, port] of paths) {
        const [a, b] = await throughput(lab, port);
        console.log(`round ${r}  ${name.padEnd(28)} 16×1 ${Math.round(a)}/s   8×8 ${Math.round(b)}/s`);
        const prev = best.get(name) ?? [0, 0];
        best.set(name, [Math.max(prev[0], a), Math.max(prev[1], b)]);
      }
    const ref = best.get('haproxy') as [number, number];
    console.log('\nbest of each (ratio to haproxy):');
    for (const [name, [a, b]] of best)
      console.log(`  ${name.padEnd(28)} ${(a / ref[0]).toFixed(2)}× / ${(b / ref[1]).toFixed(2)}×`);
  } finally {
    await Promise.all([one.stop(), two.stop(), haproxy.stop()]);
  }
});
