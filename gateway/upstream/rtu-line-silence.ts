/**
 * The silences of one RTU line (rtu-line.ts) and the timers that measure them. The line's exchange logic
 * (which request is on the wire, what its answer becomes) only asks "is the line quiet now?" and is told when a
 * silence ends; every silence and its timer lives here (the late-answer grace stays with the exchange):
 *
 * - Before each frame the line keeps the inter-frame silence (t3.5, rtu-timing.ts) since the last byte it saw,
 *   sent or received; after a broadcast, the turnaround delay [MB-SERIAL 2.4.1] so every server has executed
 *   it. While it keeps silence the line's `freeSlots` is 0 and `wake` runs when it ends, so the pool's
 *   last-moment gates (session signal, device lock) still run right before the bytes leave.
 * - Received bytes end in silence: the receive gap (`frameGapMs`) ends a frame of unknown length or a
 *   resynchronisation; t3.5 after a frame cut by length proves it ended there [MB-SERIAL 2.5.1.1].
 * - Timers fire in the event loop's timers phase, before the poll phase that reads bytes already received: a
 *   stalled loop would read as silence. Every silence decision (receive gap, end of frame) waits one
 *   `setImmediate` and holds only if no byte came in between.
 */
import type { TimerHandle, Timers } from '../timers.js';

export interface LineTiming {
  /** Silence kept before each frame we send (t3.5), ms. */
  readonly silenceMs: number;
  /** One character on the wire, ms (how long our own frame takes to leave). */
  readonly charMs: number;
  /** Silence kept after a broadcast before the next frame, ms. */
  readonly turnaroundMs: number;
  /** Silence that ends a received frame of unknown length, or resynchronises after a bad one, ms. */
  readonly frameGapMs: number;
}

/** What the line does when a silence ends: `wake` when it may send again, `gap` when the receive gap passed. */
export interface SilenceHooks {
  readonly wake: () => void;
  readonly gap: () => void;
}

export class LineSilence {
  readonly #timers: Timers;
  readonly #timing: LineTiming;
  readonly #hooks: SilenceHooks;
  #quietUntil = 0;
  #wakeTimer: TimerHandle | undefined;
  #gapTimer: TimerHandle | undefined;
  #eofTimer: TimerHandle | undefined;
  /** Chunks received so far: a deferred silence decision holds only if this did not move. */
  #rx = 0;
  #stopped = false;

  constructor(timers: Timers, timing: LineTiming, hooks: SilenceHooks) {
    this.#timers = timers;
    this.#timing = timing;
    this.#hooks = hooks;
  }

  /** True once the silence the line keeps before its next frame is over. */
  elapsed(): boolean {
    return this.#timers.now() >= this.#quietUntil;
  }

  /** Bytes came in: the line keeps t3.5 from now. Returns now (ms on the injected clock). */
  received(): number {
    this.#rx++;
    const now = this.#timers.now();
    this.#holdQuiet(now + this.#timing.silenceMs);
    return now;
  }

  /** After a bad frame more of it may still be on its way (adapters deliver in chunks): keep the receive gap. */
  resyncFrom(now: number): void {
    this.#holdQuiet(now + this.#timing.frameGapMs);
  }

  /** A broadcast of `frameBytes` left: quiet while it leaves and every server acts on it. */
  afterBroadcast(frameBytes: number): void {
    this.#holdQuiet(this.#timers.now() + frameBytes * this.#timing.charMs + this.#timing.turnaroundMs);
  }

  /** Arms `wake` for the end of the silence (at once when it is over). */
  wakeWhenQuiet(): void {
    this.#armWake(this.#quietUntil - this.#timers.now());
  }

  /** Drops a pending wake; true when the silence is over (the line may send now), else `wake` is re-armed. */
  rewake(): boolean {
    this.#timers.clearTimeout(this.#wakeTimer);
    this.#wakeTimer = undefined;
    const wait = this.#quietUntil - this.#timers.now();
    if (wait > 0) {
      this.#armWake(wait);
      return false;
    }
    return true;
  }

  /** (Re)starts the receive gap after a chunk: `gap` runs once the line stays silent that long. */
  restartGap(): void {
    this.#timers.clearTimeout(this.#gapTimer);
    this.#gapTimer = this.#timers.setTimeout(() => {
      this.#gapTimer = undefined;
      this.#afterPendingIo(this.#hooks.gap);
    }, this.#timing.frameGapMs);
  }

  /** A frame was cut by length: `ended` runs once the line stays silent for t3.5 after it. */
  awaitFrameEnd(ended: () => void): void {
    this.#timers.clearTimeout(this.#eofTimer);
    this.#eofTimer = this.#timers.setTimeout(() => {
      this.#eofTimer = undefined;
      this.#afterPendingIo(ended);
    }, this.#timing.silenceMs);
  }

  cancelFrameEnd(): void {
    this.#timers.clearTimeout(this.#eofTimer);
    this.#eofTimer = undefined;
  }

  /** The line closed: no silence decision runs any more. */
  stop(): void {
    this.#stopped = true;
    for (const h of [this.#wakeTimer, this.#gapTimer]) this.#timers.clearTimeout(h);
  }

  /**
   * Runs `decide` after the bytes already received are read (one setImmediate: past the poll phase), and only if
   * none came: a timer firing after an event-loop stall is no proof that the line was silent.
   */
  #afterPendingIo(decide: () => void): void {
    const rx = this.#rx;
    setImmediate(() => {
      if (!this.#stopped && this.#rx === rx) decide();
    });
  }

  /** No frame before `until` (ms on the injected clock). */
  #holdQuiet(until: number): void {
    if (until > this.#quietUntil) this.#quietUntil = until;
  }

  /** Wakes the line after `wait` ms (bytes received meanwhile move `#quietUntil`: `rewake` then waits on). */
  #armWake(wait: number): void {
    this.#timers.clearTimeout(this.#wakeTimer);
    this.#wakeTimer = this.#timers.setTimeout(
      () => {
        this.#wakeTimer = undefined;
        this.#hooks.wake();
      },
      Math.max(0, wait),
    );
  }
}
