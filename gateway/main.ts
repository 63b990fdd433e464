/**
 * Composition root: the only place (with gateway/cli) that builds concrete objects and wires them together.
 * The components start in the order below, which follows the dependencies: identity (nothing works without
 * an SVID) → SIEM exporter → audit log → policy → upstream devices → trust runtime → rate-bounded audit →
 * fleet membership (when configured; it never waits for the leaf) → front doors → observability. They stop
 * in the reverse order (composition/lifecycle.ts); a failure while starting stops what had started. Each
 * component's start and stop live together in composition/*.ts.
 */
import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import type { GatewayConfig } from './config/gateway-config.js';
import { GatewayMetrics } from './observability/metrics.js';
import { monotonicTimers, systemTimers, type Timers } from './timers.js';
import type { GatewayIdentity } from './gateway-identity.js';
import type { PolicyHolder } from './policy/policy-holder.js';
import type { AuditLog } from './audit/audit-log.js';
import type { AuditThrottle } from './audit/audit-throttle.js';
import type { TrustRuntime } from './trust/trust-runtime.js';
import { SessionRegistry } from './frontdoor/session-registry.js';
import { DeviceRouter } from './frontdoor/device-router.js';
import { RequestPipeline } from './frontdoor/request-pipeline.js';
import type { Session } from './frontdoor/session.js';
import type { LiveChains } from './frontdoor/live-chains.js';
import { RecordPipeline } from './frontdoor/record-pipeline.js';
import { HandshakeSlots } from './frontdoor/handshake-slots.js';
import { Lifecycle } from './composition/lifecycle.js';
import type { GatewayEnv } from './composition/gateway-env.js';
import { auditLogComponent, auditThrottleComponent, syslogExporterComponent } from './composition/audit-components.js';
import {
  identityComponent,
  policyComponent,
  trustComponent,
  upstreamComponent,
  type Upstream,
} from './composition/core-components.js';
import {
  grpcComponent,
  liveChainsComponent,
  mbapsComponent,
  observabilityComponent,
  type FrontDoorDeps,
} from './composition/front-door-components.js';
import { learnComponent } from './composition/learn-component.js';
import { fleetComponent, type RunningFleet } from './composition/fleet-component.js';
import type { LearnMode } from './evidence/learn-mode.js';

export interface RunningGateway {
  readonly config: GatewayConfig;
  readonly endpoints: {
    mbaps: { host: string; port: number };
    grpc: { host: string; port: number } | null;
    metrics: { host: string; port: number } | null;
  };
  readonly sessions: SessionRegistry;
  /** The live sessions' verified chains, judged again on every trust bundle change. */
  readonly chains: LiveChains<Session>;
  readonly policy: PolicyHolder;
  readonly trust: TrustRuntime;
  readonly audit: AuditLog;
  /** The rate-bounded sink in front of `audit` for the front doors and the pipeline (tests tick it). */
  readonly auditThrottle: AuditThrottle;
  /** PROFINET record services (read/write one record); the gRPC `Profinet` service calls it. */
  readonly recordPipeline: RecordPipeline;
  readonly identity: GatewayIdentity;
  /** Fleet membership (gateway.yaml `fleet:`), null for a standalone gateway. */
  readonly fleet: RunningFleet | null;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  readonly now?: () => number;
  /**
   * Timers and clock of every stateful component (tests pass fake ones); default systemTimers, and
   * monotonicTimers for the upstream deadlines (composition/gateway-env.ts).
   */
  readonly timers?: Timers;
}

export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  const env = gatewayEnv(config, opts);
  const { logger } = env;
  const life = new Lifecycle((component, err) => logger.error({ component, err }, 'stop failed'));
  return life.run(async () => {
    mkdirSync(config.stateDir, { recursive: true });
    const identity = await life.start(identityComponent(env));
    const exporter = await life.start(syslogExporterComponent(env, identity)); // stops after the log: exports its last checkpoint
    const audit = await life.start(auditLogComponent(env, identity, exporter));
    const policy = await life.start(policyComponent(env, audit));
    const upstream = await life.start(upstreamComponent(env));
    const sessions = new SessionRegistry();
    const trust = await life.start(trustComponent(env, { policy, sessions, audit }));
    const auditSink = await life.start(auditThrottleComponent(env, { audit, policy, trust, sessions }));
    const learn = await life.start(learnComponent(env, audit)); // commissioning mode, when a device has `learn:`
    const fleet = await life.start(fleetComponent(env, { identity, policy, audit, trust, sessions })); // never waits for the leaf
    const chains = await life.start(liveChainsComponent(env, identity)); // before any session opens
    const doors = frontDoorDeps(env, { identity, policy, trust, sessions, chains, audit: auditSink, upstream, learn });
    const mbaps = await life.start(mbapsComponent(env, doors));
    const grpc = await life.start(grpcComponent(env, doors));
    const http = await life.start(observabilityComponent(env, { identity, policy, audit, trust, upstream, learn }));
    const endpoints = { mbaps: mbaps.endpoint, grpc: grpc?.endpoint ?? null, metrics: http?.endpoint ?? null };
    logger.info({ ...portsOf(endpoints), id: identity.spiffeId() }, 'verigate ready');
    return {
      config,
      endpoints,
      sessions,
      chains,
      policy,
      trust,
      audit,
      auditThrottle: auditSink,
      recordPipeline: doors.recordPipeline,
      identity,
      fleet,
      metrics: env.metrics,
      logger,
      stop: () => life.stop(),
    };
  });
}

/** The clock, timers, logger and metrics every component shares; tests pass their own timers and logger. */
function gatewayEnv(config: GatewayConfig, opts: StartOptions): GatewayEnv {
  const timers = opts.timers ?? systemTimers;
  return {
    config,
    logger: opts.logger ?? pino({ level: config.logLevel, name: 'verigate' }),
    now: opts.now ?? (() => timers.now()),
    timers,
    deadlines: opts.timers ?? monotonicTimers,
    metrics: new GatewayMetrics(),
  };
}

/** What both front doors share: identity, policy, gates, audit, the device router, pipelines, handshake slots. */
function frontDoorDeps(
  env: GatewayEnv,
  deps: {
    identity: GatewayIdentity;
    policy: PolicyHolder;
    trust: TrustRuntime;
    sessions: SessionRegistry;
    chains: LiveChains<Session>;
    audit: AuditThrottle;
    upstream: Upstream;
    learn: LearnMode | null;
  },
): FrontDoorDeps {
  const { identity, policy, trust, sessions, chains, audit, upstream, learn } = deps;
  const listeners = env.config.listeners;
  return {
    identity,
    policy,
    trust,
    sessions,
    chains,
    audit,
    router: new DeviceRouter(upstream.pools, listeners.mbaps.device, upstream.profinet),
    ...pipelines(env, { policy, trust, audit, learn }),
    handshakeSlots: new HandshakeSlots({
      maxPending: listeners.maxPendingHandshakes,
      maxPendingPerSource: listeners.maxPendingHandshakesPerSource,
    }),
  };
}

function portsOf(endpoints: RunningGateway['endpoints']): Record<string, number | undefined> {
  return { mbaps: endpoints.mbaps.port, grpc: endpoints.grpc?.port, metrics: endpoints.metrics?.port };
}

/** Both pipelines (Modbus requests, PROFINET records) share the same policy, gates, audit and dispatch check. */
function pipelines(
  env: GatewayEnv,
  deps: { policy: PolicyHolder; trust: TrustRuntime; audit: AuditThrottle; learn: LearnMode | null },
): { pipeline: RequestPipeline; recordPipeline: RecordPipeline } {
  const { policy, trust, audit } = deps;
  const { logger } = env;
  const shared = {
    policy: () => policy.engine,
    gate: trust,
    audit,
    metrics: env.metrics,
    now: env.now,
    auditContinueOnFailure: env.config.audit.failurePolicy === 'continue',
    // a lock created while requests wait for their device (e.g. on the device) stops them before the send
    dispatchCheck: (s: Session, device: string) =>
      trust.locks.matching({ identity: s.peer.id, role: s.peer.role, device }) === null,
    logger,
    onShadow: (e: object) => logger.info({ shadow: e }, 'shadow rule verdict'),
    ...(deps.learn ? { learn: deps.learn } : {}),
  };
  return { pipeline: new RequestPipeline(shared), recordPipeline: new RecordPipeline(shared) };
}
