/**
 * Deterministic clock + timers for code that takes injected timers (ProfinetTimers and alike): nothing
 * fires until the test calls `advance`, which runs due callbacks in time order.
 */
export class FakeTimers {
  #now = 0;
  #seq = 0;
  readonly #due = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#due.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#due.delete(handle as number);
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#due.size;
  }

  /** Moves the clock forward by `ms`, firing every timer due on the way (including ones they schedule). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#due) if (e[1].at <= target && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.#due.delete(next[0]);
      this.#now = next[1].at;
      next[1].fn();
    }
    this.#now = target;
  }
}
