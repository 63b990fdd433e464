/**
 * What a pool (device-pool.ts) remembers of its attempts to reach the device: the backoff after failed connects
 * (full jitter: backoff.ts), when the next attempt is due, the last connect error (the reason of every
 * 'unavailable' while the PLC is down), and the connection limit learned from a PLC that accepts a connection
 * over its limit and hangs up at once. Separate from the pool, which owns the queue, the links and the dial
 * itself: this is only the record of past attempts, read where the pool decides to dial or to answer at once.
 */
import type { Backoff } from '../backoff.js';
import type { Logger } from '../logger.js';
import type { Timers } from '../timers.js';
import type { UpstreamResult } from './types.js';

/** How long a learned connection limit holds before the configured one is tried again. */
const LEARNED_CAP_MS = 30_000;

export class ReconnectState {
  readonly #device: string;
  readonly #timers: Timers;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #nextAttemptAt = 0;
  #lastError?: string;
  /** Learned connection limit: the PLC hung up on a fresh connection while others were open. */
  #cap?: { readonly max: number; readonly until: number };

  constructor(device: string, timers: Timers, log: Logger, backoff: Backoff) {
    this.#device = device;
    this.#timers = timers;
    this.#log = log;
    this.#backoff = backoff;
  }

  /** When the next connect may be tried (ms on the pool's clock); 0 before any failure. */
  get nextAttemptAt(): number {
    return this.#nextAttemptAt;
  }

  /** Why the last attempt failed; undefined once the device answered again. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** The device answered: the next failure starts the backoff over. */
  succeeded(): void {
    this.#backoff.reset();
    this.#lastError = undefined;
  }

  /** Records a failed attempt; returns when the next one is due. */
  failed(reason: string): number {
    const delay = this.#backoff.next();
    this.#nextAttemptAt = this.#timers.now() + delay;
    this.#lastError = reason;
    this.#log.warn({ device: this.#device, reason, retryInMs: delay }, 'upstream connect failed');
    return this.#nextAttemptAt;
  }

  /** The PLC hung up on a fresh connection while `open` others were open: that is its real limit, for a while. */
  learnCap(open: number): void {
    this.#cap = { max: open, until: this.#timers.now() + LEARNED_CAP_MS };
  }

  /** Links the pool may hold now: the configured most, or less while a learned limit holds. */
  maxLinks(configured: number): number {
    const cap = this.#cap;
    return cap !== undefined && cap.until > this.#timers.now() ? Math.min(cap.max, configured) : configured;
  }

  /** The answer while the PLC is down. */
  downResult(): UpstreamResult {
    return {
      kind: 'unavailable',
      reason: `PLC ${this.#device} unreachable: ${this.#lastError ?? 'no connection'}`,
    };
  }
}
