/**
 * Composition root: the only place (with gateway/cli) that builds concrete objects and wires them together.
 * Start order follows the dependencies: identity (nothing works without an SVID) → policy → audit → upstream
 * pools → trust runtime → front doors → observability. Stop order is the reverse.
 */
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import type { GatewayConfig } from './config/gateway-config.js';
import { GatewayMetrics } from './observability/metrics.js';
import { ObservabilityServer } from './observability/http-server.js';
import { startIdentity, type GatewayIdentity } from './gateway-identity.js';
import { PolicyHolder } from './policy/policy-holder.js';
import { AuditLog } from './audit/audit-log.js';
import type { AuditThrottle } from './audit/audit-throttle.js';
import { startRateBoundedAudit } from './audit/rate-bounded-audit.js';
import { svidCheckpointSigner } from './audit/checkpoint-signer.js';
import { SyslogExporter } from './audit/syslog-exporter.js';
import { readFileSync } from 'node:fs';
import { DevicePool } from './upstream/device-pool.js';
import { ProfinetClient } from './upstream/profinet-client.js';
import { TrustRuntime } from './trust/trust-runtime.js';
import { SessionRegistry } from './frontdoor/session-registry.js';
import { DeviceRouter } from './frontdoor/device-router.js';
import { RequestPipeline } from './frontdoor/request-pipeline.js';
import type { Session } from './frontdoor/session.js';
import { RecordPipeline } from './frontdoor/record-pipeline.js';
import { MbapsListener } from './frontdoor/mbaps-listener.js';
import { GrpcFrontDoor } from './frontdoor/grpc-front-door.js';
import { HandshakeSlots } from './frontdoor/handshake-slots.js';
import { svidPem } from './identity/x509-svid.js';

export interface RunningGateway {
  readonly config: GatewayConfig;
  readonly endpoints: { mbaps: { host: string; port: number }; grpc: { host: string; port: number } | null; metrics: { host: string; port: number } | null };
  readonly sessions: SessionRegistry;
  readonly policy: PolicyHolder;
  readonly trust: TrustRuntime;
  readonly audit: AuditLog;
  /** The rate-bounded sink in front of `audit` for the front doors and the pipeline (tests tick it). */
  readonly auditThrottle: AuditThrottle;
  /** PROFINET record services (read/write one record); the gRPC `Profinet` service calls it. */
  readonly recordPipeline: RecordPipeline;
  readonly identity: GatewayIdentity;
  readonly metrics: GatewayMetrics;
  readonly logger: Logger;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  readonly now?: () => number;
}

export async function startGateway(config: GatewayConfig, opts: StartOptions = {}): Promise<RunningGateway> {
  const logger = opts.logger ?? pino({ level: config.logLevel, name: 'verigate' });
  const now = opts.now ?? Date.now;
  const stops: (() => Promise<void> | void)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s();
  };
  try {
    mkdirSync(config.stateDir, { recursive: true });
    const identity = await startIdentity(config, logger);
    stops.push(() => identity.close());
    const metrics = new GatewayMetrics();
    const audit = await AuditLog.open({
      dir: config.audit.dir,
      segmentBytes: config.audit.segmentBytes,
      fsync: config.audit.fsync,
      values: config.audit.values,
      failurePolicy: config.audit.failurePolicy,
      minFreeBytes: config.audit.minFreeBytes,
      capacity: { capacityBytes: config.audit.capacityBytes, warnPercent: config.audit.capacityWarnPercent, reserveBytes: config.audit.reserveBytes },
      registry: metrics.registry,
      checkpoint: {
        everyEvents: config.audit.checkpoint.everyEvents,
        everyMs: config.audit.checkpoint.everyMs,
        signer: svidCheckpointSigner(() => {
          const svid = identity.source.getX509Svid();
          return { privateKey: svid.privateKey, chainPem: svidPem(svid).certPem, spiffeId: svid.id.toString() };
        }),
      },
      logger,
    });
    stops.push(() => audit.close());
    const syslog = config.audit.syslog;
    if (syslog) {
      // Mutual TLS to the SIEM with the gateway's own (rotating) SVID; the receiver is trusted by its CA file,
      // or by our SPIFFE bundle when it holds an SVID too.
      const exporter = new SyslogExporter({
        host: syslog.host,
        port: syslog.port,
        format: syslog.format,
        spool: { dir: syslog.spoolDir, maxBytes: syslog.spoolMaxBytes },
        tls: () => {
          const pem = svidPem(identity.source.getX509Svid());
          const ca = syslog.caFile ? readFileSync(syslog.caFile, 'utf8') : identity.source.getBundleSet().allAuthoritiesPem().join('');
          return { cert: pem.certPem, key: pem.keyPem, ca, servername: syslog.host, minVersion: 'TLSv1.2' };
        },
        logger,
      });
      exporter.attach(audit);
      // Stops run in reverse: placed before audit.close() in the list, it closes after it, so the final
      // checkpoint written on close is exported too.
      stops.splice(stops.length - 1, 0, () => exporter.close());
    }
    const policy = PolicyHolder.load(config.policy.file, { audit, logger, metrics, shadowFile: config.policy.shadowFile });
    if (config.policy.watch) policy.watch();
    stops.push(() => policy.close());

    const pools = config.devices.map((d) => ({
      config: d,
      pool: new DevicePool({
        name: d.name, host: d.host, port: d.port, maxConnections: d.maxConnections, maxInFlight: d.maxInFlight,
        timeoutMs: d.timeoutMs, queueLimit: d.queueLimit, logger,
      }),
    }));
    stops.push(async () => {
      await Promise.all(pools.map((p) => p.pool.close()));
    });
    // One PNIO-CM client per PROFINET IO device; sockets open on first use.
    const profinet = config.profinetDevices.map((d) => ({
      config: d,
      client: new ProfinetClient({
        name: d.name, host: d.host, port: d.port, timeoutMs: d.timeoutMs, queueLimit: d.queueLimit, arIdleMs: d.arIdleMs,
        // the AR's activity timeout announced to the device outlasts the gateway's own idle release
        arActivityTimeoutFactor: arActivityFactor(d.arIdleMs, d.timeoutMs), logger,
      }),
    }));
    stops.push(async () => {
      await Promise.all(profinet.map((p) => p.client.close()));
    });
    const router = new DeviceRouter(pools, config.listeners.mbaps.device, profinet);
    const sessions = new SessionRegistry();
    const trust = await TrustRuntime.open({
      dir: join(config.stateDir, 'trust'), policy: () => policy.current, sessions, audit, logger, now, lockStoreFailure: config.lockStoreFailure,
    });
    stops.push(() => trust.close());
    policy.onSwap((next, previous) => trust.onPolicySwap(next, previous));
    // What peers without rights can make the gateway write is rate-bounded and summarized; authorised events
    // pass straight through [IEC 62443-3-3 SR 2.9, SR 7.1] (policy, trust and admin events use `audit` itself).
    const bounded = startRateBoundedAudit({
      log: audit, now, throttle: config.audit.throttle, denialFlood: config.audit.denialFlood, policy: () => policy.current,
      lock: (target, by, reason, expiresAt) => trust.lock(target, by, reason, expiresAt),
      pruneLocks: () => void trust.locks.list(),
      endSessions: (id, reason) => void sessions.endMatching((s) => s.peer.id === id, reason),
      registry: metrics.registry, logger,
    });
    const auditSink = bounded.throttle;
    stops.push(() => auditSink.close());

    // Both pipelines (Modbus requests, PROFINET records) share the same policy, gates, audit and dispatch check.
    const pipelineDeps = {
      policy: () => policy.engine,
      gate: trust,
      audit: auditSink,
      metrics,
      now,
      auditContinueOnFailure: config.audit.failurePolicy === 'continue',
      // a lock created while requests wait for their device (e.g. on the device) stops them before the send
      dispatchCheck: (s: Session, device: string) => trust.locks.matching({ identity: s.peer.id, role: s.peer.role, device }) === null,
      logger,
      onShadow: (e: object) => logger.info({ shadow: e }, 'shadow rule verdict'),
    };
    const pipeline = new RequestPipeline(pipelineDeps);
    const recordPipeline = new RecordPipeline(pipelineDeps);
    // One pending-handshake budget for both TLS listeners: the fds and TLS state it bounds are the process's.
    const handshakeSlots = new HandshakeSlots({
      maxPending: config.listeners.maxPendingHandshakes,
      maxPendingPerSource: config.listeners.maxPendingHandshakesPerSource,
    });
    const identityAvailable = (): boolean => identity.available();
    const mbaps = new MbapsListener({
      host: config.listeners.mbaps.host,
      port: config.listeners.mbaps.port,
      tlsOptions: () => identity.serverTlsOptions(config.listeners.mbaps.handshakeTimeoutMs),
      verifyPeer: (socket) => identity.verifyPeer(socket),
      tlsErrorReason: (err, socket) => identity.tlsErrorReason(err, socket),
      routes: (unit) => router.route(unit),
      pipeline, gate: trust, sessions, audit: auditSink, metrics, now, logger,
      maxInFlightPerSession: config.listeners.mbaps.maxInFlightPerSession,
      idleTimeoutMs: () => trust.idleTimeoutMs(),
      handshake: { slots: handshakeSlots, timeoutMs: config.listeners.mbaps.handshakeTimeoutMs, identityAvailable },
    });
    const mbapsAddr = await mbaps.listen();
    stops.push(() => mbaps.close());

    let grpcEndpoint: { host: string; port: number } | null = null;
    if (config.listeners.grpc) {
      const grpc = new GrpcFrontDoor({
        identity, router, pipeline, recordPipeline, trust, sessions, policy, audit: auditSink, metrics, now, logger,
        handshake: { slots: handshakeSlots, timeoutMs: config.listeners.grpc.handshakeTimeoutMs, identityAvailable },
      });
      const port = await grpc.listen(config.listeners.grpc.host, config.listeners.grpc.port);
      grpcEndpoint = { host: config.listeners.grpc.host, port };
      stops.push(() => grpc.close());
      identity.onUpdate(() => grpc.updateCredentials());
    }
    identity.onUpdate(() => mbaps.updateSecureContext());

    metrics.attach({
      queueDepth: () => Object.fromEntries([
        ...pools.map((p) => [p.config.name, p.pool.stats().queued + p.pool.stats().inFlight] as const),
        ...profinet.map((p) => [p.config.name, p.client.stats().queued + p.client.stats().inFlight] as const),
      ]),
      svidSecondsLeft: () => identity.source.secondsUntilExpiry(),
      auditLag: () => audit.lag(),
      trustScores: () => trust.scores(),
    });
    let metricsEndpoint: { host: string; port: number } | null = null;
    if (config.listeners.metrics) {
      const http = new ObservabilityServer(metrics, {
        svid: () => ({ ok: identity.source.state() !== 'failed-closed', detail: identity.source.state() }),
        policy: () => ({ ok: true, detail: policy.current.version }),
        audit: () => ({ ok: audit.healthy() || config.audit.failurePolicy === 'continue' }),
      });
      const addr = await http.listen(config.listeners.metrics.host, config.listeners.metrics.port);
      metricsEndpoint = { host: config.listeners.metrics.host, port: addr.port };
      stops.push(() => http.close());
    }
    logger.info({ mbaps: mbapsAddr.port, grpc: grpcEndpoint?.port, metrics: metricsEndpoint?.port, id: identity.spiffeId() }, 'verigate ready');
    return {
      config,
      endpoints: { mbaps: { host: config.listeners.mbaps.host, port: mbapsAddr.port }, grpc: grpcEndpoint, metrics: metricsEndpoint },
      sessions, policy, trust, audit, auditThrottle: auditSink, recordPipeline, identity, metrics, logger, stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * CMInitiatorActivityTimeoutFactor (×100 ms, 1..1000 [IEC 61158-6-10]): the default 30 s, or longer than the
 * gateway's idle release plus one call so the device never drops the AR first (gateway-config.ts bounds the sum).
 */
function arActivityFactor(arIdleMs: number, timeoutMs: number): number {
  return Math.min(1000, Math.max(300, Math.floor((arIdleMs + timeoutMs) / 100) + 10));
}
