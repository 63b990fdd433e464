/**
 * Reads the requests of an audit trail for `policy learn` and `policy replay`, verifying it in the same pass
 * (gateway/audit/audit-verify.ts: every line canonical and self-hashing, the chain unbroken, the signed
 * checkpoints matching — so a tampered or truncated trail is refused and its first bad record named). One
 * segment is in memory at a time; what the caller accumulates is its own bound. The caller must discard its
 * results when the answer is not ok: events before the first bad record were already delivered.
 */
import { verifyAuditDir, type VerifyOptions, type VerifyResult } from '../audit/audit-verify.js';
import { recordedRequest, type RecordedRequest } from './recorded-request.js';

export interface TrailWindow {
  /** Only requests at or after this instant (epoch ms). */
  readonly sinceMs?: number;
  /** Only requests before this instant (epoch ms). */
  readonly untilMs?: number;
}

export type TrailVerify = Omit<VerifyOptions, 'onEvent'>;

export interface TrailSummary {
  /** Events in the trail (all types). */
  readonly events: number;
  /** Requests handed to the visitor (inside the window). */
  readonly requests: number;
}

export type TrailResult = ({ readonly ok: true } & TrailSummary) | Extract<VerifyResult, { ok: false }>;

export function readVerifiedTrail(
  dir: string,
  verify: TrailVerify,
  window: TrailWindow,
  visit: (r: RecordedRequest) => void,
  /** Every other event (all of the trail, whatever the window), in order: e.g. JIT grants for `replay`. */
  other?: (e: Readonly<Record<string, unknown>>) => void,
): TrailResult {
  const since = window.sinceMs ?? -Infinity;
  const until = window.untilMs ?? Infinity;
  let requests = 0;
  const result = verifyAuditDir(dir, {
    ...verify,
    onEvent: (e) => {
      const r = recordedRequest(e);
      if (r === null) other?.(e);
      if (r === null || !(r.timeMs >= since && r.timeMs < until)) return;
      requests++;
      visit(r);
    },
  });
  if (!result.ok) return result;
  return { ok: true, events: result.events, requests };
}

/** `FAIL: audit-….jsonl:LINE (seq N): reason` — how the CLI names the first bad record. */
export function describeBadTrail(r: Extract<VerifyResult, { ok: false }>): string {
  const seq = r.firstBad.seq === undefined ? '' : ` (seq ${r.firstBad.seq})`;
  return `${r.firstBad.segment}:${r.firstBad.line}${seq}: ${r.reason}`;
}
