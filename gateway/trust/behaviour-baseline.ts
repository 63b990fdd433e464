/**
 * What normal looks like for one identity (or identity × device), learned from its own traffic, and how far
 * the present departs from it [NIST SP 800-207 3.3.1: contextual, history-aware trust algorithm]. The numbers
 * are documented in docs/zero-trust.md ("Trust score"); keep them in step.
 *
 * Every signal is a DecayingLevel in [0, 1] (τ = 30 s), and all evidence is time-weighted: counts are
 * DecayingSums with the same τ, so a lone request minutes after a burst is judged on its own [IEC 62443-3-3
 * SR 1.1 guidance: an operator's control action must not be blocked by the security layer].
 * - rate, drift: requests per ACTIVE second against the habitual batch (rate-profile.ts);
 * - writes: decayed writes beyond what the learned write share predicts, beyond a free allowance;
 * - denials: decayed denials beyond 10 % of decayed requests, beyond a free allowance;
 * - novelty: decayed count of 16-register blocks never touched before, and of non-register function codes
 *   (diagnostics, file records, device id, user-defined, unknown) never used before;
 * - offHours: activity in an hour of day the identity was never seen in (once watched for a full day).
 * Requests a JIT grant covered (`sanctioned`) are not judged for writes or novelty (an approver vouched for
 * what they touch, not for how fast: rate and drift still count them); the blocks they touch become known.
 * With a partial grant scope (FC23 whose read half another rule allows) only the scope is exempt.
 * PROFINET record services (`observeRecord`) feed the same signals: rate and drift, writes, denials, hours,
 * and novelty by record (each (api, slot, subslot, index) never touched before weighs one fresh block).
 * A refused write changed nothing: it counts for `denials`, not for `writes`. Nothing is learned while the identity is in breach (`learning = false`): an
 * attacker cannot teach the baseline that an attack is normal.
 */
import { DecayingLevel, DecayingSum, Ewma } from './decaying-level.js';
import { RateProfile } from './rate-profile.js';
import { NoveltyProfile, within } from './novelty-profile.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { isMutating } from '../../protocols/modbus/classify.js';
import type { GrantNeed } from './runtime-gate.js';

export const SIGNALS = ['rate', 'drift', 'writes', 'denials', 'novelty', 'offHours'] as const;
export type Signal = (typeof SIGNALS)[number];

export interface BaselineOptions {
  /** Learned ACTIVE seconds (seconds with traffic) before rate, drift and writes judge anything. */
  readonly warmupSeconds: number;
  /** Requests before novelty and off-hours judge anything. */
  readonly warmupRequests: number;
  /** Decay of every signal and of the short-term evidence counts (ms). */
  readonly tauMs: number;
}

/** How a request came out, beyond allow/deny: what the trust layer itself knows about it. */
export interface ObserveContext {
  /** Covered by an active JIT grant: not evidence for writes or novelty. */
  readonly sanctioned?: boolean;
  /**
   * The registers the grant had to cover when other rules (needing no grant) allowed the rest (the policy's
   * `jit.scope`, e.g. FC23's write half): only these are sanctioned; the rest is judged as usual. Without it a
   * one-register write grant would exempt every FC23 read half from `novelty` (a scan nobody vouched for).
   */
  readonly scope?: GrantNeed;
}

/** A weights record as a list in SIGNALS order, made once per record (the policy's, which a reload replaces). */
const weightLists = new WeakMap<Readonly<Record<Signal, number>>, readonly number[]>();
function weightList(weights: Readonly<Record<Signal, number>>): readonly number[] {
  let list = weightLists.get(weights);
  if (list === undefined) weightLists.set(weights, (list = SIGNALS.map((s) => weights[s])));
  return list;
}

export const DEFAULT_BASELINE: BaselineOptions = { warmupSeconds: 30, warmupRequests: 200, tauMs: 30_000 };

/** Decayed writes beyond the learned share that are always free (a series of setpoints, alarm acks). */
export const WRITE_FREE = 12;
export const WRITE_SPAN = 10;
/**
 * The learned write share: a mean over active seconds of each second's write share (α = 0.01, a running mean
 * for the first 100), so a burst teaches it at most 1 % per second.
 */
const WRITE_SHARE_ALPHA = 0.01;
/** The habitual write burst adapts by this fraction of the gap, at most once per second, forgets in ~1 h. */
const WRITE_HABIT_ALPHA = 0.05;
const WRITE_HABIT_TAU_MS = 3_600_000;
/** A few refusals are normal (a mistyped setpoint); a sustained share of them is probing. */
export const DENIAL_FREE = 5;
export const DENIAL_SHARE = 0.1;
export const DENIAL_SPAN = 10;
/** What `observe` gets when the trust layer knows nothing more about a request (one object, not one per request). */
export const NO_CONTEXT: ObserveContext = Object.freeze({});
/** Hours of day are judged only once the identity has been watched for a whole day. */
const OFF_HOURS_AFTER_MS = 24 * 3_600_000;

export class BehaviourBaseline {
  readonly levels: Record<Signal, DecayingLevel>;
  /** `levels` in SIGNALS order, for the per-request score (indexed, not looked up by name). */
  private readonly levelList: readonly DecayingLevel[];
  private readonly rateProfile: RateProfile;
  private readonly noveltyProfile: NoveltyProfile;
  private readonly requestsShort: DecayingSum;
  private readonly writesShort: DecayingSum;
  private readonly denialsShort: DecayingSum;
  private readonly writeShare = new Ewma(WRITE_SHARE_ALPHA, undefined, true);
  /** The open second of the write-share learner: its writes, requests, and whether all of it was learnable. */
  private shareSecond = -1;
  private secondWrites = 0;
  private secondRequests = 0;
  private secondLearning = true;
  private writeHabit = 0;
  private writeHabitAt = -1;
  private requests = 0;
  private firstSeen = -1;
  private readonly hours = new Uint32Array(24);

  constructor(private readonly opts: BaselineOptions = DEFAULT_BASELINE) {
    this.levels = Object.fromEntries(SIGNALS.map((s) => [s, new DecayingLevel(opts.tauMs)])) as Record<
      Signal,
      DecayingLevel
    >;
    this.levelList = SIGNALS.map((s) => this.levels[s]);
    this.rateProfile = new RateProfile(opts.warmupSeconds, this.levels.rate, this.levels.drift);
    this.requestsShort = new DecayingSum(opts.tauMs);
    this.writesShort = new DecayingSum(opts.tauMs);
    this.denialsShort = new DecayingSum(opts.tauMs);
    this.noveltyProfile = new NoveltyProfile(opts.tauMs, this.levels.novelty);
  }

  observe(
    req: ClassifiedRequest,
    device: string,
    denied: boolean,
    now: number,
    learning: boolean,
    ctx: ObserveContext = NO_CONTEXT,
  ): void {
    this.begin(now, learning);
    // A refused write changed nothing: it is evidence for `denials`, not for `writes`.
    const scope = ctx.sanctioned === true ? ctx.scope : undefined;
    const writesSanctioned =
      ctx.sanctioned === true &&
      (scope === undefined || req.writes.every((w) => within(scope.writes, w.table, w.start, w.start + w.count - 1)));
    if (!writesSanctioned) this.judgeWrites(isMutating(req) && !denied, now, learning);
    this.noveltyProfile.judgeRequest(req, device, now, learning, this.warm, ctx.sanctioned === true, scope);
    this.judgeDenials(denied, now);
    this.judgeHour(now, learning);
  }

  /**
   * A PROFINET record read or write. A JIT grant covers the whole record (grants name record indices), so
   * `sanctioned` exempts it from writes and novelty as a whole.
   */
  observeRecord(
    req: RecordRequest,
    device: string,
    denied: boolean,
    now: number,
    learning: boolean,
    ctx: ObserveContext = NO_CONTEXT,
  ): void {
    this.begin(now, learning);
    const sanctioned = ctx.sanctioned === true;
    if (!sanctioned) this.judgeWrites(req.access === 'write' && !denied, now, learning);
    this.noveltyProfile.judgeRecord(req, device, now, learning, this.warm, sanctioned);
    this.judgeDenials(denied, now);
    this.judgeHour(now, learning);
  }

  private begin(now: number, learning: boolean): void {
    if (this.firstSeen < 0) this.firstSeen = now;
    this.requests++;
    this.rateProfile.onRequest(now, learning);
  }

  private get warm(): boolean {
    return this.requests > this.opts.warmupRequests;
  }

  /** Decayed writes beyond what the learned share predicts and beyond the free allowance. */
  private judgeWrites(isWrite: boolean, now: number, learning: boolean): void {
    this.requestsShort.add(1, now);
    if (isWrite) this.writesShort.add(1, now);
    const w = this.writesShort.value(now);
    this.learnWriteShare(isWrite, now, learning);
    if (learning) this.learnWriteHabit(w, now);
    if (!isWrite || !this.rateProfile.warm) return;
    const n = this.requestsShort.value(now);
    const share = this.writeShare.samples > 0 ? this.writeShare.mean : 0;
    const excess = w - share * n - Math.max(WRITE_FREE, 2 * this.writeHabit);
    if (excess > 0) this.levels.writes.bump(Math.min(1, excess / WRITE_SPAN), now);
  }

  /** Closes the open second into the learned share when the next one starts (only fully learnable seconds). */
  private learnWriteShare(isWrite: boolean, now: number, learning: boolean): void {
    const s = Math.floor(now / 1000);
    if (s !== this.shareSecond) {
      if (this.secondRequests > 0 && this.secondLearning && learning)
        this.writeShare.push(this.secondWrites / this.secondRequests);
      this.shareSecond = s;
      this.secondWrites = 0;
      this.secondRequests = 0;
      this.secondLearning = true;
    }
    this.secondLearning &&= learning;
    this.secondRequests++;
    if (isWrite) this.secondWrites++;
  }

  /** The habitual write burst: follows the decayed write count slowly (once per second), so a burst cannot teach it. */
  private learnWriteHabit(w: number, now: number): void {
    const s = Math.floor(now / 1000);
    if (s === this.writeHabitAt) return;
    const dt = this.writeHabitAt < 0 ? 0 : (s - this.writeHabitAt) * 1000;
    this.writeHabitAt = s;
    this.writeHabit *= Math.exp(-dt / WRITE_HABIT_TAU_MS);
    if (w > this.writeHabit) this.writeHabit += WRITE_HABIT_ALPHA * (w - this.writeHabit);
  }

  private judgeDenials(denied: boolean, now: number): void {
    if (!denied) return;
    this.denialsShort.add(1, now);
    const excess = this.denialsShort.value(now) - DENIAL_SHARE * this.requestsShort.value(now) - DENIAL_FREE;
    if (excess > 0) this.levels.denials.bump(Math.min(1, excess / DENIAL_SPAN), now);
  }

  private judgeHour(now: number, learning: boolean): void {
    const hour = Math.floor(now / 3_600_000) % 24; // the UTC hour (epoch ms ≥ 0), without a Date per request
    const watchedADay = now - this.firstSeen >= OFF_HOURS_AFTER_MS;
    if (this.requests > this.opts.warmupRequests && watchedADay && this.hours[hour] === 0)
      this.levels.offHours.bump(1, now);
    if (learning) this.hours[hour] = (this.hours[hour] ?? 0) + 1;
  }

  /** On entering a breach: the drift that caused it is on record; it must not keep the breach alive. */
  resetDrift(): void {
    this.rateProfile.resetDrift();
  }

  /** Requests in one second beyond which traffic is outside habit (for tests and `sessions list`). */
  rateAllowance(): number {
    return this.rateProfile.allowance();
  }

  /**
   * Σ weightᵢ · signalᵢ over the behaviour signals, in SIGNALS order (the score's order, trust-score.ts),
   * without building the signals record: this runs for every request.
   */
  penalty(now: number, weights: Readonly<Record<Signal, number>>): number {
    const w = weightList(weights);
    const levels = this.levelList;
    let p = 0;
    for (let i = 0; i < levels.length; i++) p += (w[i] as number) * (levels[i] as DecayingLevel).value(now);
    return p;
  }

  /** Current signal values, for the score and for `sessions list`. */
  signals(now: number): Record<Signal, number> {
    return Object.fromEntries(SIGNALS.map((s) => [s, this.levels[s].value(now)])) as Record<Signal, number>;
  }
}
