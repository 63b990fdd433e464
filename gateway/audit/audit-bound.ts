/**
 * The stated bound [IEC 62443-3-3 SR 2.9, SR 7.1]: how many audit bytes peers WITHOUT rights (no certificate,
 * a refused certificate, or an identity the policy grants nothing) can make the gateway write, from the
 * `audit.throttle` knobs. The throttle (audit-throttle.ts) writes per interval at most `perClass` events of
 * each of the three classes, none larger than `maxEventBytes` of JSON, plus at most one `audit.suppressed`
 * summary with at most `summaryEntries` (+ one overflow per class) entries of clipped ASCII keys and reasons.
 * docs/gateway-yaml.md states the formula and the defaults' figure; test/adversarial/audit-flood.test.ts
 * checks a real gateway against it.
 */
import type { ThrottleOptions } from './audit-throttle.js';
import { MAX_KEY_CHARS, MAX_REASON_CHARS, THROTTLE_CLASSES } from './suppression-tally.js';

/**
 * What the log adds to a producer's JSON: `seq` (≤ 16 digits), `time`, `prev`, `hash` (≈ 200 bytes), the newline,
 * and under `values: hash` a `valuesSha256` in place of a short `values` list (≈ 100 bytes).
 */
export const EVENT_OVERHEAD_BYTES = 320;

/** Fixed part of a summary line (chain fields, type, from, to, brackets). */
const SUMMARY_FIXED_BYTES = 1024;
/** One `classes` element: class name, four causes and two counts of ≤ 16 digits. */
const SUMMARY_CLASS_BYTES = 210;
/** One `counts` element besides its key and reason: class name, count, field names and punctuation. */
const SUMMARY_ENTRY_FIXED_BYTES = 80;

/** Upper bound of one `audit.suppressed` line in bytes. */
export function maxSummaryBytes(o: Pick<ThrottleOptions, 'summaryEntries'>): number {
  const entries = o.summaryEntries + THROTTLE_CLASSES.length; // one `other` overflow entry per class
  return (
    SUMMARY_FIXED_BYTES +
    THROTTLE_CLASSES.length * SUMMARY_CLASS_BYTES +
    entries * (SUMMARY_ENTRY_FIXED_BYTES + MAX_KEY_CHARS + MAX_REASON_CHARS)
  );
}

/** Upper bound of one individually written rate-bounded event line. */
export function maxBoundedEventBytes(o: Pick<ThrottleOptions, 'maxEventBytes'>): number {
  return o.maxEventBytes + EVENT_OVERHEAD_BYTES;
}

/** Bytes per interval: 3 classes × perClass × (maxEventBytes + overhead) + one summary. */
export function unprivilegedBytesPerInterval(o: ThrottleOptions): number {
  return THROTTLE_CLASSES.length * o.perClass * maxBoundedEventBytes(o) + maxSummaryBytes(o);
}

/**
 * Bytes in any window of `windowMs` (default one hour): the window meets at most windowMs/intervalMs + 1
 * intervals (intervals last at least intervalMs; one extra for the interval cut by the window's start).
 */
export function unprivilegedBytesPer(o: ThrottleOptions, windowMs = 3_600_000): number {
  return (Math.floor(windowMs / o.intervalMs) + 1) * unprivilegedBytesPerInterval(o);
}

/** Past capacity − reserve only summaries are written: at most this many bytes per window. */
export function summaryOnlyBytesPer(o: ThrottleOptions, windowMs = 3_600_000): number {
  return (Math.floor(windowMs / o.intervalMs) + 1) * maxSummaryBytes(o);
}
