/**
 * `npm run bench [-- --quick] [-- --only=1,5,...] [-- --no-write]`: verigate's benchmarks (docs/architecture.md
 * "Performance aims"). Every ratio is against a baseline measured in this same run, on 127.0.0.1, with the
 * same load generator. Prints one markdown table and writes it to bench/RESULTS.md. Not a test: nothing here
 * asserts timing; an aim not met prints "NO".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import { createBenchPki, type BenchPki } from './bench-pki.js';
import { measurePath, type DataPathOptions, type PathResult } from './data-path.js';
import { ensureDist } from './dist-build.js';
import { spawnGateway } from './gateway-fixture.js';
import { measureHandshakes, type HandshakeResult } from './handshake-rate.js';
import { startHaproxy } from './haproxy.js';
import { measureIdleMemory } from './idle-memory.js';
import type { Endpoint } from './load-generator.js';
import { runPolicyEval } from './policy-eval.js';
import { measureRotation } from './rotation.js';
import { startStunnel } from './stunnel.js';
import { machineLine, renderTable, type Row } from './table.js';
import { dataPathRows, handshakeRows, memoryRows, policyRows, rotationRows } from './rows.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',') ?? null;
const wants = (n: number): boolean => only === null || only.includes(String(n));
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

const S = quick
  ? { pacedMs: 2000, closedMs: 1500, warmupMs: 300, policySamples: 100_000, handshakeMs: 1500, sessions: 1000, svidTtlS: 4, rotationMs: 5000 }
  : { pacedMs: 4000, closedMs: 3000, warmupMs: 500, policySamples: 300_000, handshakeMs: 3000, sessions: 1000, svidTtlS: 6, rotationMs: 10_000 };
const DP: DataPathOptions = { connections: 8, rate: 1000, depth: 8, pacedMs: S.pacedMs, closedMs: S.closedMs, warmupMs: S.warmupMs };

const log = (m: string): void => void process.stderr.write(`bench: ${m}\n`);
const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
/** Everything is bounded, but a wedged child must not hold the bench forever. */
const WATCHDOG_MS = 8 * 60_000;

/** Runs one measurement; a failure becomes its row instead of ending the bench. */
async function attempt(n: string, what: string, fn: () => Promise<Row[]>): Promise<Row[]> {
  try {
    return await fn();
  } catch (err) {
    return [{ n, what, value: `failed: ${firstLine(err)}` }];
  }
}
const cleanups: (() => Promise<void>)[] = [];
const NOTES = [
  'Notes: latency is from the client\'s write to the response, open loop, 1 request in flight per connection;',
  'ratios compare paths measured minutes apart on the same machine, so a busy machine (see the load average)',
  'makes p99 and throughput noisy. The gateway child runs TypeScript under tsx; the empty tsx child row shows',
  'what tsx itself adds to RSS. stunnel and haproxy use their default threading; the pipe and gateway one thread.',
].join('\n');

async function dataPathAndHandshakes(dir: string, pki: BenchPki, simPort: number, rows: Row[]): Promise<void> {
  const pipe = await spawnBenchChild(here('./pipe-child.ts'), [pki.server.cert, pki.server.key, pki.server.bundle, String(simPort)], join(dir, 'pipe.log'));
  cleanups.push(() => pipe.stop());
  const stunnel = await startStunnel(dir, pki, simPort);
  if (stunnel.ok) cleanups.push(() => stunnel.stop());
  const haproxy = await startHaproxy(dir, pki, simPort);
  if (haproxy.ok) cleanups.push(() => haproxy.stop());
  const gw = await spawnGateway({ dir: join(dir, 'gw-data'), caDir: pki.caDir, simPort, upstreamConnections: DP.connections }).catch(
    (e: Error) => `failed to start: ${firstLine(e)}`,
  );
  if (typeof gw !== 'string') cleanups.push(() => gw.stop());

  const mtls = (port: number): Endpoint => ({ port, tls: pki.client });
  const paths: { key: string; ep: Endpoint | string }[] = [
    // the pipe runs right before verigate: the headline ratio compares two runs close in time
    { key: 'direct', ep: { port: simPort, tls: null } },
    { key: 'stunnel', ep: stunnel.ok ? mtls(stunnel.port) : stunnel.why },
    { key: 'haproxy', ep: haproxy.ok ? mtls(haproxy.port) : haproxy.why },
    { key: 'pipe', ep: mtls(pipe.info.port as number) },
    { key: 'verigate', ep: typeof gw === 'string' ? gw : mtls(gw.info.port as number) },
  ];
  const results = new Map<string, PathResult | string>();
  if ([1, 2, 3, 4].some(wants)) {
    for (const p of paths) {
      log(`data path: ${p.key}`);
      results.set(p.key, typeof p.ep === 'string' ? p.ep : await measurePath(p.ep, DP).catch((e: Error) => `failed: ${firstLine(e)}`));
    }
    rows.push(...dataPathRows(results, DP));
  }
  if (wants(6)) {
    const hs = new Map<string, HandshakeResult | string>();
    for (const p of paths.filter((x) => x.key !== 'direct')) {
      log(`handshakes: ${p.key}`);
      hs.set(p.key, typeof p.ep === 'string' ? p.ep : await measureHandshakes(p.ep, { concurrency: 8, durationMs: S.handshakeMs }).catch((e: Error) => `failed: ${firstLine(e)}`));
    }
    rows.push(...handshakeRows(hs));
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  setTimeout(() => {
    process.stderr.write(`bench: still running after ${WATCHDOG_MS / 60_000} min, giving up\n`);
    process.exit(2);
  }, WATCHDOG_MS).unref();
  const header = `${machineLine()}\nRun: ${new Date().toISOString()}; mode: ${quick ? 'quick' : 'full'}; load: ${DP.connections} connections, ${DP.rate} req/s paced, ${DP.depth} in flight for pipelined throughput; FC3 read of 10 registers.`;
  process.stdout.write(`${header}\n\n`);
  const rows: Row[] = [];
  if (wants(5)) {
    log('policy evaluation');
    rows.push(...policyRows(runPolicyEval(1, S.policySamples), runPolicyEval(10_000, S.policySamples)));
  }
  if ([1, 2, 3, 4, 6, 7, 8].some(wants)) {
    const note = ensureDist(log, args.includes('--no-build'));
    if (note) process.stdout.write(`${note}\n\n`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'verigate-bench-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  let sim: BenchChild | null = null;
  try {
    if (![1, 2, 3, 4, 6, 7, 8].some(wants)) return finish(rows, t0, header);
    const pki = await createBenchPki(dir);
    sim = await spawnBenchChild(here('./sim-child.ts'), [], join(dir, 'sim.log'));
    const simPort = sim.info.port as number;
    if ([1, 2, 3, 4, 6].some(wants)) await dataPathAndHandshakes(dir, pki, simPort, rows);
    for (const c of cleanups.splice(0).reverse()) await c();
    if (wants(7)) {
      log(`memory: ${S.sessions} idle sessions`);
      rows.push(...(await attempt('7', 'Gateway RSS with idle mTLS sessions', async () => memoryRows(await measureIdleMemory(dir, pki, simPort, S.sessions)))));
    }
    if (wants(8)) {
      log(`SVID rotation under load (TTL ${S.svidTtlS} s)`);
      const o = { svidTtlS: S.svidTtlS, durationMs: S.rotationMs, rate: DP.rate };
      rows.push(...(await attempt('8', 'Failed requests across SVID rotation', async () => rotationRows(await measureRotation(dir, pki, simPort, o)))));
    }
  } finally {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  finish(rows, t0, header);
}

function finish(rows: Row[], t0: number, header: string): void {
  rows.sort((a, b) => Number(a.n) - Number(b.n));
  const table = renderTable(rows);
  process.stdout.write(`${table}\n\nTotal bench time: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  if (!args.includes('--no-write') && only === null) {
    writeFileSync(here('./RESULTS.md'), `# verigate benchmark results\n\nGenerated by \`npm run bench${quick ? ' -- --quick' : ''}\` (bench/run.ts); see bench/README.md for what each row measures.\n\n${header.replaceAll('\n', '  \n')}\n\n${table}\n\n${NOTES}\n`);
    log('wrote bench/RESULTS.md');
  }
}

// A signal ends the bench through process.exit, so the 'exit' hooks kill stunnel/haproxy (Node children end
// when their stdin closes).
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

if (args.includes('--profile')) {
  // `npm run bench -- --profile [...]` is `npm run bench:profile [...]` (bench/profile.ts reads the same argv)
  await import('./profile.js');
} else {
  main().catch(async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    process.exit(1);
  });
}
