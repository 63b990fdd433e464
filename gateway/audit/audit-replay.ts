/**
 * Replays stored events from the segments (seq ≥ fromSeq), e.g. so a SIEM exporter that starts after the log,
 * or restarts after a crash, catches up on what it has not spooled yet. Segment by segment (each bounded by
 * segmentBytes), in order.
 */
import { join } from 'node:path';
import type { AuditRecord } from './audit-events.js';
import { listSegments, parseEventLine, readWhole, segmentFirstSeq } from './audit-segments.js';

export function replayEvents(
  dir: string,
  fromSeq: number,
  upToSeq: number,
  deliver: (rec: AuditRecord) => void,
): number {
  const segs = listSegments(dir);
  let delivered = 0;
  for (let i = 0; i < segs.length; i++) {
    const next = segs[i + 1];
    if (next !== undefined && segmentFirstSeq(next) <= fromSeq) continue; // wholly before fromSeq
    if (segmentFirstSeq(segs[i]!) > upToSeq) break;
    for (const line of readWhole(join(dir, segs[i]!)).toString('utf8').split('\n')) {
      if (line.length === 0) continue;
      const rec = parseEventLine(line);
      if (rec === null || rec.seq < fromSeq || rec.seq > upToSeq) continue;
      deliver(rec as unknown as AuditRecord);
      delivered++;
    }
  }
  return delivered;
}
