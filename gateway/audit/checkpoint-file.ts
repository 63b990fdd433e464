/**
 * `checkpoints.jsonl`: one signed checkpoint per line. A failed write is cut back so no half line stays.
 * Each line is fdatasync'ed in the thread pool, not on the event loop: at high event rates checkpoints come
 * many times a second, and a synchronous disk flush would stall every request of that turn. A checkpoint
 * lost to power failure before its flush is one not yet taken: the events it covered are on disk (their
 * fdatasync came first, audit-log.ts) and the next checkpoint covers them. close() flushes synchronously.
 */
import { syncDir } from './segment-writer.js';
import { closeSync, fdatasync, fdatasyncSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from './audit-checkpoint.js';
import { CHECKPOINTS_FILE } from './audit-segments.js';

export class CheckpointFile {
  private fd: number | null = null;
  private syncing = 0;
  private closeWhenSynced = false;

  constructor(
    private readonly dir: string,
    private readonly onSyncError: (err: Error) => void = () => {},
  ) {}

  append(cp: Checkpoint): void {
    if (this.fd === null) {
      this.fd = openSync(join(this.dir, CHECKPOINTS_FILE), 'a', 0o640);
      syncDir(this.dir);
    }
    const fd = this.fd;
    const size = fstatSync(fd).size;
    try {
      writeSync(fd, JSON.stringify(cp) + '\n');
    } catch (err) {
      try {
        ftruncateSync(fd, size);
      } catch {
        /* the tail repair on next open handles it */
      }
      throw err;
    }
    this.syncing++;
    fdatasync(fd, (err) => {
      if (--this.syncing === 0 && this.closeWhenSynced) closeSync(fd);
      if (err) this.onSyncError(err);
    });
  }

  /**
   * Flushes every line appended so far, synchronously; throws when it failed. For a reader that must know they
   * are durable before it moves on (the fleet collector's cursor, gateway/fleet/audit-gateway-trail.ts).
   */
  sync(): void {
    if (this.fd !== null) fdatasyncSync(this.fd);
  }

  close(): void {
    const fd = this.fd;
    if (fd === null) return;
    this.fd = null;
    try {
      fdatasyncSync(fd);
    } catch (err) {
      this.onSyncError(err as Error);
    }
    // A descriptor with a flush still in the thread pool is closed when it finishes (no reuse under it).
    if (this.syncing > 0) this.closeWhenSynced = true;
    else closeSync(fd);
  }
}
