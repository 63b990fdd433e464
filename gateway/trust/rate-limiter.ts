/** Per identity × rule token buckets for a rule's `rate: N/s` [IEC 62443-3-3 SR 7.1 load management]. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** Takes one token; false when the bucket is empty. Capacity is one second's worth (at least 1). */
  take(key: string, perSecond: number, now: number): boolean {
    const capacity = Math.max(1, perSecond);
    const b = this.buckets.get(key) ?? { tokens: capacity, at: now };
    b.tokens = Math.min(capacity, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    return ok;
  }
}
