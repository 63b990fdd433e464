/**
 * The one time seam of the gateway: every stateful module that reads the clock or arms a timer takes a
 * `Timers` (device pool, PROFINET client, identity source and Workload API watch, session gatekeeper and
 * handshake guard, trust runtime). Production passes `systemTimers` (or `monotonicTimers` where only elapsed
 * time matters); tests pass test/helpers/fake-timers.ts and move time with `advance(ms)` instead of sleeping,
 * as undici routes its timers through lib/util/timers.js and drives them with fake timers in its tests.
 * See docs/architecture.md ("Timing model").
 */
import { performance } from 'node:perf_hooks';

/** Opaque handle of an armed timer (Node: a Timeout object; fake timers: a number); only the `Timers` that armed it can clear it. */
export type TimerHandle = object | number;

export interface Timers {
  /** Milliseconds on this timer source's clock (see `systemTimers` / `monotonicTimers`). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Clears a timeout or an interval (as Node's clearTimeout does); an unknown or undefined handle is ignored. */
  clearTimeout(handle: TimerHandle | null | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
}

/**
 * Node timers overflow above 2^31−1 ms (they then fire after 1 ms): callers waiting longer (SVID lifetimes)
 * re-arm in steps of at most this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

function nodeTimers(now: () => number): Timers {
  return {
    now,
    setTimeout: (fn, ms) => setTimeout(fn, Math.min(MAX_TIMER_MS, Math.max(0, ms))),
    clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
    setInterval: (fn, ms) => setInterval(fn, Math.min(MAX_TIMER_MS, Math.max(1, ms))),
  };
}

/** Real timers; `now()` is wall-clock epoch ms, the clock certificates, grants, locks and audit records use. */
export const systemTimers: Timers = nodeTimers(() => Date.now());

/** Real timers; `now()` is monotonic (performance.now), for deadlines and latencies that must not jump with NTP. */
export const monotonicTimers: Timers = nodeTimers(() => performance.now());

/**
 * Lets the process exit while this timer is armed (housekeeping, expiry watches). A no-op on handles that are
 * not Node timers (fake timers), so modules call it whatever `Timers` they were given.
 */
export function unrefTimer(handle: TimerHandle): TimerHandle {
  const h = handle as { unref?: () => unknown } | null | undefined;
  if (h !== null && h !== undefined && typeof h.unref === 'function') h.unref();
  return handle;
}
