/**
 * How long each process on a path waited for a CPU while it could run, per request: the second field of
 * /proc/<pid>/task/<tid>/schedstat, "time spent waiting on a runqueue" [kernel Documentation/scheduler/
 * sched-stats.rst], summed over the process's threads.
 *
 * At 1,000 req/s the three processes (load generator, server, simulator) share two vCPUs and each is woken about
 * twice per request, often onto the vCPU of the process that woke it: a server that spends more CPU per request
 * keeps the others waiting longer, and waits longer itself. This is what the latency rows' tail is made of once
 * the hypervisor's steal is out of the window (steal-meter.ts), so a row per path prints it. Threads that end
 * during a window drop out of the sum (the figure is then too low, or missing if the sum fell; cpu-meter.ts
 * keeps them); the servers measured here keep their threads for the window.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { startSplitWindow, type CpuProcs, type CpuSplit } from './cpu-meter.js';

/** Nanoseconds `pid`'s threads (those alive now) have waited on a runqueue; undefined when /proc cannot say. */
export function waitNs(pid: number, proc = '/proc'): number | undefined {
  try {
    let ns = 0;
    for (const tid of readdirSync(`${proc}/${pid}/task`)) {
      const f = readFileSync(`${proc}/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/);
      const wait = Number(f[1]);
      if (f.length < 3 || !Number.isFinite(wait)) return undefined;
      ns += wait;
    }
    return ns;
  } catch {
    return undefined; // no schedstat (kernel without CONFIG_SCHED_INFO), or the process is gone
  }
}

/** Starts a window; the returned function ends it: µs each process waited for a CPU per request. */
export const startWaitWindow = (p: CpuProcs, proc = '/proc'): ((requests: number) => CpuSplit) =>
  startSplitWindow(p, (pid) => waitNs(pid, proc));
