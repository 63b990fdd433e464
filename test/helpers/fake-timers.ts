/**
 * Deterministic clock + timers implementing the gateway's one time seam (gateway/timers.ts): nothing fires
 * until the test calls `advance`, which runs due callbacks in time order (intervals re-arm themselves).
 * `start` sets the clock, e.g. `new FakeTimers(Date.now())` for code that compares it with certificate dates.
 */
import type { TimerHandle, Timers } from '../../gateway/timers.js';

interface Due {
  at: number;
  fn: () => void;
  /** Interval period; undefined for a one-shot timeout. */
  every?: number;
}

export class FakeTimers implements Timers {
  #now: number;
  #seq = 0;
  readonly #due = new Map<number, Due>();
  #armWaiters: (() => void)[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    this.#due.set(id, { at: this.#now + Math.max(0, ms), fn });
    this.#notifyArmed();
    return id;
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = ++this.#seq;
    const every = Math.max(1, ms);
    this.#due.set(id, { at: this.#now + every, fn, every });
    this.#notifyArmed();
    return id;
  }

  clearTimeout(handle: TimerHandle | null | undefined): void {
    this.#due.delete(handle as number);
  }

  /**
   * Resolves when the code under test next arms a timer (setTimeout or setInterval): the event to await when
   * the timer is armed by I/O the test does not drive (a file-change event, a socket error), instead of polling.
   */
  armed(): Promise<void> {
    return new Promise<void>((resolve) => this.#armWaiters.push(resolve));
  }

  #notifyArmed(): void {
    const waiters = this.#armWaiters;
    this.#armWaiters = [];
    for (const w of waiters) w();
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#due.size;
  }

  /** Delays of the armed timers from now, soonest first (what a test asserts a backoff against). */
  delays(): number[] {
    return [...this.#due.values()].map((d) => d.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves the clock forward by `ms`, firing every timer due on the way (including ones they schedule). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, Due] | undefined;
      for (const e of this.#due) if (e[1].at <= target && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      const [id, due] = next;
      this.#now = due.at;
      if (due.every === undefined) this.#due.delete(id);
      else due.at += due.every;
      due.fn();
    }
    this.#now = target;
  }

  /** `advance`, then lets promise callbacks and I/O queued by the fired timers run (one event-loop turn). */
  async tick(ms: number): Promise<void> {
    this.advance(ms);
    await new Promise<void>((r) => setImmediate(r));
  }
}
