/**
 * The highest seq the SIEM spool ever took, kept in `head.json` once the files that carried it are gone. The
 * exporter's catch-up after a restart starts after it (SyslogExporter.attach): read from the remaining files
 * alone, an acknowledged spool whose newest file holds only checkpoints would say 0, and the whole trail would
 * be sent again (duplicates, all buffered in memory). Written only before a file is deleted, so a push costs
 * no extra write; a crash then leaves the value in the files or in `head.json`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-file.js';

export class SpoolHead {
  private readonly path: string;
  private saved: number;
  private high: number;

  /** `newestOnDisk`: the highest seq in the spool files present at open (0 if none). */
  constructor(dir: string, newestOnDisk: number) {
    this.path = join(dir, 'head.json');
    this.saved = this.load();
    this.high = Math.max(this.saved, newestOnDisk);
  }

  /** Highest seq spooled, 0 if none. */
  get lastSeq(): number {
    return this.high;
  }

  /** Records now in a spool file. */
  spooled(records: readonly { seq: number | null }[]): void {
    for (const r of records) if (r.seq !== null && r.seq > this.high) this.high = r.seq;
  }

  /** Call before deleting a spool file: its seqs may be the highest. Throws what the file system throws. */
  save(): void {
    if (this.high === this.saved) return;
    writeFileAtomically(this.path, JSON.stringify({ lastSeq: this.high }), { mode: 0o640 });
    this.saved = this.high;
  }

  private load(): number {
    try {
      const h = JSON.parse(readFileSync(this.path, 'utf8')) as { lastSeq?: unknown };
      return typeof h.lastSeq === 'number' && Number.isSafeInteger(h.lastSeq) ? h.lastSeq : 0;
    } catch {
      return 0;
    }
  }
}
