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
import { checkCheckpoint, DEFAULT_CHECKPOINT_EVERY_MS, type Checkpoint } from './audit-checkpoint.js';
import { GENESIS_HASH } from './audit-events.js';
import { canonicalJson, eventHash, sha256Hex } from './canonical-json.js';
import { CHECKPOINTS_FILE, listSegments, readWhole, segmentFirstSeq, segmentName } from './audit-segments.js';
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

type Bad = Extract<VerifyResult, { ok: false }>;

function bad(segment: string, line: number, reason: string, seq?: number): Bad {
  return { ok: false, firstBad: seq === undefined ? { segment, line } : { segment, line, seq }, reason };
}

/** Split into lines; a final chunk without newline is reported separately (a torn tail never recovered). */
function lines(buf: Buffer): { full: string[]; torn: boolean } {
  const text = buf.toString('utf8');
  const parts = text.split('\n');
  const last = parts.pop();
  return { full: parts, torn: last !== undefined && last.length > 0 };
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
    const { full, torn } = lines(readWhole(join(dir, seg)));
    if (full.length > 0 && segmentFirstSeq(seg) !== expectSeq) {
      return bad(
        seg,
        1,
        `segment name says first seq ${segmentFirstSeq(seg)}, expected ${expectSeq} (missing or renamed segment)`,
        expectSeq,
      );
    }
    for (let i = 0; i < full.length; i++) {
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

/** What the chain ended with: the hashes of the events checkpoints name, the last seq, and where it is. */
interface ChainEnd {
  readonly hashes: Map<number, string>;
  readonly lastSeq: number;
  readonly lastPos: { segment: string; line: number };
}

function verifyCheckpoints(
  dir: string,
  hashes: Map<number, string>,
  lastSeq: number,
  lastPos: { segment: string; line: number },
  opts: VerifyOptions,
): Checkpoint[] | Bad {
  const end: ChainEnd = { hashes, lastSeq, lastPos };
  for (const [i, cp] of (opts.external ?? []).entries()) {
    const problem = externalCheckpointProblem(cp, cp.at ?? { file: 'external checkpoint', line: i + 1 }, end, opts);
    if (problem) return problem;
  }
  const path = join(dir, CHECKPOINTS_FILE);
  return existsSync(path) ? verifyCheckpointFile(path, end, opts) : [];
}

/** An off-box checkpoint must be validly signed and name an event the log still holds, with the same hash. */
function externalCheckpointProblem(
  cp: ExternalCheckpoint,
  src: { file: string; line: number },
  end: ChainEnd,
  opts: VerifyOptions,
): Bad | null {
  const why = checkCheckpoint(cp, opts.trustBundlePem) ?? signerMismatch(cp, opts.signer);
  if (why !== null) return bad(src.file, src.line, why, cp.seq);
  if (cp.seq > end.lastSeq) {
    return bad(
      end.lastPos.segment,
      end.lastPos.line + 1,
      `truncated: an external checkpoint names seq ${cp.seq} but the log ends at seq ${end.lastSeq} (${src.file}:${src.line})`,
      end.lastSeq + 1,
    );
  }
  if (end.hashes.get(cp.seq) !== cp.headHash) {
    return bad(
      src.file,
      src.line,
      `head hash ${cp.headHash.slice(0, 16)}… of the off-box checkpoint does not match event ${cp.seq} (${(end.hashes.get(cp.seq) ?? '').slice(0, 16)}…): the chain was rewritten`,
      cp.seq,
    );
  }
  return null;
}

/** The local checkpoints file: each line parsed, signed, in order, and naming an event of the chain. */
function verifyCheckpointFile(path: string, end: ChainEnd, opts: VerifyOptions): Checkpoint[] | Bad {
  const { full, torn } = lines(readWhole(path));
  const out: Checkpoint[] = [];
  let prevSeq = 0;
  for (let i = 0; i < full.length; i++) {
    const parsed = parseCheckpointLine(full[i]!, i + 1);
    if (!('cp' in parsed)) return parsed;
    const { cp } = parsed;
    const problem = localCheckpointProblem(cp, i + 1, prevSeq, end, opts);
    if (problem) return problem;
    prevSeq = cp.seq;
    out.push(cp);
  }
  if (torn) return bad(CHECKPOINTS_FILE, full.length + 1, 'torn last checkpoint line');
  return out;
}

/** A checkpoint with the fields verification reads (wrapped: the line's own keys cannot pass for a `Bad`). */
function parseCheckpointLine(text: string, line: number): { readonly cp: Checkpoint } | Bad {
  let cp: Checkpoint;
  try {
    cp = JSON.parse(text) as Checkpoint;
  } catch {
    return bad(CHECKPOINTS_FILE, line, 'checkpoint is not valid JSON');
  }
  if (
    typeof cp.seq !== 'number' ||
    typeof cp.headHash !== 'string' ||
    typeof cp.sig !== 'string' ||
    typeof cp.signer !== 'object' ||
    cp.signer === null
  ) {
    return bad(CHECKPOINTS_FILE, line, 'checkpoint is missing fields');
  }
  return { cp };
}

function localCheckpointProblem(
  cp: Checkpoint,
  line: number,
  prevSeq: number,
  end: ChainEnd,
  opts: VerifyOptions,
): Bad | null {
  const why = checkCheckpoint(cp, opts.trustBundlePem) ?? signerMismatch(cp, opts.signer);
  if (why !== null) return bad(CHECKPOINTS_FILE, line, why, cp.seq);
  if (cp.seq < prevSeq)
    return bad(CHECKPOINTS_FILE, line, `checkpoint seq ${cp.seq} goes back from ${prevSeq}`, cp.seq);
  if (cp.seq > end.lastSeq) {
    // Tail truncation: the signed head lies beyond what remains. Name where the first missing event belongs.
    return bad(
      end.lastPos.segment,
      end.lastPos.line + 1,
      `truncated: checkpoint ${line} names seq ${cp.seq} but the log ends at seq ${end.lastSeq}`,
      end.lastSeq + 1,
    );
  }
  if (end.hashes.get(cp.seq) !== cp.headHash) {
    return bad(CHECKPOINTS_FILE, line, `checkpoint head hash does not match event ${cp.seq} (chain rewritten)`, cp.seq);
  }
  return null;
}

function signerMismatch(cp: Checkpoint, signer: string | undefined): string | null {
  if (signer === undefined || cp.signer?.spiffeId === signer) return null;
  return `checkpoint signed by ${String(cp.signer?.spiffeId)}, expected ${signer}`;
}
