/**
 * The simulators' time seam: scan delays, slow-fault delays, the process models' tick, restart downtime, RTU
 * line timing and the PROFINET device's AR sweep and answer delays all go through a `SimTimers`, so a test can
 * drive a simulated device's clock instead of waiting for it. Simulators may not import gateway/
 * (docs/architecture.md "What may import what"), so this is their own copy of the gateway's `Timers` shape
 * (gateway/timers.ts): any object with these four methods serves both, e.g. test/helpers/fake-timers.ts.
 */
import { performance } from 'node:perf_hooks';

/** Opaque handle of an armed timer; only the `SimTimers` that armed it can clear it. */
export type SimTimerHandle = object | number;

export interface SimTimers {
  /** Milliseconds on this timer source's clock (real: monotonic, for elapsed times on a line). */
  now(): number;
  setTimeout(fn: () => void, ms: number): SimTimerHandle;
  /** Clears a timeout or an interval; an unknown or undefined handle is ignored. */
  clearTimeout(handle: SimTimerHandle | null | undefined): void;
  setInterval(fn: () => void, ms: number): SimTimerHandle;
}

/** Node's timers, on the monotonic clock (performance.now). */
export const realSimTimers: SimTimers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, Math.max(1, ms)),
};

/** Lets a stopping process exit while this timer is armed; a no-op for handles that are not Node timers. */
export function unrefSimTimer(handle: SimTimerHandle): SimTimerHandle {
  const h = handle as { unref?: () => unknown } | null | undefined;
  if (h !== null && h !== undefined && typeof h.unref === 'function') h.unref();
  return handle;
}

/** Resolves after `ms` on `timers` (restart downtime). */
export function sleepOn(timers: SimTimers, ms: number): Promise<void> {
  return new Promise<void>((resolve) => timers.setTimeout(resolve, ms));
}
