/**
 * One gateway's verified audit trail at the centre: `<audit dir>/<site>/<gateway>/` in the gateway's own
 * layout — canonical JSON segments named by their first seq, `checkpoints.jsonl` — so `verigate audit verify`
 * checks it like a gateway's directory; plus `problems.jsonl`, the verification problems found (kept until an
 * operator has looked: while it holds any, the edge stream is no longer purged past them). Opening recovers
 * the head (a torn last line from a crash is cut: its message was never acknowledged, so it comes again).
 */
import { closeSync, existsSync, fdatasyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint } from '../audit/audit-checkpoint.js';
import type { AuditRecord } from '../audit/audit-events.js';
import { recoverDir } from '../audit/audit-recovery.js';
import { replayEvents } from '../audit/audit-replay.js';
import { DEFAULT_SEGMENT_BYTES } from '../audit/audit-log-options.js';
import { CheckpointFile } from '../audit/checkpoint-file.js';
import { canonicalJson } from '../audit/canonical-json.js';
import { SegmentWriter, syncDir } from '../audit/segment-writer.js';
import type { ChainHead } from './audit-chain-verify.js';

export const PROBLEMS_FILE = 'problems.jsonl';

/** Hashes of the newest events kept in memory (re-sends and checkpoints name recent seqs). */
const RECENT = 4096;

export class GatewayTrail implements ChainHead {
  lastSeq: number;
  headHash: string;
  lastCheckpointSeq: number;
  readonly problems: string[];
  private readonly writer: SegmentWriter;
  private readonly cps: CheckpointFile;
  private recent: string[] = [];
  /** Events appended since the last sync. */
  private dirty = false;
  /** Checkpoints appended since the last sync (their own flush runs in the thread pool, maybe not yet). */
  private cpsDirty = false;

  constructor(
    readonly dir: string,
    segmentBytes = DEFAULT_SEGMENT_BYTES,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    const state = recoverDir(dir);
    this.lastSeq = state.lastSeq;
    this.headHash = state.lastHash;
    this.lastCheckpointSeq = state.lastCheckpointSeq;
    this.writer = new SegmentWriter(dir, segmentBytes, state.current);
    this.cps = new CheckpointFile(dir);
    this.problems = readProblems(join(dir, PROBLEMS_FILE));
  }

  /** Appends verified events (seq lastSeq+1…) with one write; throws when they are not in the file. */
  append(events: readonly AuditRecord[]): void {
    const lines = events.map((e) => {
      const line = canonicalJson(e); // the writer adds the newline
      return { line, seq: e.seq, bytes: Buffer.byteLength(line) + 1 };
    });
    const r = this.writer.writeBatch(lines);
    if (r.error !== null) {
      // The writer cut the segment back to its last whole line: the head is what is in the file.
      const written = events.slice(0, r.written);
      this.advance(written);
      throw r.error;
    }
    this.advance(events);
  }

  appendCheckpoint(cp: Checkpoint): void {
    this.cps.append(cp);
    this.cpsDirty = true;
    this.lastCheckpointSeq = cp.seq;
  }

  /** Appends and flushes at once: problems are rare, and the evidence must outlive the cursor moving past it. */
  noteProblem(problem: string, time: string): void {
    this.problems.push(problem);
    const path = join(this.dir, PROBLEMS_FILE);
    const created = !existsSync(path);
    const fd = openSync(path, 'a', 0o640);
    try {
      writeSync(fd, JSON.stringify({ time, problem }) + '\n');
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (created) syncDir(this.dir);
  }

  /** The verified hash of event `seq` (memory for recent ones, else the files), or null. */
  hashAt(seq: number): string | null {
    if (seq === this.lastSeq) return this.headHash;
    const i = this.recent.length - 1 - (this.lastSeq - seq);
    if (i >= 0 && i < this.recent.length) return this.recent[i]!;
    if (seq < 1 || seq > this.lastSeq) return null;
    let found: string | null = null;
    replayEvents(this.dir, seq, seq, (r) => (found = r.hash));
    return found;
  }

  /** fdatasync what was appended since the last sync (before the collector's cursor moves past its messages). */
  sync(): void {
    if (this.dirty) {
      this.writer.sync();
      this.dirty = false;
    }
    if (this.cpsDirty) {
      this.cps.sync();
      this.cpsDirty = false;
    }
  }

  close(): void {
    this.writer.close();
    this.cps.close();
  }

  private advance(events: readonly AuditRecord[]): void {
    const last = events.at(-1);
    if (last === undefined) return;
    this.lastSeq = last.seq;
    this.headHash = last.hash;
    this.dirty = true;
    for (const e of events) this.recent.push(e.hash);
    if (this.recent.length > 2 * RECENT) this.recent = this.recent.slice(-RECENT);
  }
}

function readProblems(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      try {
        return String((JSON.parse(l) as { problem?: unknown }).problem);
      } catch {
        return l;
      }
    });
}
