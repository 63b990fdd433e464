/**
 * One request's record inside a DevicePool (device-pool.ts): what it asked, where it is (queued, sent, done),
 * and the links that tie it to the queue, the deadline list and the connection it went on. Made in one place so
 * every job has the same shape (one hidden class on the hot path).
 */
import type { Deadlined } from './deadline-list.js';
import type { QueueHandle } from './fair-queue.js';
import type { UpstreamLink, UpstreamRequest, UpstreamResult } from './types.js';

export interface Job extends Deadlined<Job> {
  readonly req: UpstreamRequest;
  readonly submittedAt: number;
  readonly resolve: (r: UpstreamResult) => void;
  /** 'sent': handed to a link (staged for its write or written); the link's events tell which it came to. */
  state: 'queued' | 'sent' | 'done';
  handle: QueueHandle<Job> | undefined;
  conn: UpstreamLink<Job> | undefined;
  tid: number | undefined;
  /** Set only while the job waits in the queue past its submit (see DevicePool `submit`). */
  onAbort: (() => void) | undefined;
}

export function newJob(
  req: UpstreamRequest,
  submittedAt: number,
  deadline: number,
  resolve: (r: UpstreamResult) => void,
): Job {
  return {
    req,
    submittedAt,
    deadline,
    resolve,
    state: 'queued',
    handle: undefined,
    conn: undefined,
    tid: undefined,
    onAbort: undefined,
    earlier: null,
    later: null,
    listed: false,
  };
}
