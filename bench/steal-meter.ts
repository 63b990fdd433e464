/**
 * Time the hypervisor took from this machine's vCPUs while a window was measured: the `steal` column of
 * /proc/stat's `cpu` line, as a share of all CPU time in the window [proc(5): "steal: stolen time, which is the
 * time spent in other operating systems when running in a virtualized environment"].
 *
 * On the 2-vCPU VM this bench runs on, steal comes in bursts, up to 39 % for tens of seconds. The direct path
 * (client → simulator, no proxy) at 1,000 req/s, 30 windows of 3 s: p99 0.29–0.39 ms in the 17 windows with
 * steal ≤ 0.35 %, 0.42–22 ms in the 13 with 2.5 % or more. A p99 is the 30th slowest of 3,000 answers, so one
 * burst of a few tens of ms decides it: the measurement is then of the host, not of a proxy. So each window's
 * steal is recorded with its result, and a latency window or a throughput pair measured with more than
 * `STEAL_LIMIT_PCT` is measured again (a bounded number of times, the same rule for every path), keeping the
 * one with the least steal; the rows print what was kept and what was redone, so nothing is dropped silently.
 */
import { readFileSync } from 'node:fs';

/** Above this share of steal in a latency window, the window is measured again (when tries are left). */
export const STEAL_LIMIT_PCT = 0.5;
/**
 * The same for an alternating pair (throughput, handshakes). A rate moves with the CPU a window lost, about one
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

/** A measurement that knows its window's steal (undefined: no reading). */
export interface StealAware {
  readonly stealPct?: number | undefined;
}

/** What `leastSteal` kept: the measurement, and the steal of each one measured again instead. */
export type Kept<T> = T & { readonly redoneSteal: readonly number[] };

const over = (s: number | undefined, limitPct: number): boolean => s !== undefined && s > limitPct;

/**
 * Runs `measure` until a result's steal is at most `limitPct`, `tries` times at most, `pauseMs` apart, and keeps
 * the result with the least steal (the first when none has a reading). `redoneSteal`: the steal of every other one.
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
  const redoneSteal = all.filter((r) => r !== best).map((r) => r.stealPct ?? NaN);
  return { ...best, redoneSteal };
}

const redoneText = (redone: readonly number[]): string =>
  redone.length === 0
    ? ''
    : ` (${redone.length} redone after ${redone.map((s) => (Number.isNaN(s) ? '?' : `${s.toFixed(0)} %`)).join(', ')})`;

/**
 * "; steal 0.3 / 0.5 %" for windows kept by leastSteal (in order), with the ones measured again:
 * "; steal 0.3 / 0.5 % (1 redone after 18 %)". '' when no window has a reading.
 */
export function stealNote(windows: readonly (StealAware & { readonly redoneSteal?: readonly number[] })[]): string {
  if (windows.every((w) => w.stealPct === undefined)) return '';
  const kept = windows.map((w) => (w.stealPct === undefined ? '–' : w.stealPct.toFixed(1))).join(' / ');
  return `; steal ${kept} %${redoneText(windows.flatMap((w) => w.redoneSteal ?? []))}`;
}

/** "; steal ≤ 1.2 %" over alternating pairs (the worst kept pair), with the pairs measured again. */
export function pairsStealNote(p: {
  readonly steal?: readonly number[];
  readonly redoneSteal?: readonly number[];
}): string {
  const kept = (p.steal ?? []).filter((s) => !Number.isNaN(s));
  if (kept.length === 0) return '';
  return `; steal ≤ ${Math.max(...kept).toFixed(1)} %${redoneText(p.redoneSteal ?? [])}`;
}
