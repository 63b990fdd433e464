/**
 * `npm run bench [-- --quick] [-- --only=1,5,...] [-- --no-write] [-- --no-build]`: verigate's benchmarks
 * (docs/architecture.md "Performance aims"; the aims of issue 11 in aims.ts). Every ratio is against a
 * baseline measured in this same run, on 127.0.0.1, with the same load generator. Prints one markdown
 * table and writes it to bench/RESULTS.md. Not a test: nothing here asserts timing; an aim not met prints
 * "NO". `npm run bench -- --profile` runs profile.ts instead (CPU profile of the gateway under load).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import { AIMS } from './aims.js';
import { createBenchPki, type BenchPki } from './bench-pki.js';
import { PAIR_STEAL_LIMIT_PCT, STEAL_LIMIT_PCT, STEAL_PAUSE_MS, STEAL_TRIES } from './steal-meter.js';
import { measurePath, type PathResult } from './data-path.js';
import { measurePairedLatency, type PairedLatency } from './paired-latency.js';
import { alternate, measurePaired, type PairedLoad, type PairedResult } from './paired-throughput.js';
import { ensureDist } from './dist-build.js';
import { ensureGhostunnel } from './ghostunnel.js';
import { measureGrpc } from './grpc-rate.js';
import { measureHandshakes, type HandshakeResult } from './handshake-rate.js';
import { measureIdleMemory } from './idle-memory.js';
import { startPaths } from './paths.js';
import { measureRotation } from './rotation.js';
import { benchSettings } from './run-settings.js';
import { machineLine, mb, renderTable, type Row } from './table.js';
import { dataPathRows, grpcRows, handshakeRows, memoryRows, policyRows, rotationRows } from './rows.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only =
  args
    .find((a) => a.startsWith('--only='))
    ?.slice(7)
    .split(',') ?? null;
const wants = (...n: number[]): boolean => only === null || n.some((x) => only.includes(String(x)));
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

const { S, DP, GRPC } = benchSettings(quick);

const log = (m: string): void => void process.stderr.write(`bench: ${m}\n`);
const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
/**
 * Everything is bounded, but a wedged child must not hold the bench forever. A calm run takes about 9 minutes;
 * every window and pair measured again during a steal burst (steal-meter.ts) adds up to half a minute, so a run
 * through long bursts can take 20.
 */
const WATCHDOG_MS = 30 * 60_000;

/** Runs one measurement; a failure becomes its row (with its aim, not met) instead of ending the bench. */
async function attempt(n: string, what: string, fn: () => Promise<Row[]>, aim?: string): Promise<Row[]> {
  try {
    return await fn();
  } catch (err) {
    return [{ n, what, value: `failed: ${firstLine(err)}`, ...(aim ? { aim, met: false } : {}) }];
  }
}
const cleanups: (() => Promise<void>)[] = [];
const NOTES = [
  "Notes: latency is from the client's write to the response, open loop, 1 request in flight per connection;",
  '"added" is a path\'s percentile minus the direct path\'s in the same run. Every aim is a ratio to (or a margin',
  'over) haproxy or a bare grpc-js server measured in the same run; those of rows 4, 6 and 9 on alternating pairs',
  '(latency: rounds with the direct path), so a drift of the machine cancels. "steal" is the CPU time the hypervisor took from',
  `this VM in a window (/proc/stat); a latency window with more than ${STEAL_LIMIT_PCT} % (an alternating pair: ${PAIR_STEAL_LIMIT_PCT} %) is`,
  `measured again, up to ${STEAL_TRIES} times in all and ${STEAL_PAUSE_MS / 1000} s apart, the same for every path, keeping the least. The gateway runs from`,
  'dist/ (compiled, no tsx) with policy, trust runtime, metrics and audit (fsync interval) on. stunnel, haproxy and',
  'ghostunnel use their default threading; the Node pipe and the gateway one thread. See bench/README.md for every row.',
].join('\n');

async function pathRows(
  dir: string,
  pki: BenchPki,
  sim: BenchChild,
  ghostunnel: { bin: string } | { why: string },
): Promise<Row[]> {
  const simPort = sim.info.port as number;
  const rows: Row[] = [];
  const p = await startPaths(dir, pki, simPort, { upstreamConnections: DP.connections, ghostunnel });
  cleanups.push(() => p.stop());
  const ep = (key: string) => p.paths.find((x) => x.key === key)?.ep;
  if (wants(1, 2, 3, 4)) {
    const results = new Map<string, PathResult | string>();
    for (const { key, ep } of p.paths) {
      log(`data path: ${key}`);
      results.set(
        key,
        typeof ep === 'string'
          ? ep
          : await measurePath(ep, DP, sim.pid).catch((e: unknown) => `failed: ${firstLine(e)}`),
      );
    }
    // Row 4's aims: haproxy and verigate again, taking turns (paired-throughput.ts), and for the latency aims with
    // the direct path (paired-latency.ts)
    const [d, h, g] = [ep('direct'), ep('haproxy'), ep('verigate')];
    let paired: PairedResult | string | undefined;
    let pairedLatency: PairedLatency | string | undefined;
    if (wants(4) && typeof h === 'object' && typeof g === 'object') {
      log(`data path: haproxy and verigate in ${S.pairRounds} alternating pairs`);
      paired = await measurePaired(h, g, DP, S.pairRounds).catch((e: unknown) => `failed: ${firstLine(e)}`);
      if (typeof d === 'object') {
        log(`data path: latency of direct, haproxy and verigate in ${S.pairRounds} alternating rounds`);
        pairedLatency = await measurePairedLatency({ direct: d, ref: h, target: g }, DP, S.pairRounds).catch(
          (e: unknown) => `failed: ${firstLine(e)}`,
        );
      }
    }
    rows.push(...dataPathRows(results, DP, paired, pairedLatency));
  }
  if (wants(6)) {
    const hs = new Map<string, HandshakeResult | string>();
    for (const { key, ep } of p.paths.filter((x) => x.key !== 'direct')) {
      log(`handshakes: ${key}`);
      hs.set(
        key,
        typeof ep === 'string'
          ? ep
          : await measureHandshakes(ep, {
              concurrency: 8,
              durationMs: S.handshakeMs,
              warmupMs: S.handshakeWarmupMs,
              simPid: sim.pid,
            }).catch((e: unknown) => `failed: ${firstLine(e)}`),
      );
    }
    // Row 6's aim: haproxy and verigate again, taking turns; both are warm from the runs above
    const [h, g] = [ep('haproxy'), ep('verigate')];
    let paired: PairedLoad | string | undefined;
    if (typeof h === 'object' && typeof g === 'object') {
      log(`handshakes: haproxy and verigate in ${S.pairRounds} alternating pairs`);
      const o = { concurrency: 8, durationMs: S.handshakeMs, warmupMs: S.warmupMs, simPid: sim.pid };
      paired = await alternate(S.pairRounds, (side) => measureHandshakes(side === 'ref' ? h : g, o)).catch(
        (e: unknown) => `failed: ${firstLine(e)}`,
      );
    }
    rows.push(...handshakeRows(hs, paired));
  }
  if (wants(9)) {
    log('gRPC unary reads: bare grpc-js, then verigate');
    const gw = p.gateway;
    const grpcPort = typeof gw === 'string' ? null : (gw.info.grpcPort as number | null);
    const r =
      typeof gw === 'string'
        ? `verigate ${gw}`
        : grpcPort === null
          ? 'verigate: no gRPC listener'
          : await measureGrpc(dir, pki, grpcPort, GRPC).catch((e: unknown) => `failed: ${firstLine(e)}`);
    rows.push(...grpcRows(r, GRPC));
  }
  return rows;
}

async function main(): Promise<void> {
  const t0 = performance.now();
  setTimeout(() => {
    process.stderr.write(`bench: still running after ${WATCHDOG_MS / 60_000} min, giving up\n`);
    process.exit(2);
  }, WATCHDOG_MS).unref();
  const notes: string[] = [];
  // builds first: nothing is being measured yet
  if (wants(1, 2, 3, 4, 6, 7, 8, 9)) notes.push(ensureDist(log, args.includes('--no-build')));
  const ghostunnel = wants(3, 6) ? ensureGhostunnel(log, !args.includes('--no-build')) : { why: 'not run' };
  const header = [
    machineLine(),
    `Run: ${new Date().toISOString()}; mode: ${quick ? 'quick' : 'full'}; load: FC3 read of 10 registers; latency ${DP.rate} req/s on ${DP.depthConnections} connections and ${DP.highRate} req/s on ${DP.connections}, ` +
      `throughput ${DP.connections} connections × 1 and ${DP.depthConnections} × ${DP.depth} in flight; gRPC ${GRPC.channels} channels × ${GRPC.inFlight} calls.`,
    ...notes.filter(Boolean),
  ].join('\n');
  process.stdout.write(`${header}\n\n`);
  const rows: Row[] = [];
  if (wants(5)) {
    log('policy evaluation');
    rows.push(
      ...(await attempt('5', 'Policy evaluate', async () => {
        // loaded here: it runs gateway/policy from the sources, and a half-edited policy must not stop the other rows
        const { runPolicyEval } = await import('./policy-eval.js');
        return policyRows(runPolicyEval(1, S.policySamples), runPolicyEval(10_000, S.policySamples));
      })),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'verigate-bench-'));
  // VERIGATE_BENCH_KEEP=1 keeps the run's directory (every child's log, the gateways' audit trails) to read after
  const keep = process.env['VERIGATE_BENCH_KEEP'] === '1';
  const removeDir = (): void => {
    if (keep) console.error(`bench: kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', removeDir);
  let sim: BenchChild | null = null;
  try {
    if (!wants(1, 2, 3, 4, 6, 7, 8, 9)) return finish(rows, t0, header);
    const pki = await createBenchPki(dir);
    const simChild = await spawnBenchChild(here('./sim-child.ts'), [], join(dir, 'sim.log'));
    sim = simChild;
    const simPort = simChild.info.port as number;
    // rows 7 and 8 share the simulator the data path used: one that exited would read as the gateway failing
    const withSim = async (fn: () => Promise<Row[]>): Promise<Row[]> => {
      const gone = (): Error =>
        new Error(`the simulator child exited (its log: ${join(dir, 'sim.log')}; VERIGATE_BENCH_KEEP=1 keeps it)`);
      if (!simChild.running()) throw gone();
      const rows = await fn();
      if (!simChild.running()) throw gone();
      return rows;
    };
    if (wants(1, 2, 3, 4, 6, 9))
      rows.push(
        ...(await attempt('4', 'Data path, handshakes and gRPC', () => pathRows(dir, pki, simChild, ghostunnel))),
      );
    for (const c of cleanups.splice(0).reverse()) await c();
    if (wants(7)) {
      log(`memory: ${S.sessions} idle sessions`);
      rows.push(
        ...(await attempt(
          '7',
          `Gateway RSS with ${S.sessions} idle mTLS sessions`,
          () => withSim(async () => memoryRows(await measureIdleMemory(dir, pki, simPort, S.sessions))),
          `≤ ${mb(AIMS.idleRssBytes)}`,
        )),
      );
    }
    if (wants(8)) {
      log(`SVID rotation under load (TTL ${S.svidTtlS} s)`);
      const o = { svidTtlS: S.svidTtlS, durationMs: S.rotationMs, rate: DP.rate };
      rows.push(
        ...(await attempt(
          '8',
          'Failed requests across SVID rotation',
          () => withSim(async () => rotationRows(await measureRotation(dir, pki, simPort, o))),
          `${AIMS.rotationFailures} failed`,
        )),
      );
    }
  } finally {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await sim?.stop();
    process.off('exit', removeDir);
    removeDir();
  }
  finish(rows, t0, header);
}

function finish(rows: Row[], t0: number, header: string): void {
  rows.sort((a, b) => Number(a.n) - Number(b.n));
  const table = renderTable(rows);
  process.stdout.write(`${table}\n\nTotal bench time: ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  if (!args.includes('--no-write') && only === null) {
    writeFileSync(
      here('./RESULTS.md'),
      `# verigate benchmark results\n\nGenerated by \`npm run bench${quick ? ' -- --quick' : ''}\` (bench/run.ts); see bench/README.md for what each row measures.\n\n${header.replaceAll('\n', '  \n')}\n\n${table}\n\n${NOTES}\n`,
    );
    log('wrote bench/RESULTS.md');
  }
}

// A signal ends the bench through process.exit, so the 'exit' hooks kill stunnel/haproxy/ghostunnel (Node
// children end when their stdin closes).
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
