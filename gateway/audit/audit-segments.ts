/**
 * Segment files of the audit log: `audit-<first seq, 16 digits>.jsonl`, one canonical JSON event per line.
 * Names sort by sequence, so a renamed or missing segment shows up as a sequence gap. Also: finding and
 * cutting a torn last line (crash mid-write) when the log opens.
 */
import { isUtf8 } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync, readdirSync, truncateSync } from 'node:fs';
import { canonicalJson, eventHash, sha256Hex } from './canonical-json.js';

export const SEGMENT_RE = /^audit-(\d{16})\.jsonl$/;
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';

export function segmentName(firstSeq: number): string {
  return `audit-${String(firstSeq).padStart(16, '0')}.jsonl`;
}

export function listSegments(dir: string): string[] {
  return readdirSync(dir)
    .filter((n) => SEGMENT_RE.test(n))
    .sort();
}

export function segmentFirstSeq(name: string): number {
  const m = SEGMENT_RE.exec(name);
  return m === null ? NaN : Number(m[1]);
}

/** Read a whole file (segments are bounded by segmentBytes). */
export function readWhole(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

export interface TailRepair {
  readonly file: string;
  readonly truncatedBytes: number;
  readonly discardedSha256: string;
  readonly reason: 'torn-tail' | 'unparsable-tail' | 'bad-hash-tail';
}

/** A parsed, self-consistent line, or null. */
export function parseEventLine(line: string): (Record<string, unknown> & { seq: number; hash: string }) | null {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return null;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return null;
  const rec = obj as Record<string, unknown>;
  if (typeof rec['seq'] !== 'number' || typeof rec['hash'] !== 'string') return null;
  if (canonicalJson(rec) !== line || eventHash(rec) !== rec['hash']) return null;
  return rec as Record<string, unknown> & { seq: number; hash: string };
}

/** What `scanTail` found: the last valid line, and what a repair would cut (`keep`: the bytes that stay). */
export interface TailScan {
  readonly repair: TailRepair | null;
  readonly lastLine: string | null;
  readonly keep: number;
}

/** Applies the cut a `scanTail` found (none: nothing happens). */
export function cutTail(scan: TailScan): void {
  if (scan.repair !== null) truncateSync(scan.repair.file, scan.keep);
}

/**
 * Find a torn tail of a JSONL file: bytes after the last newline (a write cut short), and then a last full
 * line that is not a valid record (`validate` false: e.g. zero-filled blocks after a crash on delayed
 * allocation). Only the LAST line is ever cut; the digest of what would be cut is returned so the log can
 * record it (`audit.recovered`) — the cut stays evident. Reads only (`cutTail` cuts), so a caller may still
 * refuse to open and leave the file as it was.
 */
export function scanTail(path: string, validate: (line: string) => boolean): TailScan {
  const buf = readWhole(path);
  let end = buf.length;
  let reason: TailRepair['reason'] | null = null;
  const lastNl = buf.lastIndexOf(0x0a);
  if (lastNl !== end - 1) {
    end = lastNl + 1;
    reason = 'torn-tail';
  }
  let lastLine: string | null = null;
  if (end > 0) {
    const prevNl = buf.lastIndexOf(0x0a, end - 2);
    const bytes = buf.subarray(prevNl + 1, end - 1);
    // Bytes that are not UTF-8 are no line the log wrote, though they decode (U+FFFD) to one that validates.
    const line = isUtf8(bytes) ? bytes.toString('utf8') : null;
    if (line !== null && validate(line)) {
      lastLine = line;
    } else {
      reason = reason ?? (line !== null && isJson(line) ? 'bad-hash-tail' : 'unparsable-tail');
      end = prevNl + 1;
      const prevLineStart = end > 0 ? buf.lastIndexOf(0x0a, end - 2) + 1 : 0;
      lastLine = end > 0 ? buf.subarray(prevLineStart, end - 1).toString('utf8') : null;
    }
  }
  if (reason === null) return { repair: null, lastLine, keep: end };
  const cut = buf.subarray(end);
  return {
    repair: { file: path, truncatedBytes: cut.length, discardedSha256: sha256Hex(cut), reason },
    lastLine,
    keep: end,
  };
}

function isJson(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}
