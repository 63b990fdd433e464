/**
 * `npm run bench:perf-split [-- --target=gateway|pipe|haproxy --load=requests|paced|handshakes --seconds=4 --depth=8
 * --connections=8 --rate=1000 --top=25]`: where a server's CPU really goes under the throughput rows' closed-loop
 * load (or row 4's open-loop latency load at `--rate` req/s, 1 in flight per connection, `--load=paced`; or
 * row 6's connect + handshake + one read + close loop, `--load=handshakes`), measured by the kernel rather
 * than by V8's sampler. V8's `--cpu-prof` samples on a wall clock, so time a thread spends preempted right
 * after waking a peer (a socket write on loopback wakes the reader, which may take the CPU) lands in the
 * write's JavaScript caller; `perf` samples only time on a CPU, kernel and native code included.
 *
 * Prints, for the target's process over one window: requests/s, CPU µs per request (cpu-meter.ts), system
 * calls per request (`perf stat` tracepoints), and for its main thread the on-CPU split by object (kernel,
 * JIT-compiled JavaScript, the node binary with V8, libuv and OpenSSL, libc) with the top symbols (`perf
 * record -a`, cpu-clock; the gateway and the pipe run with `--perf-basic-prof-only-functions`, so JavaScript
 * functions have names). Needs `perf` (Debian: linux-perf) and root or perf_event_paranoid ≤ 1.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild } from './bench-child.js';
import { cpuNs } from './cpu-meter.js';
import { spawnGateway } from './gateway-fixture.js';
import { startHaproxy } from './haproxy.js';
import { measureHandshakes } from './handshake-rate.js';
import { openConnections, runClosed, runPaced } from './load-generator.js';
import { withProfileLab, type ProfileLab } from './profile-lab.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
const target = arg('target') ?? 'gateway';
const seconds = Number(arg('seconds') ?? 4);
const depth = Number(arg('depth') ?? 8);
const connections = Number(arg('connections') ?? 8);
const top = Number(arg('top') ?? 25);
const rate = Number(arg('rate') ?? 1000);
const loadKind = arg('load') ?? 'requests';
const callgraph = arg('callgraph');
/** How long the load runs before the window (the JIT's tier-up; the handshake loop needs seconds). */
const warmupMs = Number(arg('warmup') ?? (loadKind === 'handshakes' ? 5000 : 1500));
const SYSCALLS = ['read', 'write', 'writev', 'recvfrom', 'sendto', 'epoll_wait', 'epoll_pwait', 'futex'];

const run = (cmd: string, argv: string[]): Promise<{ out: string; err: string }> =>
  new Promise((resolve, reject) =>
    execFile(cmd, argv, { maxBuffer: 64 * 1024 * 1024 }, (e, out, err) =>
      e ? reject(new Error(`${cmd} ${argv[0]}: ${e.message}\n${err}`)) : resolve({ out, err }),
    ),
  );

async function startTarget(lab: ProfileLab): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const jsNames = ['--perf-basic-prof-only-functions'];
  if (target === 'gateway') {
    const gw = await spawnGateway(
      { dir: join(lab.dir, 'gw'), caDir: lab.pki.caDir, simPort: lab.simPort, upstreamConnections: connections },
      jsNames,
    );
    return { port: gw.info.port as number, pid: gw.pid!, stop: () => gw.stop() };
  }
  if (target === 'pipe') {
    const s = lab.pki.server;
    const pipe = await spawnBenchChild(
      fileURLToPath(new URL('./pipe-child.ts', import.meta.url)),
      [s.cert, s.key, s.bundle, String(lab.simPort)],
      join(lab.dir, 'pipe.log'),
      jsNames,
    );
    return { port: pipe.info.port as number, pid: pipe.pid!, stop: () => pipe.stop() };
  }
  if (target === 'haproxy') {
    mkdirSync(join(lab.dir, 'haproxy'));
    const h = await startHaproxy(join(lab.dir, 'haproxy'), lab.pki, lab.simPort);
    if (!h.ok) throw new Error(`haproxy: ${h.why}`);
    return { port: h.port, pid: h.pid!, stop: () => h.stop() };
  }
  throw new Error(`--target=${target}: one of gateway, pipe, haproxy`);
}

/** `perf stat -x,` lines → count per system call name. */
function syscallCounts(stderr: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of stderr.split('\n')) {
    const f = line.split(',');
    const name = f[2]?.replace('syscalls:sys_enter_', '');
    if (name && Number.isFinite(Number(f[0]))) m.set(name, Number(f[0]));
  }
  return m;
}

/** `perf report --sort pid,X` lines of one thread → [share of all samples, key]. */
function rowsOf(report: string, tid: number): [number, string][] {
  const rows: [number, string][] = [];
  for (const line of report.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\d+):\S+\s+(.*)$/.exec(line);
    if (m && Number(m[2]) === tid) rows.push([Number(m[1]), (m[3] ?? '').trim()]);
  }
  return rows;
}

await withProfileLab('perf-split', async (lab) => {
  const t = await startTarget(lab);
  const data = join(lab.dir, 'perf.data');
  try {
    const endpoint = { port: t.port, tls: lab.pki.client };
    const conns = loadKind === 'handshakes' ? [] : await openConnections(endpoint, connections);
    const load: Promise<{ perSecond: number }> =
      loadKind === 'handshakes'
        ? measureHandshakes(endpoint, { concurrency: connections, durationMs: seconds * 1000 + warmupMs + 1000 })
        : loadKind === 'paced'
          ? runPaced(conns, { rate, durationMs: seconds * 1000 + warmupMs, warmupMs: 1000 })
          : runClosed(conns, { depth, durationMs: seconds * 1000 + warmupMs, warmupMs: 1000 });
    await new Promise((r) => setTimeout(r, warmupMs)); // warm-up done, JIT settled
    const cpu0 = cpuNs(t.pid) ?? NaN;
    const events = SYSCALLS.map((s) => `syscalls:sys_enter_${s}`).join(',');
    const [stat] = await Promise.all([
      run('perf', ['stat', '-x,', '-e', events, '-p', String(t.pid), '--', 'sleep', String(seconds)]),
      run('perf', ['record', '-a', '-e', 'cpu-clock', '-F', '999', '-o', data, '--', 'sleep', String(seconds)]),
      // --callgraph=<file>: the target's own stacks as well, for `perf report -i <file> --children`
      ...(callgraph
        ? [
            run('perf', [
              'record',
              '-g',
              '-e',
              'cpu-clock',
              '-F',
              '1999',
              '-p',
              String(t.pid),
              '-o',
              callgraph,
              '--',
              'sleep',
              String(seconds),
            ]),
          ]
        : []),
    ]);
    const cpuUs = ((cpuNs(t.pid) ?? NaN) - cpu0) / 1000;
    const r = await load;
    for (const c of conns) c.close();
    const requests = r.perSecond * seconds; // the load's rate over the same few seconds (sessions for handshakes)
    const unit = loadKind === 'handshakes' ? 'session' : 'request';
    console.log(
      loadKind === 'handshakes'
        ? `${target}: ${connections} at once, ${Math.round(r.perSecond)} sessions/s (connect + handshake + 1 read + close)`
        : loadKind === 'paced'
          ? `${target}: ${connections} connections, 1 in flight each, paced at ${Math.round(r.perSecond)} req/s`
          : `${target}: ${connections} connections × ${depth} in flight, ${Math.round(r.perSecond)} req/s`,
    );
    console.log(`CPU ${(cpuUs / requests).toFixed(1)} µs per ${unit} (every thread)`);
    const calls = syscallCounts(stat.err);
    console.log(
      `system calls per ${unit}: ${[...calls].map(([k, n]) => `${k} ${(n / requests).toFixed(3)}`).join(', ')}`,
    );
    const report = (sort: string) =>
      run('perf', ['report', '-i', data, '--no-children', '-g', 'none', '--stdio', '--sort', `pid,${sort}`]);
    const dsos = rowsOf((await report('dso')).out, t.pid);
    const thread = dsos.reduce((a, [p]) => a + p, 0);
    console.log(`main thread on CPU, by object (% of its samples):`);
    for (const [p, k] of dsos) console.log(`  ${((100 * p) / thread).toFixed(1).padStart(5)} %  ${k}`);
    console.log(`top ${top} symbols of the main thread (% of its samples):`);
    for (const [p, k] of rowsOf((await report('sym')).out, t.pid).slice(0, top))
      console.log(`  ${((100 * p) / thread).toFixed(1).padStart(5)} %  ${k}`);
  } finally {
    await t.stop();
  }
});
