/**
 * A pool's status report (device-pool.ts `stats()`, read for the Prometheus gauges): what its links hold, what
 * waits in its queue, and the requests outstanding per client identity (ClientTally, which the PROFINET client's
 * turns count with too). Separate from the pool because it is
 * reporting only: nothing the pool decides reads it (fairness and push-out work on the fair queue's own per-key
 * lists, fair-queue.ts).
 */
import type { DevicePoolStats, UpstreamLink } from './types.js';

/** Requests outstanding for one clientKey; kept at 0 rather than deleted per request (see `add`). */
interface Outstanding {
  n: number;
}

/** Idle (zero) entries tolerated before they are swept. */
const IDLE_CLIENT_KEYS = 256;

/** Requests outstanding (queued or sent) per clientKey: one more at submit, one fewer when settled. */
export class ClientTally {
  readonly #outstanding = new Map<string, Outstanding>();

  /** The entry stays at 0 instead of a Map delete + set per request. */
  add(key: string, delta: 1 | -1): void {
    let o = this.#outstanding.get(key);
    if (o === undefined) {
      if (this.#outstanding.size >= IDLE_CLIENT_KEYS)
        for (const [k, v] of this.#outstanding) if (v.n === 0) this.#outstanding.delete(k);
      this.#outstanding.set(key, (o = { n: 0 }));
    }
    o.n = Math.max(0, o.n + delta);
  }

  /** Outstanding count of every clientKey that has any. */
  byClient(): Record<string, number> {
    return Object.fromEntries([...this.#outstanding].filter(([, o]) => o.n > 0).map(([k, o]) => [k, o.n]));
  }
}

export function poolStats<J>(
  links: readonly UpstreamLink<J>[],
  queued: number,
  tally: ClientTally,
  down: boolean,
): DevicePoolStats {
  let inFlight = 0;
  let lateReserved = 0;
  for (const c of links) {
    inFlight += c.live;
    lateReserved += c.late;
  }
  return { connections: links.length, inFlight, queued, byClient: tally.byClient(), lateReserved, down };
}
