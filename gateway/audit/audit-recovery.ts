/**
 * What AuditLog.open finds on disk: the chain head (last good seq + hash), the segment to continue, and the
 * torn tails it had to cut (a crash mid-write). Only the last line of the last segment (and of the
 * checkpoint file) is ever cut; full verification of the middle is `verifyAuditDir`'s job. A directory whose
 * segments were all archived while its checkpoints remain is refused (refuseArchivedTrail), not restarted; so is,
 * for the gateway's own log, one whose newest segments are gone (refuseLostHead), not continued.
 */
import { existsSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../errors.js';
import { GENESIS_HASH } from './audit-events.js';
import {
  CHECKPOINTS_FILE,
  cutTail,
  listSegments,
  parseEventLine,
  readWhole,
  scanTail,
  segmentName,
  type TailRepair,
  type TailScan,
} from './audit-segments.js';

export interface RecoveredState {
  readonly lastSeq: number;
  readonly lastHash: string;
  /** The segment to keep appending to, or null to start a new one on the first write. */
  readonly current: { name: string; size: number } | null;
  readonly repairs: readonly (TailRepair & { lastGoodSeq: number })[];
  readonly lastCheckpointSeq: number;
}

export interface RecoverOptions {
  /**
   * Refuse a directory whose checkpoints sign a seq beyond its last present event (refuseLostHead). True for
   * the gateway's own log: it signs a checkpoint only after an fdatasync that covers its seq
   * (audit-checkpointer.ts), so such a checkpoint proves the events after the last present one existed. Not
   * for the hub's copy of a trail (fleet/audit-gateway-trail.ts): it writes checkpoints without that order,
   * so after a power loss one may be ahead of its events, which come again from the edge stream.
   */
  readonly refuseLostHead?: boolean;
}

export function recoverDir(dir: string, opts: RecoverOptions = {}): RecoveredState {
  const segments = listSegments(dir);
  // Read-only until the head is judged: a refused open must leave the directory as it was.
  refuseArchivedTrail(dir, segments);
  const head = findHead(dir, segments);
  const cpPath = join(dir, CHECKPOINTS_FILE);
  const cps = existsSync(cpPath) ? scanTail(cpPath, (l) => checkpointSeq(l) !== null) : null;
  const lastCheckpointSeq = (cps?.lastLine == null ? null : checkpointSeq(cps.lastLine)) ?? 0;
  if (opts.refuseLostHead === true) refuseLostHead(dir, head, lastCheckpointSeq);

  const repairs: (TailRepair & { lastGoodSeq: number })[] = [];
  if (head.tail !== null && head.tail.repair !== null) {
    cutTail(head.tail);
    repairs.push({ ...head.tail.repair, lastGoodSeq: head.lastSeq });
  }
  let current: RecoveredState['current'] = null;
  const newest = segments[segments.length - 1];
  if (newest !== undefined) {
    const path = join(dir, newest);
    const size = statSync(path).size;
    if (size > 0) current = { name: newest, size };
    else if (newest === segmentName(head.lastSeq + 1)) current = { name: newest, size: 0 };
    else unlinkSync(path); // empty and misnamed: holds no evidence, would only confuse the verifier
  }
  if (cps !== null && cps.repair !== null) {
    cutTail(cps);
    repairs.push({ ...cps.repair, lastGoodSeq: head.lastSeq });
  }
  return { lastSeq: head.lastSeq, lastHash: head.lastHash, current, repairs, lastCheckpointSeq };
}

interface FoundHead {
  readonly lastSeq: number;
  readonly lastHash: string;
  /** The newest segment's tail as scanned (its torn last line not cut yet), or null without segments. */
  readonly tail: TailScan | null;
  /** The segment that holds the head event, or null when no segment holds an event. */
  readonly segment: string | null;
}

/** Walks back from the newest segment to the newest event (a crash right after rotation leaves an empty one). */
function findHead(dir: string, segments: readonly string[]): FoundHead {
  let tail: TailScan | null = null;
  for (let i = segments.length - 1; i >= 0; i--) {
    const path = join(dir, segments[i]!);
    let lastLine: string | null;
    if (i === segments.length - 1) ({ lastLine } = tail = scanTail(path, (l) => parseEventLine(l) !== null));
    else lastLine = lastLineOf(path);
    const rec = lastLine === null ? null : parseEventLine(lastLine);
    if (rec !== null) return { lastSeq: rec.seq, lastHash: rec.hash, tail, segment: segments[i]! };
  }
  return { lastSeq: 0, lastHash: GENESIS_HASH, tail, segment: null };
}

/**
 * The newest segments archived or deleted (or the newest cut short) while older ones and `checkpoints.jsonl`
 * remain: the checkpoint signs a seq the directory no longer holds, and continuing the chain from the last
 * present event would fork the trail — two different events for the seqs after it, one in the archive and one
 * here [IEC 62443-3-3 SR 2.8, SR 2.12]. The log refuses to open, as for a fully archived directory.
 * The signed checkpoints are the only evidence of the head on the box: the SIEM spool's `head.json` lives in the
 * exporter's own directory and says what was exported, not what is on disk. Without checkpoints
 * (`audit.checkpoint` off) nothing on the box tells a removed newest segment from a trail that ended there, so
 * such a directory opens and the fork is left to `audit verify --checkpoint` against a copy kept off the box.
 * A seq whose checkpoint was signed but whose event's line was torn is impossible here: the checkpoint follows
 * the event's fdatasync. The last line of `checkpoints.jsonl` is the highest seq: checkpoints are appended in
 * chain order. The directory holds no event at all: refuseArchivedTrail has already said so.
 */
function refuseLostHead(dir: string, head: FoundHead, signedSeq: number): void {
  if (signedSeq <= head.lastSeq || head.segment === null) return;
  throw new GatewayError(
    'GW_ERR_AUDIT_WRITE',
    `audit: the newest event in ${dir} is seq ${head.lastSeq} (${head.segment}), but ${CHECKPOINTS_FILE} signs ` +
      `the chain up to seq ${signedSeq}: the segments after it were archived, deleted or cut short, and ` +
      `continuing from seq ${head.lastSeq} would fork the trail. Either put the archived segments back into ` +
      `${dir}, up to the one holding seq ${signedSeq} (the chain continues after the newest), or move the ` +
      `remaining segments and ${CHECKPOINTS_FILE} to the archive with them (a new trail starts at seq 1)`,
  );
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
