/**
 * Where a process's RSS is, for row 7's base (bench child command `memSplit`): after a full GC (when node runs
 * with --expose-gc), process.memoryUsage(), V8's heap spaces and code statistics, and the resident KB of
 * /proc/self/smaps summed by mapping (the node binary, [heap], anonymous, each shared library). Linux only for
 * the smaps part (empty elsewhere).
 */
import { readFileSync } from 'node:fs';
import { getHeapCodeStatistics, getHeapSpaceStatistics } from 'node:v8';

const kb = (n) => Math.round(n / 1024);

/** Resident KB per mapping name ('' → '[anon]'), largest first. */
function smapsByMapping() {
  let text;
  try {
    text = readFileSync('/proc/self/smaps', 'utf8');
  } catch {
    return {};
  }
  const totals = new Map();
  let name = '[anon]';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1] || '[anon]';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) totals.set(name, (totals.get(name) ?? 0) + Number(rss[1]));
  }
  return Object.fromEntries([...totals].filter(([, v]) => v >= 64).sort((a, b) => b[1] - a[1]));
}

export function memorySplit() {
  globalThis.gc?.();
  const mu = process.memoryUsage();
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [s.space_name, { sizeKb: kb(s.space_size), usedKb: kb(s.space_used_size) }]),
  );
  const code = Object.fromEntries(Object.entries(getHeapCodeStatistics()).map(([k, v]) => [k, kb(v)]));
  return {
    memoryUsageKb: Object.fromEntries(Object.entries(mu).map(([k, v]) => [k, kb(v)])),
    spaces,
    code,
    smapsKb: smapsByMapping(),
  };
}
