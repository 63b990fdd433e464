/**
 * Where the block publisher resumes: the last block and checkpoint the edge stream holds for this gateway
 * (the last message on each of its subjects; `verigate control` purges the edge stream only up to, not
 * including, the last verified block, so it stays), whether that block ends where the local chain has the same
 * event, and the newest local checkpoint to send after them.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from '../audit/audit-checkpoint.js';
import { CHECKPOINTS_FILE } from '../audit/audit-segments.js';
import type { Logger } from '../logger.js';
import { decodeBlock, decodeCheckpoint } from './audit-block.js';
import type { AuditFileReader } from './audit-file-reader.js';
import { auditCheckpointsSubject, auditEventsSubject } from './fleet-topology.js';

export interface ResumePoint {
  /** Last event seq stored in the edge stream (0: none). */
  readonly lastSeq: number;
  /** Its hash, to compare with the local chain. */
  readonly head: string | null;
  readonly lastCheckpointSeq: number;
  /** Why a stored message was not usable (it is then ignored: publishing starts over, the collector dedups). */
  readonly problem: string | null;
}

export async function resumePoint(
  port: { lastMessage(subject: string): Promise<Uint8Array | null> },
  site: string,
  gateway: string,
): Promise<ResumePoint> {
  const ev = await port.lastMessage(auditEventsSubject(site, gateway));
  const cp = await port.lastMessage(auditCheckpointsSubject(site, gateway));
  let problem: string | null = null;
  let lastSeq = 0;
  let head: string | null = null;
  if (ev !== null) {
    const b = decodeBlock(ev);
    if (typeof b === 'string') problem = `last stored block: ${b}`;
    else if (b.gateway !== gateway || b.site !== site) problem = `last stored block is of ${b.site}/${b.gateway}`;
    else ({ last: lastSeq, head } = b);
  }
  let lastCheckpointSeq = 0;
  if (cp !== null) {
    const c = decodeCheckpoint(cp);
    if (typeof c !== 'string' && c.gateway === gateway && c.site === site) lastCheckpointSeq = c.checkpoint.seq;
  }
  return { lastSeq, head, lastCheckpointSeq, problem };
}

/**
 * Why the edge trail diverged from the local one, or null. The stream's last block must end at or below the
 * local head, where the local chain has the same event: else the edge holds events the disk lost (a power cut
 * under fsync `never`) or another trail under this gateway's name (a reinstall), and resuming after it would
 * skip the local events up to that seq for good. An event no longer in the local files (archived) cannot be
 * compared: logged, not held.
 */
export function divergence(
  reader: Pick<AuditFileReader, 'read'>,
  at: Pick<ResumePoint, 'lastSeq' | 'head'>,
  localHead: number,
  log: Logger,
): string | null {
  const { lastSeq: seq, head } = at;
  if (seq === 0 || head === null) return null;
  if (seq > localHead)
    return `the edge stream holds events up to seq ${seq}, the local audit trail ends at ${localHead}`;
  const r = reader.read(seq, seq, 1);
  const local = 'events' in r ? r.events[0] : undefined;
  if (local === undefined) {
    const why = 'error' in r ? r.error : 'not in the local files (archived?)';
    log.warn(
      { seq, streamHead: head, why },
      "fleet audit: cannot compare the edge stream's last event with the local one",
    );
    return null;
  }
  if (local.hash === head) return null;
  return `event ${seq} has hash ${head} in the edge stream, ${local.hash} in the local audit trail`;
}

const TAIL_BYTES = 64 * 1024;

/** The last complete line of checkpoints.jsonl (read from its tail only), or null. */
export function lastLocalCheckpoint(dir: string): Checkpoint | null {
  const path = join(dir, CHECKPOINTS_FILE);
  if (!existsSync(path)) return null;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    const lines = buf.toString('utf8').split('\n');
    lines.pop(); // after the last newline: empty, or a torn line
    const line = lines.pop();
    if (line === undefined) return null;
    const cp = JSON.parse(line) as Checkpoint;
    return typeof cp.seq === 'number' ? cp : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
