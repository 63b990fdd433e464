/**
 * A penalty level in [0, 1] that decays exponentially with time: bumped by evidence, forgotten at a known
 * rate. This is what makes recovery from a breach a documented rule instead of an accident: after the
 * behaviour stops, a level of 1 falls below 0.1 in about 2.3 × tau.
 */
export class DecayingLevel {
  private level = 0;
  private at = 0;

  constructor(private readonly tauMs: number) {}

  value(now: number): number {
    if (this.level === 0) return 0;
    const v = this.level * Math.exp(-Math.max(0, now - this.at) / this.tauMs);
    return v < 1e-4 ? 0 : v;
  }

  /** Raises the level to at least `p` (never lowers it: evidence does not cancel evidence). */
  bump(p: number, now: number): void {
    const current = this.value(now);
    this.level = Math.min(1, Math.max(current, p));
    this.at = now;
  }
}

/**
 * A count that decays with time: Σ wᵢ · e^(−(now − tᵢ)/τ). Time-weighted evidence: a burst long ago weighs
 * next to nothing, so a lone request minutes after a burst is judged on its own, not on the burst's average.
 */
export class DecayingSum {
  private sum = 0;
  private at = 0;

  constructor(private readonly tauMs: number) {}

  value(now: number): number {
    if (this.sum === 0) return 0;
    return this.sum * Math.exp(-Math.max(0, now - this.at) / this.tauMs);
  }

  add(w: number, now: number): void {
    this.sum = this.value(now) + w;
    this.at = Math.max(this.at, now);
  }
}

/** Exponentially weighted mean and variance (West's incremental form); alpha is the weight of new data. */
export class Ewma {
  mean = 0;
  variance = 0;
  samples = 0;

  /**
   * With `prior`, the mean starts there (a share starts at 0, so one event is not a 100 % share).
   * With `cumulativeStart`, the first 1/alpha samples are a plain running mean (weight 1/n), so a slow EWMA is
   * not dominated by its very first sample during warm-up.
   */
  constructor(
    private readonly alpha: number,
    private readonly prior?: number,
    private readonly cumulativeStart = false,
  ) {
    if (prior !== undefined) this.mean = prior;
  }

  push(x: number): void {
    this.samples++;
    if (this.samples === 1 && this.prior === undefined) {
      this.mean = x;
      return;
    }
    const alpha = this.cumulativeStart ? Math.max(this.alpha, 1 / this.samples) : this.alpha;
    const diff = x - this.mean;
    const incr = alpha * diff;
    this.mean += incr;
    this.variance = (1 - alpha) * (this.variance + diff * incr);
  }

  get std(): number {
    return Math.sqrt(this.variance);
  }
}
