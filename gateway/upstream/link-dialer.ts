/**
 * Opens a pool's links (device-pool.ts) one at a time through its transport, each with the pool's settings and a
 * fresh id: the attempt itself under the connect timeout, or the wait until the next attempt is due (when:
 * reconnect-state.ts). Separate from the pool, which decides whether it needs another link and what a failed
 * attempt means for its queue.
 *
 * `dial` runs inside the pool's pump, from timer and socket callbacks: a transport that throws instead of
 * rejecting is a failed attempt like any other (a throw there would end the process, and an attempt left "under
 * way" would stop the pool from ever dialing again), and a hook that throws is logged, never an unhandled rejection.
 */
import { errorMessage } from '../errors.js';
import type { TimerHandle, Timers } from '../timers.js';
import type { LinkSettings, UpstreamLink, UpstreamTransport } from './types.js';

export interface DialHooks<J> {
  /** The link is open. */
  opened(link: UpstreamLink<J>): void;
  /** The attempt failed or timed out; `reason` names the target, for logs and 'unavailable' answers. */
  failed(reason: string): void;
  /** The wait for the next attempt is over: the pool asks again if it still needs a link. */
  due(): void;
}

export class LinkDialer<J> {
  /** TCP + MBAP by default; a Modbus RTU line (serial or RTU over TCP) shares the same queue and outcomes. */
  readonly #transport: UpstreamTransport;
  readonly #timers: Timers;
  readonly #connectTimeoutMs: number;
  /** What every link is told but its id. */
  readonly #link: Omit<LinkSettings<J>, 'id'>;
  readonly #hooks: DialHooks<J>;
  #linkSeq = 0;
  #dial?: AbortController;
  #retryTimer?: TimerHandle;

  constructor(
    transport: UpstreamTransport,
    connectTimeoutMs: number,
    link: Omit<LinkSettings<J>, 'id'>,
    hooks: DialHooks<J>,
  ) {
    this.#transport = transport;
    this.#timers = link.timers;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#link = link;
    this.#hooks = hooks;
  }

  /** An attempt is under way. */
  get dialing(): boolean {
    return this.#dial !== undefined;
  }

  /** Dials now, or (`wait` > 0) calls `due` once the next attempt is due. */
  dial(wait: number): void {
    if (wait > 0) {
      this.#retryTimer ??= this.#timers.setTimeout(() => {
        this.#retryTimer = undefined;
        this.#hooks.due();
      }, wait);
      return;
    }
    const ac = new AbortController();
    this.#dial = ac;
    const timer = this.#timers.setTimeout(() => ac.abort(), this.#connectTimeoutMs);
    this.#open(ac.signal)
      .then(
        (link) => {
          this.#timers.clearTimeout(timer);
          this.#dial = undefined;
          try {
            this.#hooks.opened(link);
          } catch (err) {
            // nobody holds the link now: close it rather than leave the PLC's connection slot taken
            link.close('taking the new connection failed');
            throw err;
          }
        },
        (err: unknown) => {
          this.#timers.clearTimeout(timer);
          this.#dial = undefined;
          const msg = ac.signal.aborted ? `connect timed out after ${this.#connectTimeoutMs} ms` : errorMessage(err);
          this.#hooks.failed(`connect to ${this.#transport.target} failed: ${msg}`);
        },
      )
      .catch((err: unknown) => {
        const target = this.#transport.target;
        this.#link.logger.error(
          { target, err: errorMessage(err) },
          'upstream: handling a connect attempt failed (bug)',
        );
      });
  }

  /** The transport's attempt; one that throws at once comes back as a rejected attempt. */
  #open(signal: AbortSignal): Promise<UpstreamLink<J>> {
    try {
      return this.#transport.open<J>({ id: ++this.#linkSeq, ...this.#link }, signal);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(errorMessage(err)));
    }
  }

  /** The pool closed: no wait goes on, an attempt under way is aborted. */
  close(): void {
    this.#timers.clearTimeout(this.#retryTimer);
    this.#dial?.abort();
  }
}
