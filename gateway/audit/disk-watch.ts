/**
 * Free space on the audit filesystem (fs.statfs): a warning before the log runs out of room
 * [IEC 62443-3-3 SR 2.9 audit storage capacity]. Logs once per transition into "low".
 */
import { statfs } from 'node:fs/promises';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';

export class DiskWatch {
  low = false;
  freeBytes: number | null = null;

  constructor(
    private readonly dir: string,
    private readonly minFreeBytes: number | undefined,
    private readonly logger: Logger,
    private readonly onFree: (bytes: number) => void = () => {},
  ) {}

  async check(): Promise<void> {
    try {
      const s = await statfs(this.dir);
      this.freeBytes = Number(s.bavail) * Number(s.bsize);
      this.onFree(this.freeBytes);
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'audit: statfs failed');
      return;
    }
    const min = this.minFreeBytes;
    const low = min !== undefined && this.freeBytes < min;
    if (low && !this.low)
      this.logger.warn(
        { freeBytes: this.freeBytes, minFreeBytes: min },
        'audit: disk space low [IEC 62443-3-3 SR 2.9]',
      );
    this.low = low;
  }
}
