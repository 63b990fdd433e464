/**
 * Start and stop in a declared order. Each component states how it starts and how it stops in one place; the
 * composition root (gateway/main.ts) starts them one after the other, and they stop in the reverse order of
 * their start — so the order is read off the list, never patched in by position. A failure while starting
 * stops what had started, then rethrows.
 */

/** One part of the running gateway: what starting yields (passed back to `stop`) and how to undo it. */
export interface Component<T> {
  /** Named in the stop-failure log line. */
  readonly name: string;
  start(): Promise<T> | T;
  stop(started: T): Promise<void> | void;
}

/** A component without its own resources: started for its value, nothing to stop. */
export function plain<T>(name: string, start: () => Promise<T> | T): Component<T> {
  return { name, start, stop: () => undefined };
}

export type StopFailure = (name: string, err: unknown) => void;

export class Lifecycle {
  private readonly started: { readonly name: string; readonly stop: () => Promise<void> | void }[] = [];
  private stopping: Promise<void> | null = null;

  /** @param onStopFailure told of each component whose stop threw (the others still stop). */
  constructor(private readonly onStopFailure: StopFailure = () => undefined) {}

  /** Starts `c` after everything started before it; it will stop before them. */
  async start<T>(c: Component<T>): Promise<T> {
    if (this.stopping !== null) throw new Error(`lifecycle: cannot start ${c.name} while stopping`);
    const value = await c.start();
    this.started.push({ name: c.name, stop: () => c.stop(value) });
    return value;
  }

  /**
   * Stops every started component, last started first. One that throws is reported and the rest still stop;
   * the first failure is rethrown at the end. Idempotent: a second call waits for the first.
   */
  stop(): Promise<void> {
    this.stopping ??= this.stopAll();
    return this.stopping;
  }

  /** Runs `compose`; if it throws, stops what it started and rethrows its error (not a stop failure). */
  async run<T>(compose: (life: this) => Promise<T>): Promise<T> {
    try {
      return await compose(this);
    } catch (err) {
      await this.stop().catch(() => undefined); // each stop failure was already reported to onStopFailure
      throw err;
    }
  }

  private async stopAll(): Promise<void> {
    let first: { err: unknown } | null = null;
    for (const c of [...this.started].reverse()) {
      try {
        await c.stop();
      } catch (err) {
        this.onStopFailure(c.name, err);
        first ??= { err };
      }
    }
    if (first !== null) throw first.err;
  }
}
