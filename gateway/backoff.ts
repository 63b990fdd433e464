/**
 * Retry backoff: one interface, two strategies, passed in by whoever retries (as go-spiffe passes its
 * BackoffStrategy to the Workload API client and counts retries in its tests).
 *  - `LinearBackoff`: initial, 2·initial, 3·initial … capped (go-spiffe workloadapi/backoff.go), for Workload API
 *    watches: SPIRE answers PermissionDenied until an entry matches and Unavailable while the agent starts, so
 *    retrying is the normal path and a steady, predictable pace is what an operator wants to read in the logs.
 *  - `ExponentialBackoff`: exponential with "full jitter" (delay uniform in [floor, min(max, initial·2^n)]) for
 *    PLC reconnects, so gateways that lost a PLC together do not reconnect in lock-step; the floor of initial/2
 *    keeps a refusing PLC from being hammered in a tight loop.
 * Invalid options are a programmer/config error: RangeError (config paths validate before, see pool-options.ts).
 */

export interface BackoffOptions {
  /** First delay (and, linear, the step), in ms. */
  readonly initialMs: number;
  /** Cap, in ms. */
  readonly maxMs: number;
}

export interface Backoff {
  /** Records a failed attempt and returns the delay before the next one. */
  next(): number;
  /** An attempt succeeded (a good message, an answered request): start over. */
  reset(): void;
  /** Failed attempts since the last reset. */
  readonly attempts: number;
}

/** Workload API watches (go-spiffe defaults): 1 s steps, capped at 30 s. */
export const WATCH_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };
/** PLC reconnects: from 100 ms, capped at 10 s. */
export const RECONNECT_BACKOFF: BackoffOptions = { initialMs: 100, maxMs: 10_000 };

/** Why these options are unusable, or null when they are fine. */
export function backoffProblem(o: BackoffOptions): string | null {
  return o.initialMs > 0 && o.maxMs >= o.initialMs
    ? null
    : `backoff needs 0 < initialMs ≤ maxMs, got ${o.initialMs}/${o.maxMs}`;
}

function checked(o: BackoffOptions): BackoffOptions {
  const problem = backoffProblem(o);
  if (problem !== null) throw new RangeError(problem);
  return { initialMs: o.initialMs, maxMs: o.maxMs };
}

export class LinearBackoff implements Backoff {
  readonly #o: BackoffOptions;
  #attempts = 0;

  constructor(opts: Partial<BackoffOptions> = {}) {
    this.#o = checked({
      initialMs: opts.initialMs ?? WATCH_BACKOFF.initialMs,
      maxMs: opts.maxMs ?? WATCH_BACKOFF.maxMs,
    });
  }

  get attempts(): number {
    return this.#attempts;
  }

  next(): number {
    this.#attempts += 1;
    return Math.min(this.#o.initialMs * this.#attempts, this.#o.maxMs);
  }

  reset(): void {
    this.#attempts = 0;
  }
}

export class ExponentialBackoff implements Backoff {
  readonly #o: BackoffOptions;
  readonly #random: () => number;
  #attempts = 0;

  /** `random` returns [0, 1) (Math.random by default); tests pass a constant to pin the jitter. */
  constructor(opts: BackoffOptions = RECONNECT_BACKOFF, random: () => number = Math.random) {
    this.#o = checked(opts);
    this.#random = random;
  }

  get attempts(): number {
    return this.#attempts;
  }

  next(): number {
    const ceiling = Math.min(this.#o.maxMs, this.#o.initialMs * 2 ** Math.min(this.#attempts, 30));
    this.#attempts += 1;
    const floor = this.#o.initialMs / 2;
    return Math.round(floor + this.#random() * Math.max(0, ceiling - floor));
  }

  reset(): void {
    this.#attempts = 0;
  }
}
