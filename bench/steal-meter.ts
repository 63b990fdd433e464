/**
 * Time the hypervisor took from this machine's vCPUs while a window was measured: the `steal` column of
 * /proc/stat's `cpu` line, as a share of all CPU time in the window [proc(5): "steal: stolen time, which is the
 * time spent in other operating systems when running in a virtualized environment"].
 *
 * On the 2-vCPU VM this bench runs on, steal comes in bursts, up to 43 % for tens of seconds to minutes. The direct path
 * (client → simulator, no proxy) at 1,000 req/s, 30 windows of 3 s: p99 0.29–0.39 ms in the 17 windows with
 * steal ≤ 0.35 %, 0.42–22 ms in the 13 with 2.5 % or more. A p99 is the 30th slowest of 3,000 answers, so one
 * burst of a few tens of ms decides it: the measurement is then of the host, not of a proxy. So each window's
 * steal is recorded with its result, and a latency window measured with more than `STEAL_LIMIT_PCT` (an
 * alternating pair: `PAIR_STEAL_LIMIT_PCT`) is measured again (a bounded number of times, the same rule for every path), keeping the
 * one with the least steal; the rows print what was kept and what was redone, so nothing is dropped silently.
 */
import { readFileSync } from 'node:fs';

/** Above this share of steal in a latency window, the window is measured again (when tries are left). */
export const STEAL_LIMIT_PCT = 0.5;
/**
 * The same for an alternating pair (throughput, handshakes, gRPC). A rate moves with the CPU a window lost, about one
 * for one, not with one burst as a p99 does; under full load steal above 0.5 % is common on this VM, and redoing
 * every such pair would multiply the run's length and the gateway's audit volume.
 */
export const PAIR_STEAL_LIMIT_PCT = 2;
/** Measurements of one window at most (the first and three more). */
export const STEAL_TRIES = 4;
/** Before measuring a window again: bursts last tens of seconds, so the tries are spread over about half a minute. */
export const STEAL_PAUSE_MS = 5000;

export interface CpuTicks {
  /** Every state of every CPU, in clock ticks (user … steal; guest time is already inside user). */
  readonly total: number;
  readonly steal: number;
}

/** The aggregate `cpu` line of /proc/stat; null when there is none (not Linux) or it has no steal column. */
export function parseCpuTicks(stat: string): CpuTicks | null {
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  const f = line?.trim().split(/\s+/).slice(1, 9).map(Number) ?? [];
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return null;
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7]! };
}

const readProcStat = (): string => readFileSync('/proc/stat', 'utf8');

export function readCpuTicks(read: () => string = readProcStat): CpuTicks | null {
  try {
    return parseCpuTicks(read());
  } catch {
    return null; // no /proc: no reading, the window is kept as measured
  }
}

/** Starts a window; the returned function ends it: steal in % of all CPU time in it, undefined without a reading. */
export function startStealWindow(read?: () => string): () => number | undefined {
  const a = readCpuTicks(read);
  return () => {
    const b = readCpuTicks(read);
    if (a === null || b === null || b.total <= a.total) return undefined;
    return (100 * (b.steal - a.steal)) / (b.total - a.total);
  };
}

/** A measurement that knows its window's steal (undefined: no reading), and its failures if it counts them. */
export interface StealAware {
  readonly stealPct?: number | undefined;
  readonly failed?: number;
}

/**
 * What `leastSteal` kept: the measurement with the least steal, the steal of every other try (discarded), and
 * `failed` summed over all tries, so a failure in a discarded try still counts.
 */
export type Kept<T> = T & { readonly discardedSteal: readonly number[] };

const over = (s: number | undefined, limitPct: number): boolean => s !== undefined && s > limitPct;

/**
 * Runs `measure` until a result's steal is at most `limitPct`, `tries` times at most, `pauseMs` apart, and keeps
 * the result with the least steal (the first when none has a reading); see Kept.
 */
export async function leastSteal<T extends StealAware>(
  measure: () => Promise<T>,
  o: { tries?: number; limitPct?: number; pauseMs?: number } = {},
): Promise<Kept<T>> {
  const tries = o.tries ?? STEAL_TRIES;
  const limit = o.limitPct ?? STEAL_LIMIT_PCT;
  const all: T[] = [await measure()];
  while (all.length < tries && over(all.at(-1)!.stealPct, limit)) {
    await new Promise((r) => setTimeout(r, o.pauseMs ?? STEAL_PAUSE_MS));
    all.push(await measure());
  }
  const best = all.reduce((a, b) => ((b.stealPct ?? Infinity) < (a.stealPct ?? Infinity) ? b : a));
  const discardedSteal = all.filter((r) => r !== best).map((r) => r.stealPct ?? NaN);
  const failed = best.failed === undefined ? {} : { failed: all.reduce((n, r) => n + (r.failed ?? 0), 0) };
  return { ...best, ...failed, discardedSteal };
}

const pct = (s: number): string => (Number.isNaN(s) ? '?' : s.toFixed(1));
const discardedText = (d: readonly number[]): string =>
  d.length === 0 ? '' : ` (${d.length} discarded: ${d.map(pct).join(', ')})`;

/**
 * "; steal 0.3 / 0.5 %" for windows kept by leastSteal (in order), each with the tries discarded for it:
 * "; steal 0.3 (2 discarded: 18.0, 31.0) / 0.5 %". '' when no window has a reading.
 */
export function stealNote(windows: readonly (StealAware & { readonly discardedSteal?: readonly number[] })[]): string {
  if (windows.every((w) => w.stealPct === undefined)) return '';
  const each = windows.map(
    (w) => (w.stealPct === undefined ? '–' : pct(w.stealPct)) + discardedText(w.discardedSteal ?? []),
  );
  return `; steal ${each.join(' / ')} %`;
}

/** "; steal ≤ 1.2 %" over alternating pairs (the worst kept pair), with the pairs' discarded tries. */
export function pairsStealNote(p: {
  readonly steal?: readonly number[];
  readonly discardedSteal?: readonly number[];
}): string {
  const kept = (p.steal ?? []).filter((s) => !Number.isNaN(s));
  if (kept.length === 0) return '';
  return `; steal ≤ ${pct(Math.max(...kept))} %${discardedText(p.discardedSteal ?? [])}`;
}

/**
 * An aim judged on windows of which some were kept over `STEAL_LIMIT_PCT` (no try came under it) is not met: its
 * verdict would be the host's. Returns the note naming them ('' when every window is clean or has no reading).
 */
export function uncleared(windows: Readonly<Record<string, StealAware | undefined>>): string {
  const names = Object.entries(windows)
    .filter(([, w]) => over(w?.stealPct, STEAL_LIMIT_PCT))
    .map(([name, w]) => `${name} ${pct(w!.stealPct!)} %`);
  return names.length === 0
    ? ''
    : ` — not met: steal over ${STEAL_LIMIT_PCT} % in the kept window (${names.join(', ')})`;
}
