/**
 * What AuditLog.open finds on disk: the chain head (last good seq + hash), the segment to continue, and the
 * torn tails it had to cut (a crash mid-write). Only the last line of the last segment (and of the
 * checkpoint file) is ever cut; full verification of the middle is `verifyAuditDir`'s job. A directory whose
 * segments were all archived while its checkpoints remain is refused (refuseArchivedTrail), not restarted.
 */
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { GENESIS_HASH } from './audit-events.js';
import {
  CHECKPOINTS_FILE,
  listSegments,
  parseEventLine,
  readWhole,
  repairTail,
  segmentName,
  type TailRepair,
} from './audit-segments.js';

export interface RecoveredState {
  readonly lastSeq: number;
  readonly lastHash: string;
  /** The segment to keep appending to, or null to start a new one on the first write. */
  readonly current: { name: string; size: number } | null;
  readonly repairs: readonly (TailRepair & { lastGoodSeq: number })[];
  readonly lastCheckpointSeq: number;
}

export function recoverDir(dir: string): RecoveredState {
  const repairs: (TailRepair & { lastGoodSeq: number })[] = [];
  const segments = listSegments(dir);
  refuseArchivedTrail(dir, segments); // before any repair: a refused open must leave the directory as it was
  let lastSeq = 0;
  let lastHash = GENESIS_HASH;
  let pendingRepair: TailRepair | null = null;
  // Walk back from the newest segment to the newest event (a crash right after rotation leaves an empty one).
  for (let i = segments.length - 1; i >= 0; i--) {
    const path = join(dir, segments[i]!);
    const { repair, lastLine } =
      i === segments.length - 1
        ? repairTail(path, (l) => parseEventLine(l) !== null)
        : { repair: null, lastLine: lastLineOf(path) };
    if (repair !== null) pendingRepair = repair;
    const rec = lastLine === null ? null : parseEventLine(lastLine);
    if (rec !== null) {
      lastSeq = rec.seq;
      lastHash = rec.hash;
      break;
    }
  }
  if (pendingRepair !== null) repairs.push({ ...pendingRepair, lastGoodSeq: lastSeq });

  let current: RecoveredState['current'] = null;
  const newest = segments[segments.length - 1];
  if (newest !== undefined) {
    const path = join(dir, newest);
    const size = statSync(path).size;
    if (size > 0) current = { name: newest, size };
    else if (newest === segmentName(lastSeq + 1)) current = { name: newest, size: 0 };
    else unlinkSync(path); // empty and misnamed: holds no evidence, would only confuse the verifier
  }

  let lastCheckpointSeq = 0;
  const cpPath = join(dir, CHECKPOINTS_FILE);
  if (existsSync(cpPath)) {
    const { repair, lastLine } = repairTail(cpPath, (l) => checkpointSeq(l) !== null);
    if (repair !== null) repairs.push({ ...repair, lastGoodSeq: lastSeq });
    lastCheckpointSeq = (lastLine === null ? null : checkpointSeq(lastLine)) ?? 0;
  }
  return { lastSeq, lastHash, current, repairs, lastCheckpointSeq };
}

/**
 * Every segment archived (or deleted) while `checkpoints.jsonl` still signs a head: starting again at seq 1 from
 * the genesis hash would fork the trail — a second chain whose segment names collide with the archived ones,
 * checkpoints naming seqs the new chain does not hold [IEC 62443-3-3 SR 2.8, SR 2.12]. Nothing on the box can
 * prove where the archived chain ended (events may follow its last checkpoint), so the log does not guess: it
 * refuses to open and says what to do. Reads only; an empty segment is no event.
 */
function refuseArchivedTrail(dir: string, segments: readonly string[]): void {
  const cpPath = join(dir, CHECKPOINTS_FILE);
  if (!existsSync(cpPath) || segments.some((s) => statSync(join(dir, s)).size > 0)) return;
  const text = readWhole(cpPath).toString('utf8');
  const seq = text
    .split('\n')
    .map(checkpointSeq)
    .reduce<number>((m, s) => Math.max(m, s ?? 0), 0);
  if (seq === 0) return;
  throw new GatewayError(
    'GW_ERR_AUDIT_WRITE',
    `audit: ${dir} holds no audit events, but ${CHECKPOINTS_FILE} signs the chain up to seq ${seq}: its segments ` +
      `were archived or deleted, and starting again at seq 1 would fork the trail. Either put the newest archived ` +
      `segment back into ${dir} (the chain continues after it), or move ${CHECKPOINTS_FILE} to the archive with ` +
      `the segments it covers (a new trail starts at seq 1)`,
  );
}

function lastLineOf(path: string): string | null {
  const buf = readWhole(path);
  if (buf.length === 0) return null;
  const end = buf[buf.length - 1] === 0x0a ? buf.length - 1 : buf.length;
  const start = buf.lastIndexOf(0x0a, end - 1) + 1;
  return buf.subarray(start, end).toString('utf8');
}

function checkpointSeq(line: string): number | null {
  try {
    const o = JSON.parse(line) as { seq?: unknown; sig?: unknown };
    return typeof o.seq === 'number' && typeof o.sig === 'string' ? o.seq : null;
  } catch {
    return null;
  }
}
