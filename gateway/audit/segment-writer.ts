/**
 * Appends lines to the current segment with synchronous writes, rotating by size. A failed write is undone
 * (ftruncate back to the last good size) so no half line stays in the middle of a segment; the file is
 * reopened on the next attempt (that is how a log recovers once space is freed).
 *
 * Why synchronous writes: the audit log's group commit (group-commit.ts) writes the events of one event-loop
 * turn together and must know, before the responses of that turn are released, whether they are in the file
 * [IEC 62443-3-3 SR 2.10 fail-closed]. Cost: one write(2) into the page cache per batch and segment; durability
 * is the fsync policy's job.
 */
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  statSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { segmentName } from './audit-segments.js';

/** How many lines of a batch are in the file; on failure, why the rest is not. */
export interface BatchResult {
  readonly written: number;
  readonly error: Error | null;
}

export class SegmentWriter {
  private fd: number | null = null;
  /** Background fdatasync calls in flight, per descriptor; descriptors to close once theirs finish. */
  private readonly syncing = new Map<number, number>();
  private readonly retired = new Set<number>();
  /** Set when a segment was closed after a write failure and its fdatasync failed too; cleared by the next good sync. */
  private unsyncedClose: Error | null = null;
  private name: string | null;
  private size: number;

  constructor(
    private readonly dir: string,
    private readonly segmentBytes: number,
    current: { name: string; size: number } | null,
  ) {
    this.name = current?.name ?? null;
    this.size = current?.size ?? 0;
  }

  get segment(): string | null {
    return this.name;
  }

  /** Writes `buf[from, from + length)` (whole lines) to the open segment. Throws on failure, state unchanged. */
  private write(buf: Buffer, from: number, length: number): void {
    const fd = this.ensureOpen();
    let off = 0;
    try {
      while (off < length) off += writeSync(fd, buf, from + off, length - off);
    } catch (err) {
      this.undo(fd);
      throw err;
    }
    this.size += length;
  }

  /**
   * writeBytes() for lines given as strings (no newline; `bytes`: their UTF-8 size plus the newline), e.g. the
   * fleet's copies of gateway trails.
   */
  writeBatch(lines: readonly { readonly line: string; readonly seq: number; readonly bytes: number }[]): BatchResult {
    let text = '';
    let at = 0;
    const placed = lines.map((l) => {
      text += l.line + '\n';
      const p = { at, seq: l.seq, bytes: l.bytes };
      at += l.bytes;
      return p;
    });
    return this.writeBytes(Buffer.from(text, 'utf8'), placed);
  }

  /**
   * Writes a batch of lines in as few write(2) calls as segment boundaries allow (one, unless the batch
   * crosses a rotation). Each line is `buf[at, at + bytes)`, newline included, and the lines follow each other
   * in `buf` (the audit log's LineBuffer), so a run of them is one slice: no string join, no UTF-8 conversion.
   * Returns how many lines are in the file; on failure the lines from `written` on are not (their segment was
   * cut back to its last good size) and `error` says why.
   */
  writeBytes(
    buf: Buffer,
    lines: readonly { readonly at: number; readonly seq: number; readonly bytes: number }[],
  ): BatchResult {
    let i = 0;
    while (i < lines.length) {
      const first = lines[i]!;
      if (this.name === null || (this.size > 0 && this.size + first.bytes > this.segmentBytes)) {
        try {
          this.rotate(first.seq);
        } catch (err) {
          return { written: i, error: err as Error };
        }
      }
      // Take lines while they fit this segment (at least one, so a line larger than a segment still goes).
      let end = i + 1;
      let bytes = first.bytes;
      while (end < lines.length && this.size + bytes + lines[end]!.bytes <= this.segmentBytes)
        bytes += lines[end++]!.bytes;
      try {
        this.write(buf, first.at, bytes);
      } catch (err) {
        return { written: i, error: err as Error };
      }
      i = end;
    }
    return { written: i, error: null };
  }

  /**
   * fdatasync the open segment. With no segment open, a descriptor that was closed after a failed write without
   * a successful fdatasync (undo) means earlier lines may not be durable: that is a failure, not "synced".
   */
  sync(): void {
    if (this.fd === null) {
      if (this.unsyncedClose !== null) throw this.unsyncedClose;
      return;
    }
    fdatasyncSync(this.fd);
    this.unsyncedClose = null;
  }

  /** Off the request path: used by the interval fsync policy. */
  syncAsync(done: (err: Error | null) => void): void {
    const fd = this.fd;
    if (fd === null) return done(this.unsyncedClose);
    this.syncing.set(fd, (this.syncing.get(fd) ?? 0) + 1);
    fdatasync(fd, (err) => {
      const left = (this.syncing.get(fd) ?? 1) - 1;
      if (left > 0) this.syncing.set(fd, left);
      else {
        this.syncing.delete(fd);
        if (this.retired.delete(fd)) closeQuietly(fd);
      }
      done(err);
    });
  }

  /**
   * fdatasync, then close. A descriptor with a background fdatasync still in the thread pool is closed when
   * that finishes: closing it now could let the number be reused and the pending sync hit another file.
   */
  close(): void {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    try {
      fdatasyncSync(fd);
    } catch (err) {
      this.unsyncedClose = err as Error; // its lines may not be durable: sync() says so until a good sync
      throw err;
    } finally {
      if (this.syncing.has(fd)) this.retired.add(fd);
      else closeSync(fd);
    }
  }

  private rotate(seq: number): void {
    if (this.fd !== null) this.close();
    const next = segmentName(seq);
    const fd = openSync(join(this.dir, next), 'a', 0o640);
    this.fd = fd;
    this.name = next;
    this.size = fstatSync(fd).size;
    syncDir(this.dir); // the new segment's directory entry must survive a power loss too
  }

  private ensureOpen(): number {
    if (this.fd !== null) return this.fd;
    const path = join(this.dir, this.name!);
    // A previous failed attempt may have left bytes past the last good size: cut them first.
    try {
      if (statSync(path).isFile() && statSync(path).size > this.size) truncateSync(path, this.size);
    } catch {
      /* missing file: open creates it */
    }
    this.fd = openSync(path, 'a', 0o640);
    return this.fd;
  }

  private undo(fd: number): void {
    try {
      ftruncateSync(fd, this.size);
    } catch {
      /* e.g. a device: nothing to cut */
    }
    // The lines written before the failure must still reach the disk before the descriptor goes.
    try {
      fdatasyncSync(fd);
    } catch (err) {
      this.unsyncedClose = err as Error;
    }
    this.fd = null;
    if (this.syncing.has(fd)) this.retired.add(fd);
    else closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* already closed */
  }
}

/** fsync a directory, so a file created in it is durable, not just the file's bytes. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
