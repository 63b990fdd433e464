/**
 * Bounded on-disk spool between the audit log and the SIEM connection. Files `spool-<n>.log`, one record per
 * line (`<seq|-> SP <message>`), plus `cursor.json`: the position up to which records were acknowledged.
 * When the spool would exceed `maxBytes`, the OLDEST file is dropped whole, even if not yet sent; the drop is
 * added to the persisted loss tally (syslog-spool-loss.ts) that the exporter turns into one counted
 * `audit.export-loss` message ahead of the next records it sends.
 * Dropping the oldest keeps the newest evidence flowing; the audit log itself still holds every event, so a
 * loss in the spool is a gap in the SIEM copy only (recoverable from the segments).
 * The highest seq ever spooled outlives the files that carried it (syslog-spool-head.ts).
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { SpoolHead } from './syslog-spool-head.js';
import { SpoolLossTally, type SpoolDrop } from './syslog-spool-loss.js';

export interface SpoolPos {
  readonly file: number;
  /** Byte offset just past the record's newline. */
  readonly offset: number;
}

export interface SpoolEntry {
  readonly seq: number | null;
  readonly text: string;
  readonly pos: SpoolPos;
}

const FILE_RE = /^spool-(\d{12})\.log$/;
const fileName = (n: number) => `spool-${String(n).padStart(12, '0')}.log`;
const MAX_READ = 256 * 1024;

export class DiskSpool {
  private files: number[];
  private sizes = new Map<number, number>();
  private writeFd: number | null = null;
  private cursor: SpoolPos;
  private readonly loss: SpoolLossTally;
  private readonly head: SpoolHead;

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly fileBytes: number,
    private readonly log: Logger,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    this.files = readdirSync(dir)
      .map((n) => FILE_RE.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
    for (const f of this.files) this.sizes.set(f, statSync(this.path(f)).size);
    this.cursor = this.loadCursor();
    this.loss = new SpoolLossTally(dir);
    this.head = new SpoolHead(dir, this.newestSeqOnDisk());
  }

  static open(opts: { dir: string; maxBytes: number; fileBytes?: number; logger?: Logger }): DiskSpool {
    const fileBytes = opts.fileBytes ?? Math.max(4096, Math.floor(opts.maxBytes / 8));
    return new DiskSpool(opts.dir, opts.maxBytes, fileBytes, opts.logger ?? nullLogger);
  }

  /**
   * Append records (one write). Returns what had to be dropped to stay within maxBytes. Throws only when the
   * append failed: once the records are in the file, a failure to make room is logged, not thrown, or the
   * caller would report records as lost that are spooled and will be delivered.
   */
  push(records: readonly { seq: number | null; text: string }[]): SpoolDrop | null {
    if (records.length === 0) return null;
    const data = Buffer.from(
      records.map((r) => `${r.seq ?? '-'} ${r.text.replace(/[\r\n]/g, ' ')}\n`).join(''),
      'utf8',
    );
    let last = this.files[this.files.length - 1];
    if (last === undefined || (this.sizes.get(last) ?? 0) >= this.fileBytes) last = this.rotate(last);
    const fd = (this.writeFd ??= openSync(this.path(last), 'a', 0o640));
    const size = this.sizes.get(last) ?? 0;
    let off = 0;
    try {
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    } catch (err) {
      // never leave half a record behind: the reader would take it for one
      try {
        ftruncateSync(fd, size);
      } catch {
        /* nothing more to do */
      }
      throw err;
    }
    this.sizes.set(last, size + data.length);
    this.head.spooled(records);
    return this.enforceLimit();
  }

  /** The loss not yet reported, now in flight: on disk until `lossDelivered` (a restart reports it again). */
  takeLoss(): SpoolDrop | null {
    return this.loss.take();
  }

  /** A loss notice that may not have reached the receiver: owed again. */
  restoreLoss(l: SpoolDrop): void {
    this.loss.restore(l);
  }

  /** The write that carried the notice `l` (from takeLoss) was acknowledged. */
  lossDelivered(l: SpoolDrop): void {
    this.loss.delivered(l);
  }

  /** Records that never reached the spool (a failed write): reported like dropped ones. */
  recordLoss(l: SpoolDrop): void {
    this.loss.add(l);
  }

  /** Highest event seq ever spooled, 0 if none. */
  lastSeq(): number {
    return this.head.lastSeq;
  }

  /** Up to `max` records after `from` (default: the acknowledged cursor). */
  read(from: SpoolPos | null, max: number): SpoolEntry[] {
    let pos = from ?? this.cursor;
    const out: SpoolEntry[] = [];
    for (const f of this.files) {
      if (f < pos.file) continue;
      if (f > pos.file) pos = { file: f, offset: 0 }; // dropped or finished file: go on from the next start
      const size = this.sizes.get(f) ?? 0;
      if (pos.offset >= size) continue;
      const buf = readRange(this.path(f), pos.offset, Math.min(size - pos.offset, MAX_READ));
      let start = 0;
      for (let nl = buf.indexOf(0x0a); nl !== -1 && out.length < max; nl = buf.indexOf(0x0a, start)) {
        const line = buf.subarray(start, nl).toString('utf8');
        start = nl + 1;
        const sp = line.indexOf(' ');
        const seqText = line.slice(0, sp);
        out.push({
          seq: seqText === '-' ? null : Number(seqText),
          text: line.slice(sp + 1),
          pos: { file: f, offset: pos.offset + start },
        });
      }
      if (out.length >= max || pos.offset + start < size) break;
    }
    return out;
  }

  /** Everything up to `pos` reached the receiver: persist the cursor, delete finished files. */
  ack(pos: SpoolPos): void {
    this.cursor = pos;
    const tmp = join(this.dir, 'cursor.json.tmp');
    writeFileSync(tmp, JSON.stringify(pos));
    renameSync(tmp, join(this.dir, 'cursor.json'));
    const writing = this.files[this.files.length - 1];
    while (this.files.length > 1 && this.files[0]! < pos.file && this.files[0] !== writing) this.remove(this.files[0]!);
  }

  /** Bytes on disk, and whether unacknowledged records remain. */
  stats(): { bytes: number; files: number; pending: boolean } {
    let bytes = 0;
    for (const s of this.sizes.values()) bytes += s;
    return { bytes, files: this.files.length, pending: this.loss.pending || this.read(null, 1).length > 0 };
  }

  close(): void {
    if (this.writeFd !== null) closeSync(this.writeFd);
    this.writeFd = null;
  }

  private path(n: number): string {
    return join(this.dir, fileName(n));
  }

  private rotate(last: number | undefined): number {
    if (this.writeFd !== null) closeSync(this.writeFd);
    this.writeFd = null;
    const next = (last ?? 0) + 1;
    this.files.push(next);
    this.sizes.set(next, 0);
    return next;
  }

  /** Drops oldest files until within maxBytes; a file that cannot be dropped now is tried again on the next push. */
  private enforceLimit(): SpoolDrop | null {
    let total = 0;
    for (const s of this.sizes.values()) total += s;
    let drop: { dropped: number; firstSeq: number | null; lastSeq: number | null } | null = null;
    try {
      while (total > this.maxBytes && this.files.length > 1) {
        const victim = this.files[0]!;
        const from = victim === this.cursor.file ? this.cursor : { file: victim, offset: 0 };
        const seqs: (number | null)[] =
          victim < this.cursor.file ? [] : unsentSeqs(this.path(victim), from.offset, this.sizes.get(victim) ?? 0);
        total -= this.sizes.get(victim) ?? 0;
        this.remove(victim); // counted only once gone: a throw (head.json) keeps the file and its records
        if (this.cursor.file <= victim) this.cursor = { file: this.files[0]!, offset: 0 };
        const known = seqs.filter((q): q is number => q !== null);
        drop ??= { dropped: 0, firstSeq: null, lastSeq: null };
        drop.dropped += seqs.length;
        if (known.length > 0) {
          drop.firstSeq ??= known[0]!;
          drop.lastSeq = known[known.length - 1]!;
        }
      }
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, 'audit: syslog spool over its limit, oldest file not dropped');
    }
    if (drop === null) return null;
    try {
      this.loss.add(drop);
    } catch (err) {
      // the tally keeps it in memory (this run reports it); its next write persists it too
      this.log.error({ err: errorMessage(err) }, 'audit: syslog loss tally write failed');
    }
    return drop;
  }

  private remove(n: number): void {
    this.head.save(); // before the unlink: the file may hold the highest seq (a throw keeps the file)
    try {
      unlinkSync(this.path(n));
    } catch {
      /* already gone */
    }
    this.files = this.files.filter((f) => f !== n);
    this.sizes.delete(n);
  }

  /** Events are spooled in seq order: the newest file with a seq holds the highest. */
  private newestSeqOnDisk(): number {
    for (let i = this.files.length - 1; i >= 0; i--) {
      const f = this.files[i]!;
      const seqs = unsentSeqs(this.path(f), 0, this.sizes.get(f) ?? 0).filter((q): q is number => q !== null);
      if (seqs.length > 0) return Math.max(...seqs);
    }
    return 0;
  }

  private loadCursor(): SpoolPos {
    const p = join(this.dir, 'cursor.json');
    const first = { file: this.files[0] ?? 1, offset: 0 };
    if (!existsSync(p)) return first;
    try {
      const c = JSON.parse(readFileSync(p, 'utf8')) as SpoolPos;
      return typeof c.file === 'number' && typeof c.offset === 'number' && this.files.includes(c.file) ? c : first;
    } catch {
      return first;
    }
  }
}

function readRange(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(length, Math.max(0, fstatSync(fd).size - offset)));
    let n = 0;
    while (n < buf.length) {
      const r = readSync(fd, buf, n, buf.length - n, offset + n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** Seq fields (null for `-`) of the records from `offset` to the end of a spool file. */
function unsentSeqs(path: string, offset: number, size: number): (number | null)[] {
  const buf = readRange(path, offset, size - offset);
  const out: (number | null)[] = [];
  let start = 0;
  for (let nl = buf.indexOf(0x0a); nl !== -1; nl = buf.indexOf(0x0a, start)) {
    const sp = buf.indexOf(0x20, start);
    const head = buf.subarray(start, sp === -1 || sp > nl ? nl : sp).toString('ascii');
    out.push(head === '-' ? null : Number(head));
    start = nl + 1;
  }
  return out;
}
