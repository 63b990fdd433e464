/**
 * Reconnect backoff: exponential with "full jitter" (delay uniform in [0, min(max, initial·2^n)]), so
 * gateways that lost a PLC together do not reconnect in lock-step (REFERENCES §4: reconnect with backoff
 * and jitter). A floor of initialMs/2 keeps a refused PLC from being hammered in a tight loop.
 */
import type { BackoffOptions } from './types.js';

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000 };

export class Backoff {
  readonly #opts: BackoffOptions;
  readonly #random: () => number;
  #failures = 0;

  constructor(opts: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random) {
    if (!(opts.initialMs > 0) || !(opts.maxMs >= opts.initialMs)) {
      throw new RangeError(`backoff: need 0 < initialMs ≤ maxMs, got ${opts.initialMs}/${opts.maxMs}`);
    }
    this.#opts = opts;
    this.#random = random;
  }

  get failures(): number {
    return this.#failures;
  }

  /** Records a failure and returns the delay before the next attempt. */
  fail(): number {
    const ceiling = Math.min(this.#opts.maxMs, this.#opts.initialMs * 2 ** Math.min(this.#failures, 30));
    this.#failures++;
    const floor = this.#opts.initialMs / 2;
    return Math.round(floor + this.#random() * Math.max(0, ceiling - floor));
  }

  /** A connection proved healthy (it answered a request): start over. */
  reset(): void {
    this.#failures = 0;
  }
}
