/**
 * ProfinetTurns: whose turn it is at one PROFINET IO device (profinet-client.ts) — one piece of work in flight,
 * the bounded fair queue in front (fair-queue.ts), the queue timeout, abort and the caller's last-moment gate,
 * and each request's promise settled exactly once. Separate from the client, which owns what goes on the wire
 * (record services, the AR, the transport): this file never sends anything itself, it only decides when the
 * client's work for a request may start and hands it the gate to check before every datagram.
 *
 * Work that fails — its promise rejects, or it throws before it returns one — is logged and ends its turn like
 * any other: a failure left unhandled would end the process (Node's default for unhandled rejections), and a
 * turn that never ends would stall the device's queue for good. Once the work's gate has let a datagram go,
 * a failure is answered as the caller's `lost` result (a write: `write-lost`, may have been executed), never
 * "nothing sent": that answer invites a retry, and a retried write runs twice.
 */
import { errorMessage } from '../errors.js';
import { FairQueue, type QueueHandle } from './fair-queue.js';
import { mayDispatch } from './may-dispatch.js';
import { ClientTally } from './pool-stats.js';
import type { ResolvedProfinetOptions } from './profinet-options.js';
import type { ProfinetRequestBase, ProfinetResult, TimerHandle } from './profinet-types.js';

type Early = Extract<ProfinetResult, { kind: 'queue-full' | 'aborted' | 'unavailable' }>;
/** What a request whose work failed after its gate let a datagram go is answered. */
export type LostResult = Extract<ProfinetResult, { kind: 'write-lost' | 'timeout' }>;
const WRITE_LOST: LostResult = Object.freeze({ kind: 'write-lost' });

interface Job {
  readonly req: ProfinetRequestBase;
  readonly submittedAt: number;
  readonly exec: (gate: () => boolean) => Promise<unknown>;
  readonly lost: LostResult;
  readonly resolve: (r: unknown) => void;
  state: 'queued' | 'running' | 'done';
  handle?: QueueHandle<Job>;
  timer?: TimerHandle;
  onAbort?: () => void;
}

export class ProfinetTurns {
  readonly #o: ResolvedProfinetOptions;
  readonly #releaseAr: () => Promise<void>;
  readonly #queue: FairQueue<Job>;
  /** Requests outstanding per clientKey, counted as the Modbus pool counts them. */
  readonly #tally = new ClientTally();
  #running?: Promise<void>;
  #releaseDue = false;
  #closed = false;

  /** `releaseAr` runs in a turn of its own once the AR went idle (`releaseWhenIdle`). */
  constructor(o: ResolvedProfinetOptions, releaseAr: () => Promise<void>) {
    this.#o = o;
    this.#releaseAr = releaseAr;
    this.#queue = new FairQueue<Job>(o.queueLimit);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The work on the device now (a request or an AR release), if any. */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  get queued(): number {
    return this.#queue.size;
  }

  get inFlight(): 0 | 1 {
    return this.#running !== undefined ? 1 : 0;
  }

  byClient(): Record<string, number> {
    return this.#tally.byClient();
  }

  /**
   * Queues `exec` for its turn; it gets the gate to check right before each datagram it sends. `lost`: the
   * answer when `exec` fails after the gate let something go (a read: `timeout`; the default, for a write).
   */
  submit<R>(
    req: ProfinetRequestBase,
    exec: (gate: () => boolean) => Promise<R>,
    lost: LostResult = WRITE_LOST,
  ): Promise<R | Early | LostResult> {
    if (this.#closed) return Promise.resolve({ kind: 'unavailable', sent: false, reason: 'client closed' });
    if (req.signal?.aborted === true) return Promise.resolve({ kind: 'aborted' });
    return new Promise<R | Early | LostResult>((resolve) => {
      const job: Job = {
        req,
        submittedAt: this.#o.timers.now(),
        exec,
        lost,
        resolve: resolve as (r: unknown) => void,
        state: 'queued',
      };
      const pushed = this.#queue.push(req.clientKey, job);
      if (pushed.kind === 'full') return resolve({ kind: 'queue-full' });
      job.handle = pushed.handle;
      this.#tally.add(req.clientKey, 1);
      if (pushed.kind === 'queued-evicting') this.#settle(pushed.evicted.value, { kind: 'queue-full' });
      job.timer = this.#o.timers.setTimeout(() => {
        if (job.state === 'queued')
          this.#settle(job, {
            kind: 'unavailable',
            sent: false,
            reason: `waited ${this.#o.queueTimeoutMs} ms for device ${this.#o.name}`,
          });
      }, this.#o.queueTimeoutMs);
      if (req.signal !== undefined) {
        job.onAbort = () => {
          if (job.state === 'queued') this.#settle(job, { kind: 'aborted' });
        };
        req.signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#pump();
    });
  }

  /** The AR went idle: release it as soon as the device is (before the next queued request). */
  releaseWhenIdle(): void {
    if (this.#closed) return;
    this.#releaseDue = true;
    this.#pump();
  }

  /** Takes no more work and answers every queued request `unavailable`; the running work goes on. */
  close(): void {
    this.#closed = true;
    for (const job of this.#queue.values())
      this.#settle(job, { kind: 'unavailable', sent: false, reason: 'client closed' });
  }

  /** Starts the next piece of work when the device is idle: a due AR release first, then the queue. */
  #pump(): void {
    while (this.#running === undefined) {
      if (this.#releaseDue && !this.#closed) {
        this.#releaseDue = false;
        this.#track(started(this.#releaseAr), 'AR release');
        return;
      }
      const job = this.#queue.shift();
      if (job === undefined) return;
      if (!mayDispatch(job.req)) {
        this.#settle(job, { kind: 'aborted' });
        continue;
      }
      let passed = false;
      const gate = (): boolean => {
        const ok = mayDispatch(job.req);
        passed ||= ok;
        return ok;
      };
      job.state = 'running';
      this.#o.timers.clearTimeout(job.timer);
      this.#track(
        started(() => job.exec(gate)).then(
          (r) => this.#settle(job, r),
          (err: unknown) => {
            this.#o.logger.warn({ device: this.#o.name, err: errorMessage(err) }, 'PROFINET request failed internally');
            this.#settle(job, passed ? job.lost : { kind: 'unavailable', sent: false, reason: 'internal error' });
          },
        ),
        'request',
      );
    }
  }

  /** `work` holds the device until it settles, whichever way; a failure is logged, never left unhandled. */
  #track(work: Promise<unknown>, what: string): void {
    const running = work.then(
      () => undefined,
      (err: unknown) => {
        this.#o.logger.warn({ device: this.#o.name, err: errorMessage(err) }, `PROFINET ${what} failed`);
      },
    );
    this.#running = running;
    void running.then(() => {
      if (this.#running === running) this.#running = undefined;
      this.#pump();
    });
  }

  #settle(job: Job, result: unknown): void {
    if (job.state === 'done') return;
    if (job.state === 'queued' && job.handle !== undefined) this.#queue.remove(job.handle);
    job.state = 'done';
    this.#o.timers.clearTimeout(job.timer);
    if (job.onAbort !== undefined) job.req.signal?.removeEventListener('abort', job.onAbort);
    this.#tally.add(job.req.clientKey, -1);
    const r = result as { kind?: string };
    job.resolve(
      r.kind === 'record' ? { ...(result as object), latencyMs: this.#o.timers.now() - job.submittedAt } : result,
    );
  }
}

/** `fn()`'s promise; a synchronous throw comes back as a rejected one (it then goes the same way). */
function started<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}
