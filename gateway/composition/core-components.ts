/**
 * The components everything else stands on: the gateway's own identity (nothing works without an SVID), the
 * policy, the upstream devices (Modbus pools, PROFINET clients) and the trust runtime.
 */
import { join } from 'node:path';
import type { AuditLog } from '../audit/audit-log.js';
import type { SessionRegistry } from '../frontdoor/session-registry.js';
import { startIdentity, type GatewayIdentity } from '../gateway-identity.js';
import { PolicyHolder } from '../policy/policy-holder.js';
import { TrustRuntime } from '../trust/trust-runtime.js';
import type { DevicePool } from '../upstream/device-pool.js';
import type { ProfinetClient } from '../upstream/profinet-client.js';
import type { GatewayConfig } from '../config/gateway-config.js';
import type { Component } from './lifecycle.js';
import { buildModbusPools, type RtuLineEntry } from './modbus-pools.js';
import type { GatewayEnv } from './gateway-env.js';

export function identityComponent(env: GatewayEnv): Component<GatewayIdentity> {
  return {
    name: 'identity',
    start: () => startIdentity(env.config, env.logger, env.timers),
    stop: (identity) => identity.close(),
  };
}

/** The policy file (and its shadow file), reloaded on change when `policy.watch` is set. */
export function policyComponent(env: GatewayEnv, audit: AuditLog): Component<PolicyHolder> {
  const p = env.config.policy;
  return {
    name: 'policy',
    start: () => {
      const policy = PolicyHolder.load(p.file, {
        audit,
        logger: env.logger,
        metrics: env.metrics,
        shadowFile: p.shadowFile,
        timers: env.timers,
      });
      if (p.watch) policy.watch();
      return policy;
    },
    stop: (policy) => policy.close(),
  };
}

export interface Upstream {
  /** Devices on one RTU line share its pool. */
  readonly pools: readonly { readonly config: GatewayConfig['devices'][number]; readonly pool: DevicePool }[];
  /** RTU lines (serial or RTU over TCP) with their counters. */
  readonly lines?: readonly RtuLineEntry[];
  readonly profinet: readonly {
    readonly config: GatewayConfig['profinetDevices'][number];
    readonly client: ProfinetClient;
  }[];
}

/**
 * One connection pool per Modbus TCP device, one per RTU line (shared by its devices), and one PNIO-CM client per
 * PROFINET IO device; sockets and ports open on first use.
 */
export function upstreamComponent(env: GatewayEnv): Component<Upstream> {
  const { config, logger, deadlines } = env;
  return {
    name: 'upstream',
    start: async () => ({
      ...(await buildModbusPools(config.devices, logger, deadlines)),
      profinet: await profinetClients(env),
    }),
    stop: async (u) => {
      await Promise.all([...u.pools.map((p) => p.pool.close()), ...u.profinet.map((p) => p.client.close())]);
    },
  };
}

/** One PNIO-CM client per PROFINET IO device; the client's modules are loaded only when a device is configured. */
async function profinetClients(env: GatewayEnv): Promise<Upstream['profinet']> {
  const { config, logger, deadlines } = env;
  if (config.profinetDevices.length === 0) return [];
  const { ProfinetClient } = await import('../upstream/profinet-client.js');
  return config.profinetDevices.map((d) => ({
    config: d,
    client: new ProfinetClient({
      name: d.name,
      host: d.host,
      port: d.port,
      timeoutMs: d.timeoutMs,
      queueLimit: d.queueLimit,
      arIdleMs: d.arIdleMs,
      // the AR's activity timeout announced to the device outlasts the gateway's own idle release
      arActivityTimeoutFactor: arActivityFactor(d.arIdleMs, d.timeoutMs),
      logger,
      timers: deadlines,
    }),
  }));
}

/** Devices' queued + in-flight requests by name (the queue-depth gauge). */
export function queueDepths(u: Upstream): Record<string, number> {
  return Object.fromEntries([
    ...u.pools.map((p) => [p.config.name, p.pool.stats().queued + p.pool.stats().inFlight] as const),
    ...u.profinet.map((p) => [p.config.name, p.client.stats().queued + p.client.stats().inFlight] as const),
  ]);
}

/** Trust scores, JIT grants and locks of live sessions; told of every policy swap. */
export function trustComponent(
  env: GatewayEnv,
  deps: { policy: PolicyHolder; sessions: SessionRegistry; audit: AuditLog },
): Component<TrustRuntime> {
  const { policy, sessions, audit } = deps;
  return {
    name: 'trust',
    start: async () => {
      const trust = await TrustRuntime.open({
        dir: join(env.config.stateDir, 'trust'),
        policy: () => policy.current,
        sessions,
        audit,
        logger: env.logger,
        now: env.now,
        timers: env.timers,
        lockStoreFailure: env.config.lockStoreFailure,
      });
      policy.onSwap((next, previous) => trust.onPolicySwap(next, previous));
      return trust;
    },
    stop: (trust) => trust.close(),
  };
}

/**
 * CMInitiatorActivityTimeoutFactor (×100 ms, 1..1000 [IEC 61158-6-10]): the default 30 s, or longer than the
 * gateway's idle release plus one call so the device never drops the AR first (gateway-config.ts bounds the sum).
 */
function arActivityFactor(arIdleMs: number, timeoutMs: number): number {
  return Math.min(1000, Math.max(300, Math.floor((arIdleMs + timeoutMs) / 100) + 10));
}
