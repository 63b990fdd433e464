/**
 * The test suite's only ways to wait for something that is not driven by fake timers (test/helpers/fake-timers.ts):
 *  - `eventually()`: polls a condition until it holds, bounded by wall-clock time. Only for another process
 *    (SPIRE, rsyslog, nats-server, socat, mbpoll, a simulator or gateway in a child process), which raises no
 *    event this process can await. The in-process gateway's or simulator's side of a loopback connection is
 *    awaited on its own events (`when()`, test/helpers/when.ts); a timer is fired (inject timers, `advance`).
 *  - `flushIo()`: a few event-loop turns (setImmediate, no wall-clock time) so I/O callbacks and promise
 *    continuations already queued run — e.g. before asserting that something did NOT happen.
 */

export interface EventuallyOptions {
  /** Give up after this long (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Pause between polls (default 10 ms); 0 polls once per event-loop turn (setImmediate). */
  readonly intervalMs?: number;
}

/**
 * Resolves with the first truthy value of `probe` (sync or async); rejects with `timed out waiting for <what>`
 * (and the probe's last error, if it threw) once `timeoutMs` has passed.
 */
export async function eventually<T>(
  what: string,
  probe: () => T | Promise<T>,
  opts: EventuallyOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const intervalMs = opts.intervalMs ?? 10;
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => (intervalMs > 0 ? setTimeout(r, intervalMs) : setImmediate(r)));
  }
}

/** Runs `turns` event-loop turns: queued I/O callbacks, timers of 0 ms and promise continuations get to run. */
export async function flushIo(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}
