/**
 * A fleet member's enforcement of the hub's state (docs/fleet.md): the `FleetStateHandlers` the site-state
 * watch calls, built from the lock and grant appliers and the staleness clock, wired into the trust runtime
 * (strict rules judge writes by staleness; the local approve path accepts only `siteLocalApprovers`) and the
 * metrics (`verigate_fleet_staleness_seconds`). The fleet component creates it once the trust runtime exists,
 * and calls `close()` on stop (persists the newest heartbeat). A standalone gateway never creates it.
 */
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { TrustRuntime } from '../trust/trust-runtime.js';
import { FleetGrants } from './fleet-grants.js';
import { FleetLocks } from './fleet-locks.js';
import { FleetStaleness } from './fleet-staleness.js';
import type { FleetHeartbeat, FleetStateHandlers, FleetStatePresent } from './fleet-state-handlers.js';

/** File under the state dir holding the newest heartbeat across restarts. */
export const HEARTBEAT_FILE = 'fleet-heartbeat.json';

export interface FleetEnforcementOptions {
  readonly trust: TrustRuntime;
  /** The gateway's state dir (the heartbeat file lives there). */
  readonly stateDir: string;
  /** Wall clock, epoch ms. */
  readonly now: () => number;
  /** Monotonic clock, ms (staleness survives wall-clock steps). Default: `now`. */
  readonly monotonic?: () => number;
  /** gateway.yaml `fleet.maxStaleness`. */
  readonly maxStalenessMs: number;
  readonly metrics?: Pick<GatewayMetrics, 'attach'>;
  readonly logger?: Logger;
}

export interface FleetEnforcement {
  readonly handlers: FleetStateHandlers;
  readonly staleness: FleetStaleness;
  /** Persists the newest heartbeat and detaches from the trust runtime. */
  close(): void;
}

export function createFleetEnforcement(opts: FleetEnforcementOptions): FleetEnforcement {
  const staleness = new FleetStaleness({
    file: join(opts.stateDir, HEARTBEAT_FILE),
    now: opts.now,
    ...(opts.monotonic ? { monotonic: opts.monotonic } : {}),
    defaultMaxStalenessMs: opts.maxStalenessMs,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  staleness.load();
  const log = opts.logger ? { logger: opts.logger } : {};
  const locks = new FleetLocks({ trust: opts.trust, newestHeartbeat: () => staleness.last(), ...log });
  const grants = new FleetGrants({ grants: opts.trust.grants, ...log });
  opts.trust.grants.fleetMode = true;
  opts.trust.setFleetFreshness(staleness);
  opts.metrics?.attach({ fleetStaleness: () => staleness.stalenessSeconds() });
  const handlers: FleetStateHandlers = {
    lock: (id, value) => locks.lock(id, value),
    grant: (id, value) => grants.grant(id, value),
    heartbeat: (hb: FleetHeartbeat) => staleness.heartbeat(hb),
    reconcile: (present: FleetStatePresent) => {
      locks.reconcile(present.locks, present.heartbeatTime);
      grants.reconcile(present.grants);
    },
  };
  return {
    handlers,
    staleness,
    close: () => {
      staleness.flush();
      opts.trust.setFleetFreshness(null);
    },
  };
}
