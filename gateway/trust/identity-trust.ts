/**
 * Trust state of one identity: its baselines (overall and per device), its score and its breach state.
 * Breach rules (documented in docs/zero-trust.md):
 * - in `normal`, the score is min(identity score, identity × device score) of the latest request;
 * - score < threshold → state `read-only` or `ended` per the policy's `onBreach`;
 * - recovery: only after `minBreachMs` (default 60 s) AND a score ≥ threshold + 0.05 (hysteresis), computed
 *   with the decayed signals, so a breach ends by itself once the behaviour stops (about 2–3 × 30 s). Out of
 *   `normal` the score is the min over the identity's baseline and EVERY identity × device baseline: the
 *   housekeeping tick names no device and a request may name another one, and a breach one device's baseline
 *   caused must not be judged over by a baseline that never saw it [NIST SP 800-207 3.3.1];
 * - baselines do not learn while in breach;
 * - `terminate` on an identity holding `essential` rules downgrades to read-only instead (see evaluate).
 */
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import {
  BehaviourBaseline,
  type BaselineOptions,
  DEFAULT_BASELINE,
  NO_CONTEXT,
  type ObserveContext,
  SIGNALS,
} from './behaviour-baseline.js';
import { svidExpirySignal, type ScoreInput } from './trust-score.js';

export type TrustState = 'normal' | 'read-only' | 'ended';

export interface TrustConfig {
  readonly threshold: number;
  readonly onBreach: 'read-only' | 'terminate';
  readonly weights: Readonly<Record<ScoreInput, number>>;
  readonly minBreachMs: number;
  readonly baseline: BaselineOptions;
}

export const HYSTERESIS = 0.05;

export class IdentityTrust {
  state: TrustState = 'normal';
  score = 1;
  breachSince = 0;
  /** The device whose baseline gave the last score, when it was below the identity's own (for `reasons`). */
  private lowDevice: string | null = null;
  private readonly overall: BehaviourBaseline;
  private readonly perDevice = new Map<string, BehaviourBaseline>();

  constructor(
    readonly identity: string,
    private readonly baselineOpts: BaselineOptions = DEFAULT_BASELINE,
  ) {
    this.overall = new BehaviourBaseline(baselineOpts);
  }

  observe(
    req: ClassifiedRequest,
    device: string,
    denied: boolean,
    now: number,
    ctx: ObserveContext = NO_CONTEXT,
  ): void {
    const learning = this.state === 'normal';
    this.overall.observe(req, device, denied, now, learning, ctx);
    this.deviceBaseline(device).observe(req, device, denied, now, learning, ctx);
  }

  /** A PROFINET record service: the same baselines (overall and per device) as Modbus requests. */
  observeRecord(
    req: RecordRequest,
    device: string,
    denied: boolean,
    now: number,
    ctx: ObserveContext = NO_CONTEXT,
  ): void {
    const learning = this.state === 'normal';
    this.overall.observeRecord(req, device, denied, now, learning, ctx);
    this.deviceBaseline(device).observeRecord(req, device, denied, now, learning, ctx);
  }

  private deviceBaseline(device: string): BehaviourBaseline {
    let d = this.perDevice.get(device);
    if (!d) {
      d = new BehaviourBaseline(this.baselineOpts);
      this.perDevice.set(device, d);
    }
    return d;
  }

  /**
   * Recomputes the score; returns the new state when it changed, else null. `keepsEssential`: the identity
   * holds `essential` rules, so a `terminate` breach becomes read-only instead (its essential requests go on;
   * ending its sessions would block them) [IEC 62443-3-3 SR 1.1 guidance].
   */
  evaluate(
    cfg: TrustConfig,
    svid: { notBefore: number | null; notAfter: number } | null,
    now: number,
    device?: string,
    keepsEssential = false,
  ): TrustState | null {
    const svidSignal = svid ? svidExpirySignal(svid.notBefore, svid.notAfter, now) : 0;
    this.score = scoreOf(this.overall, cfg, svidSignal, now);
    this.lowDevice = null;
    if (this.state === 'normal') {
      // the hot path: one device baseline, the request's own
      const dev = device === undefined ? undefined : this.perDevice.get(device);
      if (dev !== undefined && device !== undefined) this.lower(scoreOf(dev, cfg, svidSignal, now), device);
    } else {
      for (const [name, d] of this.perDevice) this.lower(scoreOf(d, cfg, svidSignal, now), name);
    }
    if (this.state === 'normal' && this.score < cfg.threshold) {
      this.state = cfg.onBreach === 'terminate' && !keepsEssential ? 'ended' : 'read-only';
      this.breachSince = now;
      this.overall.resetDrift();
      for (const d of this.perDevice.values()) d.resetDrift();
      return this.state;
    }
    if (
      this.state !== 'normal' &&
      now - this.breachSince >= cfg.minBreachMs &&
      this.score >= cfg.threshold + HYSTERESIS
    ) {
      this.state = 'normal';
      return this.state;
    }
    return null;
  }

  private lower(score: number, device: string | null): void {
    if (score >= this.score) return;
    this.score = score;
    this.lowDevice = device;
  }

  /**
   * Which signals pull the score down, for the audit event and `sessions list`: the identity's own (`rate=0.82`),
   * then, when a device's baseline gave the lower score, that baseline's (`rate=0.90@plc-2`) — else a breach
   * only one device's baseline saw would be audited with no reason.
   */
  reasons(now: number): string[] {
    const out = signalReasons(this.overall, now, '');
    const dev = this.lowDevice === null ? undefined : this.perDevice.get(this.lowDevice);
    if (dev !== undefined) out.push(...signalReasons(dev, now, `@${this.lowDevice}`));
    return out;
  }
}

function signalReasons(b: BehaviourBaseline, now: number, suffix: string): string[] {
  const s = b.signals(now);
  return SIGNALS.filter((k) => s[k] > 0.05).map((k) => `${k}=${s[k].toFixed(2)}${suffix}`);
}

/** trustScore() of a baseline's signals plus svidExpiry, summed in the same order, with no record per request. */
function scoreOf(b: BehaviourBaseline, cfg: TrustConfig, svidSignal: number, now: number): number {
  return Math.max(0, Math.min(1, 1 - (b.penalty(now, cfg.weights) + cfg.weights.svidExpiry * svidSignal)));
}
