/**
 * CPU time per request of each process on a path: the server under test (gateway, terminator or pipe), the
 * simulator behind it and the load generator (this process). On a 2-core machine the three share the cores,
 * so a path's throughput is bounded by their CPU per request summed, not by the server's alone; this is what
 * tells "the gateway spends more per request" apart from "the machine was busy".
 *
 * Read from /proc/<pid>/task/<tid>/schedstat (first field: nanoseconds on a CPU, every thread, so haproxy's
 * and ghostunnel's threads and Node's helper threads count), at the start and end of a measured window.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface CpuProcs {
  readonly server?: number;
  readonly sim?: number;
}

/** µs of CPU per request over a window; undefined for a process that was not there or not readable. */
export interface CpuSplit {
  readonly server?: number;
  readonly sim?: number;
  readonly client: number;
}

/** Nanoseconds on a CPU of every thread of `pid` so far, or undefined when /proc cannot say (not Linux, gone). */
export function cpuNs(pid: number): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const f = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8');
      ns += Number(f.slice(0, f.indexOf(' ')));
    }
    return ns;
  } catch {
    return undefined;
  }
}

const diffUs = (a: number | undefined, b: number | undefined, n: number): number | undefined =>
  a === undefined || b === undefined || n <= 0 ? undefined : (b - a) / 1000 / n;

/** Starts a window; the returned function ends it and divides each process's CPU by `requests`. */
export function startCpuWindow(p: CpuProcs): (requests: number) => CpuSplit {
  const server0 = p.server === undefined ? undefined : cpuNs(p.server);
  const sim0 = p.sim === undefined ? undefined : cpuNs(p.sim);
  const client0 = cpuNs(process.pid);
  return (requests) => {
    const server = p.server === undefined ? undefined : diffUs(server0, cpuNs(p.server), requests);
    const sim = p.sim === undefined ? undefined : diffUs(sim0, cpuNs(p.sim), requests);
    const client = diffUs(client0, cpuNs(process.pid), requests) ?? NaN;
    return { ...(server === undefined ? {} : { server }), ...(sim === undefined ? {} : { sim }), client };
  };
}

/** "12.3 / 4.5 / 6.7 µs" (server / simulator / load generator), "–" where a process was not measured. */
export function formatSplit(s: CpuSplit): string {
  const f = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(1));
  return `${f(s.server)} / ${f(s.sim)} / ${f(s.client)} µs`;
}

/** The three summed: what one request costs the machine on this path. */
export const totalUs = (s: CpuSplit): number => (s.server ?? 0) + (s.sim ?? 0) + s.client;
