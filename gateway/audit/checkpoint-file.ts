/**
 * `checkpoints.jsonl`: one signed checkpoint per line, each write fdatasync'ed (checkpoints are rare and are
 * the evidence against tail truncation). A failed write is cut back so no half line stays.
 */
import { syncDir } from './segment-writer.js';
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from './audit-checkpoint.js';
import { CHECKPOINTS_FILE } from './audit-segments.js';

export class CheckpointFile {
  private fd: number | null = null;

  constructor(private readonly dir: string) {}

  append(cp: Checkpoint): void {
    if (this.fd === null) {
      this.fd = openSync(join(this.dir, CHECKPOINTS_FILE), 'a', 0o640);
      syncDir(this.dir);
    }
    const fd = this.fd;
    const size = fstatSync(fd).size;
    try {
      writeSync(fd, JSON.stringify(cp) + '\n');
      fdatasyncSync(fd);
    } catch (err) {
      try {
        ftruncateSync(fd, size);
      } catch {
        /* the tail repair on next open handles it */
      }
      throw err;
    }
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
