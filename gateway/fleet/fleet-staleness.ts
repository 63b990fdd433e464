/**
 * How old this box's view of the fleet hub is (docs/fleet.md "Offline"): staleness = now − the `time` of the
 * newest control heartbeat seen (`heartbeat` key of the site bucket, mirrored to the leaf). It feeds the gauge
 * `verigate_fleet_staleness_seconds`, the status beat, and the trust runtime's `lockMode: strict` gate
 * (`FleetFreshness`). A gateway that is not a fleet member has none of this: staleness 0, strict has no effect.
 *
 * - A heartbeat time ahead of our clock (hub clock skew) counts as received now, so a wrong clock at the hub
 *   can never make a box look fresh for longer than it has really been in touch.
 * - Never heard (a new member that never reached the hub): infinitely stale, so strict rules refuse writes
 *   until the first heartbeat arrives — never fail open.
 * - The newest heartbeat is persisted (durable-json, at most every `persistEveryMs`), so a gateway restarted
 *   while cut off resumes its staleness instead of starting fresh. The persisted one may be up to
 *   `persistEveryMs` older than the last seen: after a restart the box looks staler, never fresher.
 * - The wall clock may step backwards (NTP, an operator): `now − at` would then shrink, even to 0. The time
 *   since receipt is also kept on a monotonic clock, and staleness is the larger of the two, so a clock step
 *   never makes a box look fresher. Which heartbeat is newest is judged on the control's clock (its `time`).
 */
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { readDurableJson, writeDurableJson } from '../trust/durable-json.js';
import type { FleetFreshness } from '../trust/trust-runtime.js';
import type { FleetHeartbeat } from './fleet-state-handlers.js';

/** `fleet.maxStaleness` when gateway.yaml does not set it; also a strict rule's default. */
export const DEFAULT_MAX_STALENESS_MS = 60_000;
const DEFAULT_PERSIST_EVERY_MS = 5_000;

export interface FleetStalenessOptions {
  /** Where the newest heartbeat is kept across restarts (the gateway's state dir). */
  readonly file: string;
  /** Wall clock, epoch ms (heartbeat times are wall-clock ISO-8601). */
  readonly now: () => number;
  /** A monotonic clock, ms (the composition's `deadlines.now`). Default: `now` (no protection from clock steps). */
  readonly monotonic?: () => number;
  /** `fleet.maxStaleness`: the limit of strict rules that set none. */
  readonly defaultMaxStalenessMs?: number;
  /** Minimum interval between two persisted heartbeats. Default 5 s. */
  readonly persistEveryMs?: number;
  readonly logger?: Logger;
}

/** What is persisted: the newest heartbeat and the instant it counts for (its time, or its receipt if later). */
interface Persisted {
  readonly heartbeat: FleetHeartbeat;
  readonly at: number;
}

/** When the newest heartbeat was received, on the monotonic clock, and how old it already was then. */
interface Receipt {
  readonly mono: number;
  readonly ageMs: number;
}

export class FleetStaleness implements FleetFreshness {
  private newest: Persisted | null = null;
  private receipt: Receipt | null = null;
  private lastPersist = Number.NEGATIVE_INFINITY;
  private dirty = false;
  private readonly logger: Logger;
  readonly defaultMaxStalenessMs: number;

  constructor(private readonly opts: FleetStalenessOptions) {
    this.logger = opts.logger ?? nullLogger;
    this.defaultMaxStalenessMs = opts.defaultMaxStalenessMs ?? DEFAULT_MAX_STALENESS_MS;
  }

  /** Reads the persisted heartbeat; an unreadable file is logged and counts as never heard (stale, safe side). */
  load(): void {
    const r = readDurableJson<Persisted>(this.opts.file);
    if (r.kind === 'unreadable') {
      this.logger.error({ err: r.error }, 'fleet: last heartbeat unreadable, counting as never heard');
      return;
    }
    if (r.kind === 'ok' && typeof r.value?.at === 'number' && Number.isFinite(r.value.at)) {
      this.newest = r.value;
      this.receipt = { mono: this.mono(), ageMs: Math.max(0, this.opts.now() - r.value.at) };
    }
  }

  /** A heartbeat from the site bucket: kept when newer than the newest seen (a replayed older one is ignored). */
  heartbeat(hb: FleetHeartbeat): void {
    const time = Date.parse(hb.time);
    if (!Number.isFinite(time)) {
      this.logger.warn({ heartbeat: hb }, 'fleet: heartbeat with an unreadable time ignored');
      return;
    }
    if (this.newest !== null && time <= newestTime(this.newest)) return;
    const now = this.opts.now();
    const at = Math.min(time, now);
    this.newest = { heartbeat: hb, at };
    this.receipt = { mono: this.mono(), ageMs: now - at };
    this.dirty = true;
    if (now - this.lastPersist >= (this.opts.persistEveryMs ?? DEFAULT_PERSIST_EVERY_MS)) this.flush();
  }

  /** Milliseconds since the newest heartbeat (≥ 0); Infinity when none was ever seen. */
  stalenessMs(): number {
    if (this.newest === null) return Number.POSITIVE_INFINITY;
    const wall = this.opts.now() - this.newest.at;
    const mono = this.receipt === null ? wall : this.mono() - this.receipt.mono + this.receipt.ageMs;
    return Math.max(0, wall, mono);
  }

  private mono(): number {
    return (this.opts.monotonic ?? this.opts.now)();
  }

  /** For the gauge and the status beat: seconds, or +Inf when never heard. */
  stalenessSeconds(): number {
    return this.stalenessMs() / 1000;
  }

  /** The newest heartbeat seen (or restored), if any. */
  last(): FleetHeartbeat | null {
    return this.newest?.heartbeat ?? null;
  }

  isStale(maxStalenessMs: number | null): boolean {
    return this.stalenessMs() > (maxStalenessMs ?? this.defaultMaxStalenessMs);
  }

  /** Persists the newest heartbeat now if it changed (also called on stop). Never throws. */
  flush(): void {
    if (!this.dirty || this.newest === null) return;
    try {
      writeDurableJson(this.opts.file, this.newest);
      this.dirty = false;
      this.lastPersist = this.opts.now();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'fleet: cannot persist the last heartbeat');
    }
  }
}

/** The control's time of the kept heartbeat; a persisted one without a readable time yields to any new one. */
function newestTime(p: Persisted): number {
  const t = Date.parse(p.heartbeat?.time ?? '');
  return Number.isFinite(t) ? t : Number.NEGATIVE_INFINITY;
}
