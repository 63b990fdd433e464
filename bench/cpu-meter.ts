/**
 * CPU time per request of each process on a path: the server under test (gateway, terminator or pipe), the
 * simulator behind it and the load generator (this process). On a 2-core machine the three share the cores,
 * so a path's throughput is bounded by their CPU per request summed, not by the server's alone; this is what
 * tells "the gateway spends more per request" apart from "the machine was busy".
 *
 * Read from /proc/<pid>/stat at the start and end of a measured window: utime + stime cover every thread, also
 * those that ended in the window (stunnel's thread per connection), and cutime + cstime the children it
 * reaped (a forking server); clock ticks, so a window should hold thousands of requests.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The processes to measure; an absent (undefined) pid is simply not measured. */
export interface CpuProcs {
  readonly server?: number | undefined;
  readonly sim?: number | undefined;
}

/** µs of CPU per request over a window; undefined for a process that was not there or not readable. */
export interface CpuSplit {
  readonly server?: number;
  readonly sim?: number;
  readonly client: number;
}

let tickNs: number | undefined;
function nsPerTick(): number {
  if (tickNs === undefined) {
    let hz = 100;
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      // no getconf: Linux's USER_HZ is 100 on every common architecture
    }
    tickNs = 1e9 / hz;
  }
  return tickNs;
}

/** CPU nanoseconds `pid` (all its threads, and the children it reaped) used so far; undefined when /proc cannot say. */
export function cpuNs(pid: number): number | undefined {
  try {
    // the fields after "(comm) ": state is [0], utime [11], stime [12], cutime [13], cstime [14] [proc(5)]
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return Number.isFinite(ticks) ? ticks * nsPerTick() : undefined;
  } catch {
    return undefined;
  }
}

/** b − a in µs per request; undefined without both readings or requests, or when the counter went back. */
const diffUs = (a: number | undefined, b: number | undefined, n: number): number | undefined =>
  a === undefined || b === undefined || n <= 0 || b < a ? undefined : (b - a) / 1000 / n;

/**
 * Starts a window over a per-process nanosecond counter (`readNs`, undefined: no reading); the returned function
 * ends it and divides each process's growth by `requests`. The load generator is this process.
 */
export function startSplitWindow(
  p: CpuProcs,
  readNs: (pid: number) => number | undefined,
): (requests: number) => CpuSplit {
  const at = (pid: number | undefined): number | undefined => (pid === undefined ? undefined : readNs(pid));
  const server0 = at(p.server);
  const sim0 = at(p.sim);
  const client0 = at(process.pid);
  return (requests) => {
    const server = diffUs(server0, at(p.server), requests);
    const sim = diffUs(sim0, at(p.sim), requests);
    const client = diffUs(client0, at(process.pid), requests) ?? NaN;
    return { ...(server === undefined ? {} : { server }), ...(sim === undefined ? {} : { sim }), client };
  };
}

/** Starts a window; the returned function ends it and divides each process's CPU by `requests`. */
export const startCpuWindow = (p: CpuProcs): ((requests: number) => CpuSplit) => startSplitWindow(p, cpuNs);

/** "12.3 / 4.5 / 6.7 µs" (server / simulator / load generator), "–" where a process was not measured. */
export function formatSplit(s: CpuSplit): string {
  const f = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(1));
  return `${f(s.server)} / ${f(s.sim)} / ${f(s.client)} µs`;
}

/** The three summed: what one request costs the machine on this path. */
export const totalUs = (s: CpuSplit): number => (s.server ?? 0) + (s.sim ?? 0) + s.client;
