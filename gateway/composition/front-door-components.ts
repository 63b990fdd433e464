/**
 * The listeners, started last so that nothing reaches a request path that is not yet wired: Modbus/TCP
 * Security, the gRPC front door (optional), and the observability endpoint (optional).
 */
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditThrottle } from '../audit/audit-throttle.js';
import type { DeviceRouter } from '../frontdoor/device-router.js';
import type { GrpcFrontDoor } from '../frontdoor/grpc-front-door.js';
import type { HandshakeSlots } from '../frontdoor/handshake-slots.js';
import { MbapsListener } from '../frontdoor/mbaps-listener.js';
import type { RecordPipeline } from '../frontdoor/record-pipeline.js';
import type { RequestPipeline } from '../frontdoor/request-pipeline.js';
import type { SessionRegistry } from '../frontdoor/session-registry.js';
import { LiveChains } from '../frontdoor/live-chains.js';
import { errorMessage } from '../errors.js';
import type { Session } from '../frontdoor/session.js';
import type { GatewayIdentity } from '../gateway-identity.js';
import { ObservabilityServer } from '../observability/http-server.js';
import type { PolicyHolder } from '../policy/policy-holder.js';
import type { TrustRuntime } from '../trust/trust-runtime.js';
import type { DevicePool } from '../upstream/device-pool.js';
import { queueDepths, type Upstream } from './core-components.js';
import { plain, type Component } from './lifecycle.js';
import type { GatewayEnv } from './gateway-env.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** What both TLS front doors share. */
export interface FrontDoorDeps {
  readonly identity: GatewayIdentity;
  readonly router: DeviceRouter<DevicePool>;
  readonly pipeline: RequestPipeline;
  readonly recordPipeline: RecordPipeline;
  readonly trust: TrustRuntime;
  readonly sessions: SessionRegistry;
  /** The verified chains of live sessions on both listeners, judged again on every bundle change. */
  readonly chains: LiveChains<Session>;
  readonly policy: PolicyHolder;
  /** The rate-bounded audit sink (pre-authentication events are throttled). */
  readonly audit: AuditThrottle;
  /** One pending-handshake budget for both listeners: the fds and TLS state it bounds are the process's. */
  readonly handshakeSlots: HandshakeSlots;
}

/**
 * The live sessions' verified chains, judged again on every trust bundle change (frontdoor/live-chains.ts). Started
 * before the listeners, so no session opens before the change that could revoke it is followed.
 */
export function liveChainsComponent(env: GatewayEnv, identity: GatewayIdentity): Component<LiveChains<Session>> {
  const { logger } = env;
  return plain('live-chains', () => {
    const chains = new LiveChains<Session>();
    identity.onBundlesChanged(() => {
      chains
        .recheck((chain) => identity.recheckChain(chain))
        .then(
          (r) => {
            if (r.revoked.length > 0)
              logger.warn(
                { ended: r.ended, chains: r.chains, revoked: r.revoked },
                'trust bundles changed: sessions whose chain no longer verifies ended (bundle-revoked)',
              );
            else if (!r.superseded)
              logger.info({ chains: r.chains }, 'trust bundles changed: every live session still verifies');
          },
          (err: unknown) =>
            logger.error({ err: errorMessage(err) }, 'trust bundles changed: live sessions not rechecked'),
        );
    });
    return chains;
  });
}

interface Listening<T> {
  readonly server: T;
  readonly endpoint: Endpoint;
}

/** Modbus/TCP Security [MB-TCP-SEC]; its TLS context follows the SVID's rotation. */
export function mbapsComponent(env: GatewayEnv, deps: FrontDoorDeps): Component<Listening<MbapsListener>> {
  const { config, metrics, now, logger } = env;
  const { identity, router, trust } = deps;
  const l = config.listeners.mbaps;
  return {
    name: 'mbaps-listener',
    start: async () => {
      const mbaps = new MbapsListener({
        host: l.host,
        port: l.port,
        tlsOptions: () =>
          identity.serverTlsOptions({ handshakeTimeoutMs: l.handshakeTimeoutMs, resumption: l.sessionResumption }),
        verifyPeer: (socket) => identity.verifyPeer(socket),
        tlsErrorReason: (err, socket) => identity.tlsErrorReason(err, socket),
        routes: (unit) => router.route(unit),
        pipeline: deps.pipeline,
        gate: trust,
        sessions: deps.sessions,
        chains: deps.chains,
        audit: deps.audit,
        metrics,
        now,
        timers: env.timers,
        logger,
        maxInFlightPerSession: l.maxInFlightPerSession,
        idleTimeoutMs: () => trust.idleTimeoutMs(),
        handshake: {
          slots: deps.handshakeSlots,
          timeoutMs: l.handshakeTimeoutMs,
          identityAvailable: () => identity.available(),
        },
      });
      const addr = await mbaps.listen();
      identity.onUpdate(() => mbaps.updateSecureContext());
      // live sessions follow a reloaded session.idleTimeout (gRPC's idle sweep reads it on every tick)
      deps.policy.onSwap(() => mbaps.followIdleTimeout());
      return { server: mbaps, endpoint: { host: l.host, port: addr.port } };
    },
    stop: ({ server }) => server.close(),
  };
}

/** The gRPC front door (Modbus, Profinet and Admin services) when `listeners.grpc` is set, else null. */
export function grpcComponent(env: GatewayEnv, deps: FrontDoorDeps): Component<Listening<GrpcFrontDoor> | null> {
  const { config, metrics, now, logger } = env;
  const g = config.listeners.grpc;
  return {
    name: 'grpc-front-door',
    start: async () => {
      if (!g) return null;
      const { identity } = deps;
      // loaded only when configured: a gateway without the gRPC listener never maps its services
      const { GrpcFrontDoor } = await import('../frontdoor/grpc-front-door.js');
      const grpc = new GrpcFrontDoor({
        identity,
        router: deps.router,
        pipeline: deps.pipeline,
        recordPipeline: deps.recordPipeline,
        trust: deps.trust,
        sessions: deps.sessions,
        chains: deps.chains,
        policy: deps.policy,
        audit: deps.audit,
        metrics,
        now,
        timers: env.timers,
        logger,
        sessionResumption: g.sessionResumption,
        keepalive: { timeMs: g.keepaliveTimeMs, timeoutMs: g.keepaliveTimeoutMs },
        handshake: {
          slots: deps.handshakeSlots,
          timeoutMs: g.handshakeTimeoutMs,
          identityAvailable: () => identity.available(),
        },
      });
      const port = await grpc.listen(g.host, g.port);
      identity.onUpdate(() => grpc.updateCredentials());
      return { server: grpc, endpoint: { host: g.host, port } };
    },
    stop: (started) => started?.server.close(),
  };
}

export interface ObservedParts {
  readonly identity: GatewayIdentity;
  readonly policy: PolicyHolder;
  readonly audit: AuditLog;
  readonly trust: TrustRuntime;
  readonly upstream: Upstream;
  /** Commissioning mode, when configured: shown in /readyz. */
  readonly learn?: { status(): { ok: boolean; detail: string } } | null;
}

/** Feeds the gauges, and serves /metrics and the health checks when `listeners.metrics` is set (else null). */
export function observabilityComponent(
  env: GatewayEnv,
  parts: ObservedParts,
): Component<Listening<ObservabilityServer> | null> {
  const { config, metrics } = env;
  const { identity, policy, audit, trust } = parts;
  const m = config.listeners.metrics;
  return {
    name: 'observability',
    start: async () => {
      metrics.attach({
        queueDepth: () => queueDepths(parts.upstream),
        svidSecondsLeft: () => identity.source.secondsUntilExpiry(),
        auditLag: () => audit.lag(),
        trustScores: () => trust.scores(),
      });
      if (!m) return null;
      const http = new ObservabilityServer(metrics, {
        svid: () => ({ ok: identity.source.state() !== 'failed-closed', detail: identity.source.state() }),
        policy: () => ({ ok: true, detail: policy.current.version }),
        audit: () => {
          // Says why when failing or held (e.g. by fleet-audit: the edge audit stream is full).
          const why = audit.status().lastError;
          return { ok: audit.healthy() || config.audit.failurePolicy === 'continue', ...(why ? { detail: why } : {}) };
        },
        learn: () => parts.learn?.status() ?? { ok: true, detail: 'off' },
      });
      const addr = await http.listen(m.host, m.port);
      return { server: http, endpoint: { host: m.host, port: addr.port } };
    },
    stop: (started) => started?.server.close(),
  };
}
