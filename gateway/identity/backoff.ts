/**
 * Linear retry backoff for Workload API watches, as go-spiffe workloadapi/backoff.go: 1 s, 2 s, 3 s …
 * capped at 30 s, reset after each good message (SPIRE answers PermissionDenied until an entry matches
 * and Unavailable while the agent starts, so retrying is the normal path).
 */
export interface BackoffOptions {
  /** First delay and step, in ms (default 1000). */
  initialMs: number;
  /** Cap, in ms (default 30000). */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };

export class LinearBackoff {
  private attempts = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: Partial<BackoffOptions> = {}) {
    const initialMs = opts.initialMs ?? DEFAULT_BACKOFF.initialMs;
    const maxMs = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
    if (!(initialMs > 0) || !(maxMs >= initialMs)) {
      throw new RangeError(`identity: backoff needs 0 < initialMs <= maxMs (got ${initialMs}, ${maxMs})`);
    }
    this.opts = { initialMs, maxMs };
  }

  /** The delay before the next attempt; each call grows it by one step up to the cap. */
  next(): number {
    this.attempts += 1;
    return Math.min(this.opts.initialMs * this.attempts, this.opts.maxMs);
  }

  reset(): void {
    this.attempts = 0;
  }
}
