/**
 * The control heartbeat (docs/fleet.md "Staleness"): every `everyMs`, `{ time, seq, by }` is put under key
 * `heartbeat` of every site bucket at the hub; the leaves mirror it and each gateway's staleness is its own
 * now − the newest heartbeat's `time`. A site whose previous put has not completed (hub unreachable) is
 * skipped for that tick instead of queueing puts without bound; `seq` still advances, so a gap in seq at a
 * site means ticks it missed. Time comes from the injected `Timers` (gateway/timers.ts).
 */
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import type { TimerHandle, Timers } from '../timers.js';

export interface Heartbeat {
  readonly time: string;
  readonly seq: number;
  readonly by: string;
}

export interface HeartbeatWriterOptions {
  readonly sites: readonly string[];
  /** The control's SPIFFE ID, written as `by`. */
  readonly by: string;
  readonly everyMs: number;
  readonly timers: Timers;
  /** Puts the JSON text under `heartbeat` in the site's hub bucket. */
  readonly put: (site: string, json: string) => Promise<unknown>;
  readonly logger?: Logger;
}

export class HeartbeatWriter {
  private seq = 0;
  private handle: TimerHandle | null = null;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly failing = new Set<string>();
  private readonly logger: Logger;

  constructor(private readonly opts: HeartbeatWriterOptions) {
    this.logger = opts.logger ?? nullLogger;
  }

  /** Writes one heartbeat now, then every `everyMs`. */
  start(): void {
    if (this.handle !== null) return;
    this.tick();
    this.handle = this.opts.timers.setInterval(() => this.tick(), this.opts.everyMs);
  }

  /** Stops the ticks and waits for the puts in flight (bounded by the connection's own timeouts). */
  async stop(): Promise<void> {
    this.opts.timers.clearTimeout(this.handle);
    this.handle = null;
    await Promise.all([...this.inFlight.values()]);
  }

  get lastSeq(): number {
    return this.seq;
  }

  private tick(): void {
    this.seq += 1;
    const beat: Heartbeat = { time: new Date(this.opts.timers.now()).toISOString(), seq: this.seq, by: this.opts.by };
    const json = JSON.stringify(beat);
    for (const site of this.opts.sites) {
      if (this.inFlight.has(site)) continue;
      const p = this.opts
        .put(site, json)
        .then(
          () => this.recovered(site),
          (err: unknown) => this.failed(site, err),
        )
        .finally(() => this.inFlight.delete(site));
      this.inFlight.set(site, p);
    }
  }

  private failed(site: string, err: unknown): void {
    // Logged once per outage, not once per second.
    if (this.failing.has(site)) return;
    this.failing.add(site);
    this.logger.warn({ site, err: errorMessage(err) }, 'heartbeat put failed; retrying every tick');
  }

  private recovered(site: string): void {
    if (this.failing.delete(site)) this.logger.info({ site, seq: this.seq }, 'heartbeat put succeeds again');
  }
}
