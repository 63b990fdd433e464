/**
 * Fleet membership (gateway.yaml `fleet:`, docs/fleet.md), when configured: the link to the site's leaf
 * (mTLS with the gateway's rotating SVID), the edge resources ensured on every new connection, the site-state
 * watch feeding the signed policy apply and the fleet enforcement (locks, grants, heartbeat → staleness), the
 * audit block publisher and the status beat. Started after the policy, audit log and trust runtime it feeds;
 * starting never waits for the leaf (the gateway enforces its last state while the leaf is away). Stop ends
 * the beat and the watch, drains the publisher, then drains the connection.
 * The parts and the NATS client are loaded (fleet-start.ts) only when `fleet:` is configured: a standalone
 * gateway never pays for their modules (a few MB of RSS, bench row 7).
 */
import type { FleetDeps, RunningFleet } from './fleet-start.js';
export type { FleetDeps, RunningFleet };
import type { Component } from './lifecycle.js';
import type { GatewayEnv } from './gateway-env.js';

export function fleetComponent(env: GatewayEnv, deps: FleetDeps): Component<RunningFleet | null> {
  const f = env.config.fleet;
  return {
    name: 'fleet',
    start: async () => (f ? (await import('./fleet-start.js')).startFleet(env, f, deps) : null),
    stop: async (fleet) => {
      if (!fleet) return;
      fleet.beat.stop();
      await fleet.watch.close();
      fleet.apply.close();
      await fleet.publisher.close();
      fleet.enforcement.close();
      await fleet.link.close();
    },
  };
}
