/** Per identity × rule token buckets for a rule's `rate: N/s` [IEC 62443-3-3 SR 7.1 load management]. */
import type { RateNeed } from './runtime-gate.js';

interface Bucket {
  tokens: number;
  at: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /**
   * Charges a verdict's rate obligations (gateway/policy/compiled-policy.ts): one token of the granting rule's
   * bucket or, when several rate-limited rules granted parts of the request (`rates`), one of each bucket — all
   * or none, so a refused request spends nothing. The rule id of an empty bucket, else null.
   */
  charge(
    identity: string,
    obligations: { readonly rate?: RateNeed; readonly rates?: readonly RateNeed[] } | undefined,
    now: number,
  ): string | null {
    const rates = obligations?.rates;
    if (rates !== undefined) return this.takeEach(identity, rates, now);
    const rate = obligations?.rate;
    if (rate === undefined) return null;
    return this.take(`${identity}|${rate.ruleId}`, rate.perSecond, now) ? null : rate.ruleId;
  }

  /** Takes one token; false when the bucket is empty. Capacity is one second's worth (at least 1). */
  take(key: string, perSecond: number, now: number): boolean {
    const b = this.refilled(key, perSecond, now);
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    return ok;
  }

  private takeEach(identity: string, rates: readonly RateNeed[], now: number): string | null {
    const buckets = rates.map((r) => this.refilled(`${identity}|${r.ruleId}`, r.perSecond, now));
    const empty = buckets.findIndex((b) => b.tokens < 1);
    if (empty >= 0) return rates[empty]?.ruleId ?? null;
    for (const b of buckets) b.tokens -= 1;
    return null;
  }

  /** The bucket of `key`, refilled up to `now` (refilling twice at one instant adds nothing). */
  private refilled(key: string, perSecond: number, now: number): Bucket {
    const capacity = Math.max(1, perSecond);
    let b = this.buckets.get(key);
    if (b === undefined) {
      b = { tokens: capacity, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(capacity, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    return b;
  }
}
