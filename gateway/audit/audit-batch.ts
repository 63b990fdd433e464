/**
 * The events of one event-loop turn, staged for the audit log's group commit: rendered and chained at
 * append() (so seq and the hash chain keep one total order), written together when the turn ends, and only
 * then released to whoever waits on them (responses, write-ahead forwarding, subscribers).
 */
import type { BuiltLine } from './build-record.js';

export class PendingBatch {
  readonly lines: BuiltLine[] = [];
  bytes = 0;
  private settled: ((writtenSeq: number) => void) | null = null;
  private done: Promise<number> | null = null;

  /** `prevSeq`/`prevHash`: the chain head in the file before this batch (where a failure rolls back to). */
  constructor(
    readonly prevSeq: number,
    readonly prevHash: string,
  ) {}

  add(line: BuiltLine): void {
    this.lines.push(line);
    this.bytes += line.bytes;
  }

  /** Resolves with the highest seq in the file once the batch was written (lower than ours if it failed). */
  written(): Promise<number> {
    this.done ??= new Promise<number>((resolve) => (this.settled = resolve));
    return this.done;
  }

  settle(writtenSeq: number): void {
    this.settled?.(writtenSeq);
  }
}

export const COMMITTED: Promise<boolean> = Promise.resolve(true);
export const NOT_COMMITTED: Promise<boolean> = Promise.resolve(false);
