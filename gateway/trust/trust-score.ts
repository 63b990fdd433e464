/**
 * The trust score: 1 − Σ weightᵢ · signalᵢ, clamped to [0, 1]. Signals come from behaviour baselines
 * (behaviour-baseline.ts) plus the SVID's remaining life. Weights and threshold come from the policy's
 * `trust:` block; unknown weight names are refused by the policy compiler's caller (here: ignored with the
 * defaults kept, and listed by `knownWeights`).
 */
import { SIGNALS, type Signal } from './behaviour-baseline.js';

export type ScoreInput = Signal | 'svidExpiry';
export const SCORE_INPUTS: readonly ScoreInput[] = [...SIGNALS, 'svidExpiry'];

export const DEFAULT_WEIGHTS: Readonly<Record<ScoreInput, number>> = Object.freeze({
  rate: 0.5,
  drift: 0.3,
  writes: 0.25,
  denials: 0.3,
  novelty: 0.3,
  offHours: 0.1,
  svidExpiry: 0.05,
});

export function resolveWeights(overrides: Readonly<Record<string, number>> | undefined): Record<ScoreInput, number> {
  const w: Record<ScoreInput, number> = { ...DEFAULT_WEIGHTS };
  for (const [k, v] of Object.entries(overrides ?? {}))
    if ((SCORE_INPUTS as readonly string[]).includes(k)) w[k as ScoreInput] = v;
  return w;
}

/** SVID age as a signal: 0 for most of its life, rising to 1 over the last 10 % before NotAfter. */
export function svidExpirySignal(notBefore: number | null, notAfter: number, now: number): number {
  const life = notBefore === null ? 86_400_000 : Math.max(1, notAfter - notBefore);
  const left = (notAfter - now) / life;
  return left >= 0.1 ? 0 : Math.min(1, 1 - Math.max(0, left) / 0.1);
}

export function trustScore(
  signals: Readonly<Record<ScoreInput, number>>,
  weights: Readonly<Record<ScoreInput, number>>,
): number {
  let penalty = 0;
  for (const k of SCORE_INPUTS) penalty += weights[k] * signals[k];
  return Math.max(0, Math.min(1, 1 - penalty));
}
