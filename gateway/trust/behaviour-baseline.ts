/**
 * What normal looks like for one identity (or identity × device), learned from its own traffic, and how far
 * the present departs from it [NIST SP 800-207 3.3.1: contextual, history-aware trust algorithm].
 * Signals, each a DecayingLevel in [0, 1]:
 * - rate: requests in the current second far above the learned per-second mean (mean + 4σ);
 * - drift: CUSUM over closed seconds accumulates small excesses, so a slow ramp counts (Page's CUSUM, k = 0.5σ);
 * - writes: the recent share of writes above the learned share;
 * - denials: the recent share of denied requests;
 * - novelty: first access (after warm-up) to a 16-register block never touched before;
 * - offHours: activity in an hour of day the identity was never seen in (after warm-up).
 * Nothing is learned while the identity is in breach (`learning = false`): an attacker cannot teach the
 * baseline that an attack is normal.
 */
import { DecayingLevel, Ewma } from './decaying-level.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { isMutating } from '../../protocols/modbus/classify.js';

export const SIGNALS = ['rate', 'drift', 'writes', 'denials', 'novelty', 'offHours'] as const;
export type Signal = (typeof SIGNALS)[number];

export interface BaselineOptions {
  /** Closed seconds before rate/drift judge anything. */
  readonly warmupSeconds: number;
  /** Requests before novelty and off-hours judge anything. */
  readonly warmupRequests: number;
  /** Decay of every signal (ms). */
  readonly tauMs: number;
}

export const DEFAULT_BASELINE: BaselineOptions = { warmupSeconds: 30, warmupRequests: 200, tauMs: 30_000 };
const MAX_CATCH_UP_SECONDS = 3600;
/** Shares (writes, denials) are judged only after this many requests. */
const MIN_SHARE_REQUESTS = 20;

export class BehaviourBaseline {
  readonly levels: Record<Signal, DecayingLevel>;
  private readonly perSecond = new Ewma(0.05);
  private readonly writeShareLong = new Ewma(0.01, 0);
  private readonly writeShareShort = new Ewma(0.1, 0);
  private readonly denialShort = new Ewma(0.05, 0);
  private second = -1;
  private count = 0;
  /** False once any request of the open second arrived in breach: that second is then never learned. */
  private secondLearning = true;
  private cusum = 0;
  private requests = 0;
  private readonly blocks = new Set<string>();
  private readonly hours = new Uint32Array(24);

  constructor(private readonly opts: BaselineOptions = DEFAULT_BASELINE) {
    this.levels = Object.fromEntries(SIGNALS.map((s) => [s, new DecayingLevel(opts.tauMs)])) as Record<Signal, DecayingLevel>;
  }

  observe(req: ClassifiedRequest, device: string, denied: boolean, now: number, learning: boolean): void {
    this.advanceTo(Math.floor(now / 1000), learning, now);
    this.secondLearning &&= learning;
    this.count++;
    this.requests++;
    this.judgeRate(now);
    const isWrite = isMutating(req) ? 1 : 0;
    this.writeShareShort.push(isWrite);
    this.denialShort.push(denied ? 1 : 0);
    if (learning) this.writeShareLong.push(isWrite);
    // Generous margin: a burst of operator setpoints is normal control work [IEC 62443-3-3 SR 1.1]; a read-mostly
    // identity turning into a writer is not.
    const excessWrites = this.writeShareShort.mean - this.writeShareLong.mean - 0.3;
    if (this.requests >= MIN_SHARE_REQUESTS && excessWrites > 0) this.levels.writes.bump(Math.min(1, excessWrites * 1.5), now);
    // A few refusals are normal (a mistyped setpoint); a sustained share of them is probing.
    if (this.requests >= MIN_SHARE_REQUESTS && this.denialShort.mean > 0.2) {
      this.levels.denials.bump(Math.min(1, (this.denialShort.mean - 0.2) / 0.6), now);
    }
    this.judgeNovelty(req, device, now, learning);
    this.judgeHour(now, learning);
  }

  /** Closes the seconds between the last request and now; empty seconds count as zero requests. */
  private advanceTo(second: number, learning: boolean, now: number): void {
    if (this.second < 0) this.second = second;
    const gap = Math.min(second - this.second, MAX_CATCH_UP_SECONDS);
    // A second is learned only if nothing in it (nor the identity now) was in breach.
    const learnClosed = this.secondLearning && learning;
    for (let i = 0; i < gap; i++) {
      // Evidence is dated to the second it belongs to, so it has decayed by the time a late request looks.
      this.closeSecond(i === 0 ? this.count : 0, learnClosed, Math.min(now, (this.second + i + 1) * 1000));
    }
    if (second > this.second) {
      this.second = second;
      this.count = 0;
      this.secondLearning = true;
    }
  }

  private closeSecond(c: number, learning: boolean, at: number): void {
    const warm = this.perSecond.samples >= this.opts.warmupSeconds;
    // In breach the drift sum is frozen: it measures departure from a baseline that is not learning then.
    if (warm && learning) {
      // σ floored at 1 request/s: at low rates a few extra requests in a second or two are noise, not drift.
      const sigma = Math.max(this.perSecond.std, 1);
      // Page's CUSUM: accumulate what exceeds mean + k; a sustained small ramp crosses h eventually.
      this.cusum = Math.max(0, this.cusum + (c - this.perSecond.mean - 0.5 * sigma));
      const h = 20 * sigma;
      if (this.cusum > 0) this.levels.drift.bump(Math.min(1, this.cusum / h), at);
    }
    if (learning) this.perSecond.push(c);
  }

  private judgeRate(now: number): void {
    if (this.perSecond.samples < this.opts.warmupSeconds) return;
    const sigma = Math.max(this.perSecond.std, 0.5);
    const limit = this.perSecond.mean + 4 * sigma + 2;
    if (this.count > limit) this.levels.rate.bump(Math.min(1, (this.count - limit) / limit), now);
  }

  private judgeNovelty(req: ClassifiedRequest, device: string, now: number, learning: boolean): void {
    const warm = this.requests > this.opts.warmupRequests;
    let fresh = 0;
    for (const r of [...req.reads, ...req.writes]) {
      for (let b = r.start >> 4; b <= (r.start + r.count - 1) >> 4; b++) {
        const key = `${device}/${r.table}/${b}`;
        if (!this.blocks.has(key)) {
          fresh++;
          if (learning || !warm) this.blocks.add(key);
        }
      }
    }
    if (warm && fresh > 0) this.levels.novelty.bump(Math.min(1, 0.35 * fresh), now);
  }

  private judgeHour(now: number, learning: boolean): void {
    const hour = new Date(now).getUTCHours();
    if (this.requests > this.opts.warmupRequests && this.hours[hour] === 0) this.levels.offHours.bump(1, now);
    if (learning) this.hours[hour] = (this.hours[hour] ?? 0) + 1;
  }

  /** On entering a breach: the drift that caused it is on record; it must not keep the breach alive. */
  resetDrift(): void {
    this.cusum = 0;
  }

  /** Current signal values, for the score and for `sessions list`. */
  signals(now: number): Record<Signal, number> {
    return Object.fromEntries(SIGNALS.map((s) => [s, this.levels[s].value(now)])) as Record<Signal, number>;
  }
}
