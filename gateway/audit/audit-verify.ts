/**
 * Offline verification of an audit directory: every line canonical and self-hashing, sequence contiguous
 * from 1, each `prev` equal to the previous event's hash (across segments), segment names matching their
 * first event; every checkpoint correctly signed (optionally chaining to a trust bundle) and naming an event
 * that exists with the same hash. The last check is what catches tail truncation and whole-chain rewrites
 * [REFERENCES §6]. Reports the FIRST bad record.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkCheckpoint, type Checkpoint } from './audit-checkpoint.js';
import { GENESIS_HASH } from './audit-events.js';
import { canonicalJson, eventHash } from './canonical-json.js';
import { CHECKPOINTS_FILE, listSegments, readWhole, segmentFirstSeq, segmentName } from './audit-segments.js';

export type VerifyResult =
  | { readonly ok: true; readonly events: number; readonly checkpoints: number; readonly lastSeq: number; readonly headHash: string }
  | { readonly ok: false; readonly firstBad: { readonly segment: string; readonly line: number; readonly seq?: number }; readonly reason: string };

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
  readonly external?: readonly Checkpoint[];
}

export function verifyAuditDir(dir: string, opts: VerifyOptions = {}): VerifyResult {
  if (!existsSync(dir)) return bad(dir, 0, 'audit directory does not exist');
  const hashes = new Map<number, string>();
  let expectSeq = 1;
  let prev = GENESIS_HASH;
  let lastPos = { segment: segmentName(1), line: 0 };
  for (const seg of listSegments(dir)) {
    const { full, torn } = lines(readWhole(join(dir, seg)));
    if (full.length > 0 && segmentFirstSeq(seg) !== expectSeq) {
      return bad(seg, 1, `segment name says first seq ${segmentFirstSeq(seg)}, expected ${expectSeq} (missing or renamed segment)`, expectSeq);
    }
    for (let i = 0; i < full.length; i++) {
      const r = checkLine(full[i]!, expectSeq, prev);
      if ('error' in r) return bad(seg, i + 1, r.error, seqOf(full[i]!) ?? expectSeq);
      hashes.set(expectSeq, r.hash);
      prev = r.hash;
      expectSeq++;
      lastPos = { segment: seg, line: i + 1 };
    }
    if (torn) return bad(seg, full.length + 1, 'torn last line (incomplete write, not yet recovered by opening the log)', expectSeq);
  }
  const cps = verifyCheckpoints(dir, hashes, expectSeq - 1, lastPos, opts);
  if (!Array.isArray(cps)) return cps;
  return { ok: true, events: expectSeq - 1, checkpoints: cps.length, lastSeq: expectSeq - 1, headHash: prev };
}

/** The event's hash, or why the line is bad. */
function checkLine(line: string, seq: number, prev: string): { hash: string } | { error: string } {
  const why = lineProblem(line, seq, prev);
  return why === null ? { hash: (JSON.parse(line) as { hash: string }).hash } : { error: why };
}

function lineProblem(line: string, seq: number, prev: string): string | null {
  let rec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(line);
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'not a JSON object';
    rec = parsed as Record<string, unknown>;
  } catch {
    return 'not valid JSON';
  }
  if (canonicalJson(rec) !== line) return 'line is not canonical JSON (modified)';
  if (eventHash(rec) !== rec['hash']) return 'hash does not match the event (modified)';
  if (rec['seq'] !== seq) return `sequence ${String(rec['seq'])} where ${seq} was expected (deleted, inserted or reordered event)`;
  if (rec['prev'] !== prev) return 'prev does not match the previous event hash (chain broken)';
  return null;
}

function seqOf(line: string): number | undefined {
  try {
    const s = (JSON.parse(line) as { seq?: unknown }).seq;
    return typeof s === 'number' ? s : undefined;
  } catch {
    return undefined;
  }
}

function verifyCheckpoints(
  dir: string,
  hashes: Map<number, string>,
  lastSeq: number,
  lastPos: { segment: string; line: number },
  opts: VerifyOptions,
): Checkpoint[] | Bad {
  const path = join(dir, CHECKPOINTS_FILE);
  const bundle = opts.trustBundlePem;
  for (const [i, cp] of (opts.external ?? []).entries()) {
    const why = checkCheckpoint(cp, bundle) ?? signerMismatch(cp, opts.signer);
    if (why !== null) return bad('external checkpoint', i + 1, why, cp.seq);
    if (cp.seq > lastSeq) return bad(lastPos.segment, lastPos.line + 1, `truncated: an external checkpoint names seq ${cp.seq} but the log ends at seq ${lastSeq}`, lastSeq + 1);
    if (hashes.get(cp.seq) !== cp.headHash) return bad('external checkpoint', i + 1, `head hash does not match event ${cp.seq} (chain rewritten)`, cp.seq);
  }
  if (!existsSync(path)) return [];
  const { full, torn } = lines(readWhole(path));
  const out: Checkpoint[] = [];
  let prevSeq = 0;
  for (let i = 0; i < full.length; i++) {
    let cp: Checkpoint;
    try {
      cp = JSON.parse(full[i]!) as Checkpoint;
    } catch {
      return bad(CHECKPOINTS_FILE, i + 1, 'checkpoint is not valid JSON');
    }
    if (typeof cp.seq !== 'number' || typeof cp.headHash !== 'string' || typeof cp.sig !== 'string' || typeof cp.signer !== 'object' || cp.signer === null) {
      return bad(CHECKPOINTS_FILE, i + 1, 'checkpoint is missing fields');
    }
    const why = checkCheckpoint(cp, bundle) ?? signerMismatch(cp, opts.signer);
    if (why !== null) return bad(CHECKPOINTS_FILE, i + 1, why, cp.seq);
    if (cp.seq < prevSeq) return bad(CHECKPOINTS_FILE, i + 1, `checkpoint seq ${cp.seq} goes back from ${prevSeq}`, cp.seq);
    prevSeq = cp.seq;
    if (cp.seq > lastSeq) {
      // Tail truncation: the signed head lies beyond what remains. Name where the first missing event belongs.
      return bad(lastPos.segment, lastPos.line + 1, `truncated: checkpoint ${i + 1} names seq ${cp.seq} but the log ends at seq ${lastSeq}`, lastSeq + 1);
    }
    if (hashes.get(cp.seq) !== cp.headHash) {
      return bad(CHECKPOINTS_FILE, i + 1, `checkpoint head hash does not match event ${cp.seq} (chain rewritten)`, cp.seq);
    }
    out.push(cp);
  }
  if (torn) return bad(CHECKPOINTS_FILE, full.length + 1, 'torn last checkpoint line');
  return out;
}

function signerMismatch(cp: Checkpoint, signer: string | undefined): string | null {
  if (signer === undefined || cp.signer?.spiffeId === signer) return null;
  return `checkpoint signed by ${String(cp.signer?.spiffeId)}, expected ${signer}`;
}
