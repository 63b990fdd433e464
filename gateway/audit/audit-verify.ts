/**
 * Offline verification of an audit directory: every line canonical and self-hashing, sequence contiguous
 * from 1, each `prev` equal to the previous event's hash (across segments), segment names matching their
 * first event; every checkpoint correctly signed (optionally chaining to a trust bundle) and naming an event
 * that exists with the same hash. The last check is what catches tail truncation and whole-chain rewrites
 * (as Certificate Transparency relies on signed tree heads held by others, RFC 9162) — but only with
 * checkpoints the box cannot rewrite: whoever can re-chain the trail on the
 * box can also delete (or, holding the gateway's key, re-sign) the local checkpoints, so checkpoints kept off
 * the box (the SIEM's copy, `external`) are what detect a re-chained trail. A trail that spans more than the
 * checkpoint interval yet has no checkpoint at all is refused unless `allowMissingCheckpoints`: a gateway
 * would have written one, so their absence is itself evidence (deleted, or checkpoints not configured). The
 * same holds for the events after the last checkpoint: a re-chainer keeps the checkpoints before the rewrite
 * (they still match) and deletes the later ones, so an uncovered tail spanning more than the interval (or
 * whose times cannot be read) is refused too.
 * Reports the FIRST bad record.
 *
 * Memory is bounded by one segment (segmentBytes) plus the checkpoints: the checkpoint files are read first,
 * so only the hashes of the events they name are kept, and only the times of the events after the last one.
 * `onEvent` sees every event in order as soon as its line checked out (`policy learn`/`replay` read the trail
 * in the same pass); a caller must still discard what it saw when the result is not ok.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CHECKPOINT_EVERY_MS } from './audit-checkpoint.js';
import { GENESIS_HASH } from './audit-events.js';
import { canonicalJson, eventHash, sha256Hex } from './canonical-json.js';
import { CHECKPOINTS_FILE, listSegments, readWhole, segmentFirstSeq, segmentName } from './audit-segments.js';
import { verifyCheckpoints } from './verify-checkpoints.js';
import { bad, lines, type VerifyOptions, type VerifyResult } from './verify-result.js';

export type { VerifyOptions, VerifyResult } from './verify-result.js';

export function verifyAuditDir(dir: string, opts: VerifyOptions = {}): VerifyResult {
  if (!existsSync(dir)) return bad(dir, 0, 'audit directory does not exist');
  const named = checkpointSeqs(dir, opts);
  const hashes = new Map<number, string>();
  let expectSeq = 1;
  let prev = GENESIS_HASH;
  let lastPos = { segment: segmentName(1), line: 0 };
  /** The span of the events after the last named checkpoint: what no checkpoint covers. */
  const tail: TailSpan = { first: Infinity, last: -Infinity, unreadableSeq: null };
  for (const seg of listSegments(dir)) {
    const { full, torn, notUtf8 } = lines(readWhole(join(dir, seg)));
    if (full.length > 0 && segmentFirstSeq(seg) !== expectSeq) {
      return bad(
        seg,
        1,
        `segment name says first seq ${segmentFirstSeq(seg)}, expected ${expectSeq} (missing or renamed segment)`,
        expectSeq,
      );
    }
    for (let i = 0; i < full.length; i++) {
      if (i === notUtf8) return bad(seg, i + 1, 'line is not valid UTF-8 (modified)', seqOf(full[i]!) ?? expectSeq);
      const r = checkLine(full[i]!, expectSeq, prev);
      if ('error' in r) return bad(seg, i + 1, r.error, seqOf(full[i]!) ?? expectSeq);
      if (named.seqs.has(expectSeq)) hashes.set(expectSeq, r.hash);
      if (expectSeq > named.max) widen(tail, expectSeq, r.time);
      opts.onEvent?.(r.rec);
      prev = r.hash;
      expectSeq++;
      lastPos = { segment: seg, line: i + 1 };
    }
    if (torn)
      return bad(
        seg,
        full.length + 1,
        'torn last line (incomplete write, not yet recovered by opening the log)',
        expectSeq,
      );
  }
  const cps = verifyCheckpoints(dir, hashes, expectSeq - 1, lastPos, opts);
  if (!Array.isArray(cps)) return cps;
  const covered = [...cps, ...(opts.external ?? [])].reduce((m, c) => Math.max(m, c.seq), 0);
  const missing = missingCheckpoints(covered, expectSeq - 1, tail, opts);
  if (missing !== null) return bad(lastPos.segment, lastPos.line, missing, expectSeq - 1);
  return { ok: true, events: expectSeq - 1, checkpoints: cps.length, lastSeq: expectSeq - 1, headHash: prev };
}

/** First and last time (ms) of the events no checkpoint covers, and the first of them whose time is unreadable. */
interface TailSpan {
  first: number;
  last: number;
  unreadableSeq: number | null;
}

function widen(span: TailSpan, seq: number, time: number): void {
  if (Number.isNaN(time)) span.unreadableSeq ??= seq;
  else {
    span.first = Math.min(span.first, time);
    span.last = Math.max(span.last, time);
  }
}

/**
 * The seqs the checkpoints (local file and off-box) name, read before the chain so only their hashes are kept;
 * a file that does not parse is reported by verifyCheckpoints after the chain, as before.
 */
function checkpointSeqs(dir: string, opts: VerifyOptions): { seqs: Set<number>; max: number } {
  const seqs = new Set<number>((opts.external ?? []).map((c) => c.seq));
  const path = join(dir, CHECKPOINTS_FILE);
  if (existsSync(path)) {
    for (const line of lines(readWhole(path)).full) {
      try {
        const seq = (JSON.parse(line) as { seq?: unknown }).seq;
        if (typeof seq === 'number') seqs.add(seq);
      } catch {
        // reported by verifyCheckpoints
      }
    }
  }
  let max = 0;
  for (const s of seqs) max = Math.max(max, s);
  return { seqs, max };
}

/** The parsed event, its hash and time (ms, NaN if unreadable), or why the line is bad. */
function checkLine(
  line: string,
  seq: number,
  prev: string,
): { rec: Record<string, unknown>; hash: string; time: number } | { error: string } {
  const r = lineProblem(line, seq, prev);
  if (typeof r === 'string') return { error: r };
  const time = r['time'];
  return { rec: r, hash: r['hash'] as string, time: typeof time === 'string' ? Date.parse(time) : NaN };
}

/**
 * Why the events no checkpoint covers (seq > `covered`; all of them when there is none) are refused, or null:
 * they span more than the checkpoint interval, or their times cannot be read (so their span is unknown).
 */
function missingCheckpoints(covered: number, lastSeq: number, tail: TailSpan, opts: VerifyOptions): string | null {
  if (covered >= lastSeq || opts.allowMissingCheckpoints === true) return null;
  const interval = opts.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_EVERY_MS;
  const what =
    covered === 0 ? 'no checkpoint in a trail' : `no checkpoint after seq ${covered}: events ${covered + 1}-${lastSeq}`;
  // covered is the largest seq any checkpoint names (all of them verified): `tail` spans exactly seq > covered
  if (tail.unreadableSeq !== null)
    return `${what} with an unreadable time (seq ${tail.unreadableSeq}): their span cannot be established, and a truncated or re-chained trail cannot be detected`;
  const { first, last } = tail;
  const ms = last - first;
  if (!(ms > interval)) return null;
  return (
    `${what} spanning ${Math.round(ms / 1000)} s (${new Date(first).toISOString()} to ${new Date(last).toISOString()}), ` +
    `longer than the checkpoint interval of ${Math.round(interval / 1000)} s: checkpoints were deleted or never written, and a truncated or re-chained trail cannot be detected`
  );
}

/** The parsed event, or why the line is bad. */
function lineProblem(line: string, seq: number, prev: string): Record<string, unknown> | string {
  let rec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'not a JSON object';
    rec = parsed as Record<string, unknown>;
  } catch {
    return 'not valid JSON';
  }
  if (canonicalJson(rec) !== line) return 'line is not canonical JSON (modified)';
  if (hashOfCanonicalLine(line, rec['hash']) !== rec['hash']) return 'hash does not match the event (modified)';
  if (rec['seq'] !== seq)
    return `sequence ${String(rec['seq'])} where ${seq} was expected (deleted, inserted or reordered event)`;
  if (rec['prev'] !== prev) return 'prev does not match the previous event hash (chain broken)';
  return rec;
}

/**
 * eventHash of a line already proven canonical: the canonical JSON without `hash` is the line with its
 * `"hash":"…"` member cut out (canonical-line.ts renders the line that way), so it is hashed without
 * rendering the event a second time.
 */
function hashOfCanonicalLine(line: string, hash: unknown): string | null {
  if (typeof hash !== 'string') return null;
  const member = `"hash":${JSON.stringify(hash)}`;
  const at = line.indexOf(member);
  if (at < 0) return eventHash(JSON.parse(line) as Record<string, unknown>);
  const before = line.slice(0, at);
  let after = line.slice(at + member.length);
  // `{…,"hash":"x",…}`: drop the member and one of its commas
  if (before.endsWith(',')) return sha256Hex(before.slice(0, -1) + after);
  if (after.startsWith(',')) after = after.slice(1);
  return sha256Hex(before + after);
}

function seqOf(line: string): number | undefined {
  try {
    const s = (JSON.parse(line) as { seq?: unknown }).seq;
    return typeof s === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}
