/**
 * Reads stored audit events from the segment files, forward from a seq, in bounded chunks with a cursor kept
 * between calls: what the block publisher uses when it lags too far behind the log to buffer the events in
 * memory (a re-read costs one pass over the bytes, not one pass per block as a whole-segment replay would).
 * Only whole lines are consumed; the lines are the log's own canonical JSON and are passed on as they are.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import { listSegments, segmentFirstSeq } from '../audit/audit-segments.js';
import type { BlockEvent } from './audit-block.js';

const CHUNK_BYTES = 1024 * 1024;

interface Cursor {
  segment: string;
  offset: number;
  nextSeq: number;
}

export type ReadResult = { readonly events: BlockEvent[] } | { readonly error: string };

export class AuditFileReader {
  private cursor: Cursor | null = null;

  constructor(
    private readonly dir: string,
    private readonly chunkBytes = CHUNK_BYTES,
  ) {}

  /** Events `from`..`upTo` (at most `max`) in order; fewer when the files end earlier. */
  read(from: number, upTo: number, max: number): ReadResult {
    const out: BlockEvent[] = [];
    try {
      const c = this.cursor?.nextSeq === from ? this.cursor : this.seek(from);
      this.cursor = c;
      while (c !== null && out.length < max && c.nextSeq <= upTo) {
        const r = this.readChunk(c, from, upTo, max, out);
        if (r === 'stop') break;
        if (r === 'end' && !this.nextSegment(c)) break;
      }
    } catch (err) {
      this.cursor = null;
      return { error: `audit files: ${errorMessage(err)}` };
    }
    const gap = out.findIndex((e, i) => e.seq !== from + i);
    if (gap >= 0) return { error: `audit files: seq ${out[gap]!.seq} where ${from + gap} was expected` };
    return { events: out };
  }

  /** The segment holding `from` (the last one whose first seq ≤ from), read from its start. */
  private seek(from: number): Cursor | null {
    const segs = listSegments(this.dir);
    let seg: string | undefined;
    for (const s of segs) if (segmentFirstSeq(s) <= from) seg = s;
    if (seg === undefined) return null;
    return { segment: seg, offset: 0, nextSeq: segmentFirstSeq(seg) };
  }

  /** Moves c to the next segment when it starts where c ends; false when there is none yet (no rotation). */
  private nextSegment(c: Cursor): boolean {
    const next = listSegments(this.dir).find((s) => s > c.segment);
    if (next === undefined || segmentFirstSeq(next) !== c.nextSeq) return false;
    c.segment = next;
    c.offset = 0;
    return true;
  }

  /**
   * Reads whole lines from c's offset into out: 'stop' at upTo or max, 'end' when no whole line is left in the
   * file, 'more' when the chunk is used up.
   */
  private readChunk(c: Cursor, from: number, upTo: number, max: number, out: BlockEvent[]): 'stop' | 'end' | 'more' {
    const fd = openSync(join(this.dir, c.segment), 'r');
    let buf: Buffer;
    let n: number;
    try {
      let size = this.chunkBytes;
      for (;;) {
        buf = Buffer.allocUnsafe(size);
        n = readSync(fd, buf, 0, size, c.offset);
        // a line longer than the chunk: read a larger one (lines are bounded by the segment size)
        if (n < size || buf.lastIndexOf(0x0a, n - 1) >= 0) break;
        size *= 2;
      }
    } finally {
      closeSync(fd);
    }
    let start = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0 || nl >= n) return start === 0 ? 'end' : 'more'; // a partial last line is left for later
      const line = buf.toString('utf8', start, nl);
      const rec = JSON.parse(line) as { seq: number; prev: string; hash: string };
      if (rec.seq > upTo || out.length >= max) return 'stop';
      c.offset += nl + 1 - start;
      c.nextSeq = rec.seq + 1;
      start = nl + 1;
      if (rec.seq >= from) out.push({ seq: rec.seq, prev: rec.prev, hash: rec.hash, json: line });
    }
  }
}
