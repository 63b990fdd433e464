/**
 * Replacing a small file (a store, a cursor, a policy the fleet hub sent) so that a crash leaves the old
 * content or the new one, never a torn file: the text goes to a temp file beside it, which is fsynced and
 * renamed over the old one; then the directory is fsynced, so the rename itself survives a power loss.
 */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /** Permissions of a new file. */
  readonly mode: number;
  /** fsync the directory after the rename (default true); a caller whose old content is harmless may skip it. */
  readonly syncDir?: boolean;
}

/**
 * Throws what the file system throws. Before the rename the old file is untouched (a temp file may be left
 * behind); a throw from the directory fsync comes after the new file is in place.
 */
export function writeFileAtomically(path: string, text: string, opts: AtomicWriteOptions): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', opts.mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (opts.syncDir === false) return;
  const dfd = openSync(dirname(path), 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}
