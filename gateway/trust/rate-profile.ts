/**
 * How many requests an identity sends in a second, learned per ACTIVE second (a second with at least one
 * request): idle time is not habit. An HMI idle for half a minute that then refreshes a screen is judged
 * against its usual batch of requests, not against thirty empty seconds [IEC 62443-3-3 SR 1.1 guidance: the
 * security layer must not block normal control work].
 *
 * Habitual batch B = the 95th percentile of requests per active second (exact over the warm-up seconds, then
 * tracked by stochastic approximation: +0.95 % of B per active second above it, −0.05 % per second below it, so
 * the habit rises by at most ~1 % per active second and a ramp faster than that is judged against the old
 * habit). Allowance A = max(RATE_FLOOR, BATCH_FACTOR × B). Judged only after `warmupSeconds` active seconds.
 * - rate: the open second's count c > A bumps `rate` to min(1, (c − A) / A).
 * - drift: Page's CUSUM over closed active seconds, S = max(0, S + c − A), bumps `drift` to min(1, S / (4A)):
 *   a sustained excess over the allowance that stays below a spike still accumulates.
 */
import type { DecayingLevel } from './decaying-level.js';

/** Requests in one second that are never a spike, whatever the habit (a screen tour, a shift-change burst). */
export const RATE_FLOOR = 40;
/** How far above its habitual batch an identity may go in one second (historian catch-up, alarm flurry). */
export const BATCH_FACTOR = 4;
/** CUSUM decision interval, in allowances. */
export const DRIFT_SPAN = 4;
const QUANTILE = 0.95;
/** Step of the percentile tracker, relative to the current batch. */
const QUANTILE_STEP = 0.01;

export class RateProfile {
  /** Learned active seconds: the warm-up clock is active time, not elapsed time. */
  private learned = 0;
  private readonly warmupCounts: number[] = [];
  private batch = 0;
  private second = -1;
  private count = 0;
  /** False once any request of the open second arrived while not learning: that second is then never learned. */
  private secondLearning = true;
  private cusum = 0;

  constructor(
    private readonly warmupSeconds: number,
    private readonly rate: DecayingLevel,
    private readonly drift: DecayingLevel,
  ) {}

  get activeSeconds(): number {
    return this.learned;
  }

  get warm(): boolean {
    return this.activeSeconds >= this.warmupSeconds;
  }

  /** Requests in one second beyond which traffic is outside this identity's habit. */
  allowance(): number {
    return Math.max(RATE_FLOOR, BATCH_FACTOR * this.batch);
  }

  /** The habitual batch: 95th percentile of requests per active second. */
  habitualBatch(): number {
    return this.batch;
  }

  onRequest(now: number, learning: boolean): void {
    const s = Math.floor(now / 1000);
    if (this.second < 0) this.second = s;
    if (s > this.second) {
      // Evidence is dated to the second it belongs to, so it has decayed by the time a late request looks.
      this.closeSecond(learning, Math.min(now, (this.second + 1) * 1000));
      this.second = s;
      this.count = 0;
      this.secondLearning = true;
    }
    this.secondLearning &&= learning;
    this.count++;
    if (!this.warm) return;
    const a = this.allowance();
    if (this.count > a) this.rate.bump(Math.min(1, (this.count - a) / a), now);
  }

  /** On entering a breach: the drift that caused it is on record; it must not keep the breach alive. */
  resetDrift(): void {
    this.cusum = 0;
  }

  private closeSecond(learning: boolean, at: number): void {
    const c = this.count;
    if (c === 0) return;
    // A second is learned only if nothing in it (nor the identity now) was in breach; in breach the drift sum
    // is frozen too: it measures departure from a habit that is not learning then.
    const learn = this.secondLearning && learning;
    if (!learn) return;
    const a = this.allowance();
    if (this.warm) {
      this.cusum = Math.max(0, this.cusum + c - a);
      if (this.cusum > 0) this.drift.bump(Math.min(1, this.cusum / (DRIFT_SPAN * a)), at);
    }
    this.learn(c);
  }

  private learn(c: number): void {
    this.learned++;
    if (this.learned <= this.warmupSeconds) {
      this.warmupCounts.push(c);
      const sorted = [...this.warmupCounts].sort((x, y) => x - y);
      this.batch = sorted[Math.min(sorted.length - 1, Math.floor(QUANTILE * sorted.length))] ?? c;
      if (this.learned === this.warmupSeconds) this.warmupCounts.length = 0;
      return;
    }
    const step = QUANTILE_STEP * Math.max(this.batch, 1);
    this.batch = Math.max(0, this.batch + (c > this.batch ? QUANTILE * step : -(1 - QUANTILE) * step));
  }
}
