/**
 * The allocation mode of `npm run bench:profile -- --alloc`: the same closed-loop load as the CPU mode, with
 * V8's sampling heap profiler running in the gateway child (heap-sampler.mjs: objects collected by minor and
 * major GCs are kept, so short-lived per-request garbage counts) from the end of the 1 s warm-up to the end of
 * the load. Prints the bytes allocated per request (the child's own request count over the same window) and
 * the top allocation sites twice: by allocating function, and by the nearest gateway/protocols function on
 * its stack (heapprofile-top.ts), mapped through dist/'s source maps. The `.heapprofile` is kept in --out for
 * Chrome DevTools (Memory tab → Load).
 */
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchChild } from './bench-child.js';
import { formatAllocations, topAllocations, type HeapProfile } from './heapprofile-top.js';
import { runClosed, type ModbusClientConn } from './load-generator.js';
import { sourceMapLocate } from './source-map-locate.js';

export interface AllocWindowOptions {
  readonly depth: number;
  readonly seconds: number;
  readonly top: number;
  /** Where the .heapprofile is kept. */
  readonly out: string;
  readonly log: (m: string) => void;
}

/** The project's own code, as located through the source maps. */
const OWN = /^(gateway|protocols|simulators)\//;

/** The gateway child's CPU time used (user + system, µs) and Modbus requests done so far. */
export interface Usage {
  readonly cpuUs: number;
  readonly requests: number;
}

export const usage = async (gw: BenchChild): Promise<Usage> => (await gw.command('usage')) as unknown as Usage;

/** The gateway's CPU time per request over a window: steadier than req/s when other work shares the machine. */
export function cpuPerRequest(from: Usage, to: Usage): string {
  const n = to.requests - from.requests;
  return n > 0
    ? `gateway CPU ${((to.cpuUs - from.cpuUs) / n).toFixed(1)} µs per request (${n.toLocaleString('en-US')} requests in the window, profiler overhead included)`
    : 'no request in the window';
}

/** Runs the load against `gw` with the heap sampler on, stops the gateway, prints the result. */
export async function allocWindow(gw: BenchChild, conns: ModbusClientConn[], o: AllocWindowOptions): Promise<void> {
  o.log(`${conns.length} connections × ${o.depth} in flight for ${o.seconds} s (after 1 s warm-up), heap sampling`);
  let started: Promise<Usage> | null = null;
  const startTimer = setTimeout(() => {
    started = gw.command('heapStart').then(() => usage(gw));
  }, 1000);
  const r = await runClosed(conns, { depth: o.depth, durationMs: o.seconds * 1000, warmupMs: 1000 });
  clearTimeout(startTimer);
  if (started === null) throw new Error('the heap sampler never started (load shorter than the warm-up?)');
  const fromUsage = await (started as Promise<Usage>);
  const toUsage = await usage(gw);
  const from = fromUsage.requests;
  const to = toUsage.requests;
  const { file } = (await gw.command('heapStop')) as { file?: string; error?: string };
  for (const c of conns) c.close();
  await gw.stop();
  if (file === undefined) throw new Error('the gateway child wrote no heap profile');
  const kept = join(o.out, `gateway.${Date.now()}.heapprofile`);
  copyFileSync(file, kept);
  o.log(
    `${Math.round(r.perSecond).toLocaleString('en-US')} req/s under the heap sampler (slower than unsampled), ${r.failed} failed`,
  );
  if (to > from)
    o.log(
      `gateway CPU ${((toUsage.cpuUs - fromUsage.cpuUs) / (to - from)).toFixed(1)} µs per request (sampler included)`,
    );
  const requests = to - from;
  const result = topAllocations(JSON.parse(readFileSync(kept, 'utf8')) as HeapProfile, {
    top: o.top,
    locate: sourceMapLocate(),
    own: (location) => OWN.test(location),
  });
  const perRequest = requests > 0 ? result.totalBytes / requests : 0;
  process.stdout.write(
    `Allocated in the load window: ${(result.totalBytes / 1024 / 1024).toFixed(0)} MB for ${requests.toLocaleString('en-US')} ` +
      `requests = ${Math.round(perRequest).toLocaleString('en-US')} bytes per request (V8's sampling estimate, ` +
      `objects collected by GC included)\n\nTop ${o.top} allocating functions (bytes, % of all, bytes per request):\n` +
      `${formatAllocations(result.self, requests)}\n\nTop ${o.top} by nearest gateway/protocols caller:\n` +
      `${formatAllocations(result.own, requests)}\n\nProfile: ${kept}\n`,
  );
}
