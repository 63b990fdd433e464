/**
 * Appends lines to the current segment with synchronous writes, rotating by size. A failed write is undone
 * (ftruncate back to the last good size) so no half line stays in the middle of a segment; the file is
 * reopened on the next attempt (that is how a log recovers once space is freed).
 *
 * Why synchronous `writeSync` per event: append() runs on the request path and must say, before the
 * response goes out, whether the event is in the file [IEC 62443-3-3 SR 2.10 fail-closed]. Cost: one
 * write(2) into the page cache per event (a few µs); durability is the fsync policy's job (audit-log.ts).
 */
import { closeSync, fdatasync, fdatasyncSync, fsyncSync, fstatSync, ftruncateSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { segmentName } from './audit-segments.js';

export class SegmentWriter {
  private fd: number | null = null;
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

  /** Write one line (no newline inside) whose event has sequence `seq`. Throws on failure, state unchanged. */
  write(line: string, seq: number): void {
    const bytes = Buffer.from(line + '\n', 'utf8');
    if (this.name === null || (this.size > 0 && this.size + bytes.length > this.segmentBytes)) this.rotate(seq);
    const fd = this.ensureOpen();
    let off = 0;
    try {
      while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    } catch (err) {
      this.undo(fd);
      throw err;
    }
    this.size += bytes.length;
  }

  sync(): void {
    if (this.fd !== null) fdatasyncSync(this.fd);
  }

  /** Off the request path: used by the interval fsync policy. */
  syncAsync(done: (err: Error | null) => void): void {
    if (this.fd === null) return done(null);
    fdatasync(this.fd, (err) => done(err));
  }

  close(): void {
    if (this.fd === null) return;
    try {
      fdatasyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = null;
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
    try {
      closeSync(fd);
    } catch {
      /* already broken */
    }
    this.fd = null;
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
