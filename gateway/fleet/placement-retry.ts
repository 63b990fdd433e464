/**
 * Retries a JetStream asset creation the hub refuses only because its cluster is not settled yet. Right after a
 * hub starts (or a node restarts), the meta group can have a leader before every peer has reported in, and a
 * replicated stream or KV bucket then gets "no suitable peers for placement", "insufficient resources" or
 * "temporarily unavailable" although a moment later it would be placed. `verigate control init` run by an
 * installer right after the hub comes up (and the fleet lab of the tests) met exactly that. Any other error —
 * a bad configuration, a permission — is thrown at once; the retries stop after `forMs`.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import { systemTimers, type Timers } from '../timers.js';

/** nats-server error codes (server/errors.json) of a cluster that cannot place an asset yet. */
const UNSETTLED: ReadonlySet<number> = new Set([
  10005, // JSClusterNoPeersErrF: no suitable peers for placement
  10008, // JSClusterNotAvailErr: JetStream system temporarily unavailable
  10009, // JSClusterNotLeaderErr: JetStream cluster can not handle request
  10023, // JSInsufficientResourcesErr: insufficient resources (peers not yet reporting their storage)
]);

export interface PlacementRetryOptions {
  /** Give up (throw the last error) once this much time has passed since the first attempt (default 20 s). */
  readonly forMs?: number;
  /** Pause between attempts (default 250 ms). */
  readonly everyMs?: number;
  readonly timers?: Timers;
}

export function isUnsettledCluster(err: unknown): boolean {
  return err instanceof JetStreamApiError && UNSETTLED.has(err.code);
}

export async function withPlacementRetry<T>(create: () => Promise<T>, o: PlacementRetryOptions = {}): Promise<T> {
  const timers = o.timers ?? systemTimers;
  const until = timers.now() + (o.forMs ?? 20_000);
  for (;;) {
    try {
      return await create();
    } catch (err) {
      if (!isUnsettledCluster(err) || timers.now() >= until) throw err;
    }
    await new Promise<void>((resolve) => timers.setTimeout(resolve, o.everyMs ?? 250));
  }
}
