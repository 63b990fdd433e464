/** What a measured window's row says about it beside its figures: failures, and an open loop that fell behind. */
import type { RunResult } from './load-generator.js';
import { perSec } from './table.js';

export const failedOf = (...r: RunResult[]): number => r.reduce((a, x) => a + x.failed, 0);

export const fails = (...r: RunResult[]): string => (failedOf(...r) === 0 ? '' : `, ${failedOf(...r)} failed`);

/** Open loop: say so when the path could not keep up with the offered rate (`inner`: already in parentheses). */
export const short = (r: RunResult, rate: number, inner = false): string =>
  r.perSecond >= 0.95 * rate
    ? ''
    : inner
      ? `; only ${perSec(r.perSecond)} served`
      : ` (only ${perSec(r.perSecond)} served)`;

/** An open-loop window that kept up with its rate and failed nothing: one a latency aim may be judged on. */
export const served = (r: RunResult, rate: number): boolean => r.perSecond >= 0.95 * rate && r.failed === 0;
