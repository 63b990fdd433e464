/**
 * What offline verification of an audit directory answers (audit-verify.ts), how it is asked, and the one
 * way a problem is reported: the FIRST bad record, by segment (or file) and line.
 */
import { isUtf8 } from 'node:buffer';
import type { ExternalCheckpoint } from './external-checkpoints.js';

export type VerifyResult =
  | {
      readonly ok: true;
      readonly events: number;
      readonly checkpoints: number;
      readonly lastSeq: number;
      readonly headHash: string;
    }
  | {
      readonly ok: false;
      readonly firstBad: { readonly segment: string; readonly line: number; readonly seq?: number };
      readonly reason: string;
    };

export type Bad = Extract<VerifyResult, { ok: false }>;

export function bad(segment: string, line: number, reason: string, seq?: number): Bad {
  return { ok: false, firstBad: seq === undefined ? { segment, line } : { segment, line, seq }, reason };
}

/**
 * Split into lines; a final chunk without newline is reported separately (a torn tail never recovered).
 * `notUtf8`: the index of the first full line whose bytes are not valid UTF-8, or -1. Decoding maps invalid
 * bytes to U+FFFD, so a stored U+FFFD (EF BF BD) replaced by one byte 0xFF decodes to the same string, hash
 * and all: the bytes must be checked, not only the text. The log writes only valid UTF-8 (RFC 8259 §8.1).
 */
export function lines(buf: Buffer): { full: string[]; torn: boolean; notUtf8: number } {
  const text = buf.toString('utf8');
  const parts = text.split('\n');
  const last = parts.pop();
  return { full: parts, torn: last !== undefined && last.length > 0, notUtf8: isUtf8(buf) ? -1 : firstNotUtf8(buf) };
}

/** The index of the first full line that is not valid UTF-8 (newlines split bytes and text alike: ASCII). */
function firstNotUtf8(buf: Buffer): number {
  for (let i = 0, start = 0; ; i++) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) return -1; // only the torn tail, reported as torn
    if (!isUtf8(buf.subarray(start, nl))) return i;
    start = nl + 1;
  }
}

export interface VerifyOptions {
  /** Anchors checkpoint signers in this trust bundle (PEM). */
  readonly trustBundlePem?: string;
  /** Every checkpoint must be signed by this SPIFFE ID (the gateway's), not merely by someone in the bundle. */
  readonly signer?: string;
  /** Checkpoints kept off the box (e.g. received by the SIEM): the log must still contain what they name. */
  readonly external?: readonly ExternalCheckpoint[];
  /** The gateway's `audit.checkpoint.every` (default 60 s): a trail spanning longer must hold a checkpoint. */
  readonly checkpointIntervalMs?: number;
  /** Accept a trail without any checkpoint whatever its span (e.g. checkpoints were never configured). */
  readonly allowMissingCheckpoints?: boolean;
  /** Called with each event (parsed) once its line verified, in sequence order. */
  readonly onEvent?: (event: Readonly<Record<string, unknown>>) => void;
}
