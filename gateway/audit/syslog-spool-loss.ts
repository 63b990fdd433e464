/**
 * The spool's loss tally (`loss.json`, count + seq range): records the SIEM will never get from the spool, owed
 * to it as one `audit.export-loss` notice. It lives outside the record files so a notice can never itself be
 * dropped, and a notice leaves the file only once the write that carried it is acknowledged: a crash between
 * the socket write and the acknowledgement must report the loss again on the next run (at least once, like
 * records), never forget it.
 * In memory the tally is split into `owed` (not yet sent) and the notices in flight (sent, not acknowledged);
 * the file always holds their sum, so a loss arriving while a notice is in flight is neither lost nor counted
 * twice when that notice is acknowledged.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../atomic-file.js';

export interface SpoolDrop {
  readonly dropped: number;
  readonly firstSeq: number | null;
  readonly lastSeq: number | null;
}

export class SpoolLossTally {
  private readonly path: string;
  private owed: SpoolDrop | null;
  private inflight: SpoolDrop[] = [];

  constructor(dir: string) {
    this.path = join(dir, 'loss.json');
    this.owed = this.load();
  }

  /** Whether any loss is not yet acknowledged by the receiver (sent or not). */
  get pending(): boolean {
    return this.owed !== null || this.inflight.length > 0;
  }

  /** A new loss. Kept in memory even when the file cannot be written, so this run still reports it. */
  add(drop: SpoolDrop): void {
    this.owed = mergeDrop(this.owed, drop);
    this.persist();
  }

  /** The loss not yet sent, now in flight; the file keeps it until `delivered`. */
  take(): SpoolDrop | null {
    const l = this.owed;
    if (l === null) return null;
    this.owed = null;
    this.inflight.push(l);
    return l;
  }

  /** A notice that may not have reached the receiver is owed again (the file still holds it). */
  restore(l: SpoolDrop): void {
    const i = this.inflight.indexOf(l);
    if (i !== -1) this.inflight.splice(i, 1);
    this.owed = mergeDrop(this.owed, l);
    if (i === -1) this.persist(); // not one of ours in flight: the file may not hold it
  }

  /** The write carrying `l` was acknowledged: it leaves the file. */
  delivered(l: SpoolDrop): void {
    const i = this.inflight.indexOf(l);
    if (i === -1) return;
    this.inflight.splice(i, 1);
    this.persist();
  }

  private persist(): void {
    let all: SpoolDrop | null = this.owed;
    for (const l of this.inflight) all = mergeDrop(all, l);
    if (all !== null) writeFileAtomically(this.path, JSON.stringify(all), { mode: 0o640 });
    else if (existsSync(this.path)) unlinkSync(this.path);
  }

  private load(): SpoolDrop | null {
    try {
      const l = JSON.parse(readFileSync(this.path, 'utf8')) as SpoolDrop;
      return typeof l.dropped === 'number' ? l : null;
    } catch {
      return null;
    }
  }
}

/** Two disjoint losses as one: counts add, the seq range spans both. */
function mergeDrop(a: SpoolDrop | null, b: SpoolDrop): SpoolDrop {
  if (a === null) return b;
  const seqs = [a.firstSeq, a.lastSeq, b.firstSeq, b.lastSeq].filter((q): q is number => q !== null);
  return {
    dropped: a.dropped + b.dropped,
    firstSeq: seqs.length > 0 ? Math.min(...seqs) : null,
    lastSeq: seqs.length > 0 ? Math.max(...seqs) : null,
  };
}
