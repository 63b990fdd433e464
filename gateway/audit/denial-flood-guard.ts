/**
 * Disconnects and holds off an identity whose requests are denied in a flood [IEC 62443-3-3 SR 7.1 DoS
 * protection; SR 2.9]: more than `denials` denials within `withinMs` (a leaky bucket: a burst of that many, or
 * a sustained rate above denials/withinMs) trips it. The hold-off doubles with each repeat flood, up to
 * `maxHoldOffMs`; an identity quiet for `maxHoldOffMs` after its last hold-off starts again at `holdOffMs`.
 * The guard only decides; `holdOff` acts (main.ts: a lock on the identity with an expiry, by `verigate`,
 * reason `denial-flood` — it ends live sessions, refuses admission and is audited as lock.created).
 * Memory is bounded: at most `maxTracked` identities (the oldest is forgotten first).
 */

export interface DenialFloodOptions {
  /** Trip when more than this many denials fall within `withinMs`. */
  readonly denials: number;
  readonly withinMs: number;
  /** First hold-off; each repeat doubles it. */
  readonly holdOffMs: number;
  readonly maxHoldOffMs: number;
  /** Identities tracked at once (default 4096). */
  readonly maxTracked?: number;
}

export interface HoldOff {
  readonly identity: string;
  /** When the hold-off ends (clock ms). */
  readonly until: number;
  readonly holdMs: number;
  /** 1 for the first flood, 2 for the next… */
  readonly strike: number;
}

interface Bucket {
  level: number;
  at: number;
}

interface Strikes {
  n: number;
  until: number;
}

const DEFAULT_MAX_TRACKED = 4096;

export class DenialFloodGuard {
  private readonly buckets = new Map<string, Bucket>();
  private readonly strikes = new Map<string, Strikes>();

  constructor(
    private readonly opts: DenialFloodOptions,
    private readonly holdOff: (h: HoldOff) => void,
  ) {}

  /** One denial of `identity` at `now`; trips the hold-off when the bucket overflows. */
  observe(identity: string, now: number): HoldOff | null {
    const b = this.bucket(identity, now);
    // The clock is the wall clock: a step back (NTP) must not count as time that ADDS denials.
    const elapsed = Math.max(0, now - b.at);
    b.level = Math.max(0, b.level - (elapsed * this.opts.denials) / this.opts.withinMs) + 1;
    b.at = now;
    if (b.level <= this.opts.denials) return null;
    const prev = this.strikes.get(identity);
    // Denials of requests already queued when the hold-off began do not extend or repeat it.
    if (prev !== undefined && prev.until > now) return null;
    this.buckets.delete(identity);
    const n = prev !== undefined && now - prev.until < this.opts.maxHoldOffMs ? prev.n + 1 : 1;
    const holdMs = Math.min(this.opts.holdOffMs * 2 ** Math.min(n - 1, 30), this.opts.maxHoldOffMs);
    const h: HoldOff = { identity, until: now + holdMs, holdMs, strike: n };
    remember(this.strikes, identity, { n, until: h.until }, this.max);
    this.holdOff(h);
    return h;
  }

  private get max(): number {
    return this.opts.maxTracked ?? DEFAULT_MAX_TRACKED;
  }

  private bucket(identity: string, now: number): Bucket {
    const b = this.buckets.get(identity);
    if (b !== undefined) return b;
    const fresh = { level: 0, at: now };
    remember(this.buckets, identity, fresh, this.max);
    return fresh;
  }
}

/** Map.set with a size bound: the oldest entry (first in insertion order) is forgotten first. */
function remember<V>(m: Map<string, V>, k: string, v: V, max: number): void {
  m.delete(k);
  if (m.size >= max) {
    const oldest = m.keys().next();
    if (!oldest.done) m.delete(oldest.value);
  }
  m.set(k, v);
}
