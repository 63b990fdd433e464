/**
 * The checkpoint half of offline verification (audit-verify.ts): off-box checkpoints first, then the local
 * checkpoints file; each must be validly signed (by the expected signer, when one is given) and name an event
 * the chain still holds, with the same hash. A checkpoint beyond the chain's end is tail truncation.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkCheckpoint, type Checkpoint } from './audit-checkpoint.js';
import { CHECKPOINTS_FILE, readWhole } from './audit-segments.js';
import type { ExternalCheckpoint } from './external-checkpoints.js';
import { bad, lines, type Bad, type VerifyOptions } from './verify-result.js';

/** What the chain ended with: the hashes of the events checkpoints name, the last seq, and where it is. */
interface ChainEnd {
  readonly hashes: Map<number, string>;
  readonly lastSeq: number;
  readonly lastPos: { segment: string; line: number };
}

export function verifyCheckpoints(
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
  const { full, torn, notUtf8 } = lines(readWhole(path));
  const out: Checkpoint[] = [];
  let prevSeq = 0;
  for (let i = 0; i < full.length; i++) {
    if (i === notUtf8) return bad(CHECKPOINTS_FILE, i + 1, 'checkpoint is not valid UTF-8 (modified)');
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
