/**
 * The low-rate latency window's cost (row 4's 1,000 req/s, 1 in flight per connection): CPU per request of the
 * server, the simulator and the load generator, and how long each waited for a CPU (sched-meter.ts). Between
 * requests every process sleeps and its caches go cold, so a request costs several times what it costs under
 * the throughput loads; on two shared vCPUs the more one process spends, the longer all of them wait, and
 * those waits are the latency rows' tail once steal is out of the window.
 */
import { formatSplit } from './cpu-meter.js';
import type { DataPathOptions, PathResult } from './data-path.js';
import type { Row } from './table.js';

export function pacedCpuRow(n: string, name: string, r: PathResult, o: DataPathOptions): Row | null {
  const { cpu, wait } = r.paced;
  if (!cpu || !wait) return null;
  return {
    n,
    what: `${name}: CPU per request; waited for a CPU per request @ ${o.rate} req/s (server / simulator / load generator)`,
    value: `${formatSplit(cpu)}; ${formatSplit(wait)}`,
  };
}
