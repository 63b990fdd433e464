/**
 * The gRPC API listener (verigate.v1 Modbus + Admin, and Profinet when a record pipeline is given). TLS is terminated by OUR `tls.Server` with the same
 * SPIFFE mTLS options and rotation as Modbus/TCP Security, so every connection is verified as an X.509-SVID
 * (`verifyPeer`), admitted by the runtime (locks, breach, max sessions) and registered as a `Session` before
 * grpc-js sees a byte. The verified cleartext duplex is then injected into a grpc-js `Server` through a
 * connection injector with insecure credentials (TLS is already done). Killing the session destroys the
 * socket, which cancels every call on it.
 *
 * grpc-js 1.14: `createConnectionInjector()` builds its own http2 server with the service handlers installed
 * (server.js `createHttp2Server` → `_setupHandlers`); nothing needs binding, and `start()` is deprecated since
 * 1.10 (it throws for a server with no bound port), so it is not called.
 * Verification, admission and the session's registered life are shared with Modbus/TCP Security
 * (session-gatekeeper.ts).
 */
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { AuditSink } from '../audit/audit-events.js';
import type { Logger } from '../logger.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RuntimeGate } from '../trust/runtime-gate.js';
import { GatewayError } from '../errors.js';
import { MAX_RECORD_LENGTH } from '../../protocols/profinet/index.js';
import { adminService, type AdminServiceDeps } from './grpc-admin-service.js';
import type { ModbusCallDeps } from './grpc-modbus-call.js';
import { modbusService } from './grpc-modbus-service.js';
import { profinetService } from './grpc-profinet-service.js';
import { loadVerigateServices } from './grpc-proto.js';
import { GrpcSessionMap, peerKey } from './grpc-session-map.js';
import type { RecordPipeline, RecordPipelineRequest } from './record-pipeline.js';
import type { PipelineRequest } from './request-pipeline.js';
import {
  SessionGatekeeper,
  TCP_KEEPALIVE_IDLE_MS,
  type HandshakeBounds,
  type PeerCheck,
} from './session-gatekeeper.js';
import type { ServerTlsExtras } from '../identity/tls-options.js';
import { systemTimers, unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import type { SessionRegistry } from './session-registry.js';
import type { LiveChains } from './live-chains.js';
import type { Session } from './session.js';

export interface GrpcFrontDoorOptions {
  readonly identity: {
    serverTlsOptions(extras?: ServerTlsExtras): tls.TlsOptions;
    verifyPeer(socket: tls.TLSSocket): PeerCheck;
    tlsErrorReason(err: Error, socket?: tls.TLSSocket): string;
  };
  readonly router: {
    named(name: string): PipelineRequest['device'] | undefined;
    profinet?(name: string): RecordPipelineRequest['device'] | undefined;
  };
  /** The Modbus request pipeline; its `refused`/`failed` audit what the front door refuses or fails before it. */
  readonly pipeline: ModbusCallDeps['pipeline'];
  /** PROFINET record services (gateway.proto `Profinet`), routed by `router.profinet`; absent: not offered (UNIMPLEMENTED). */
  readonly recordPipeline?: Pick<RecordPipeline, 'handle'> & Partial<Pick<RecordPipeline, 'refused'>>;
  readonly trust: AdminServiceDeps['trust'] & RuntimeGate & { idleTimeoutMs(): number | null };
  readonly sessions: SessionRegistry;
  /** The live sessions' verified chains, shared with Modbus/TCP Security (live-chains.ts). */
  readonly chains: LiveChains<Session>;
  readonly policy: AdminServiceDeps['policy'];
  readonly audit: AuditSink;
  readonly metrics: GatewayMetrics;
  readonly now: () => number;
  /** Idle sweep, session SVID expiry and handshake deadlines (gateway/timers.ts); default systemTimers. */
  readonly timers?: Timers;
  readonly logger?: Logger;
  /** Handshake deadline and the pending-handshake budget shared with Modbus/TCP Security. */
  readonly handshake: HandshakeBounds;
  /** TLS session resumption on this listener (`listeners.grpc.sessionResumption`, default off; tls-options.ts). */
  readonly sessionResumption?: boolean;
  /** HTTP/2 keepalive (`listeners.grpc.keepalive`); default DEFAULT_KEEPALIVE. */
  readonly keepalive?: { readonly timeMs: number; readonly timeoutMs: number };
}

/** `listeners.grpc.keepalive` defaults: a vanished client is found within 80 s. */
const DEFAULT_KEEPALIVE = { timeMs: 60_000, timeoutMs: 20_000 } as const;

/** How often live gRPC sessions are checked against the policy's idle timeout. */
const IDLE_CHECK_MS = 1000;

/**
 * The largest request message taken: a WriteRecord of 65535 bytes (the codec's record length) plus its address
 * fields and a device name, with room to spare. grpc-js would take 4 MiB per message and buffers a message whole
 * before any handler (or policy) sees it: 64 streams x 4 MiB held per connection by any peer with an SVID of
 * the trust domain, rights or not. Larger messages end their stream RESOURCE_EXHAUSTED as soon as the 5-byte
 * gRPC message prefix announces them [gRPC over HTTP/2, "Length-Prefixed-Message"]; the session stays.
 */
export const MAX_REQUEST_BYTES = MAX_RECORD_LENGTH + 4096;

export class GrpcFrontDoor {
  private tlsServer: tls.Server | null = null;
  // Bounded concurrency per connection: one client cannot open thousands of calls or Watch pollers.
  // Channelz (on by default in grpc-js) keeps per-call counters, a tracker object per call and a registry of every
  // connection; the gateway serves no channelz service and exports its own metrics, so it is switched off.
  private readonly grpcServer: grpc.Server;
  private readonly injector: grpc.ConnectionInjector;
  private readonly live: GrpcSessionMap;
  private readonly gatekeeper: SessionGatekeeper;
  private idleTimer: TimerHandle | null = null;
  private readonly timers: Timers;

  constructor(private readonly opts: GrpcFrontDoorOptions) {
    this.timers = opts.timers ?? systemTimers;
    const keepalive = opts.keepalive ?? DEFAULT_KEEPALIVE;
    this.grpcServer = new grpc.Server({
      'grpc.max_concurrent_streams': 64,
      'grpc.max_receive_message_length': MAX_REQUEST_BYTES,
      'grpc.enable_channelz': 0,
      // A client that vanished without a FIN (power loss, NAT or firewall state dropped) leaves a half-open
      // connection whose Watch polls count as activity: it would hold its PLC share and session slot until its
      // SVID expires. grpc-js PINGs every connection of its session handler, injected ones included (server.js
      // `_setupHandlers`, installed on the injector's http2 server too), and destroys one whose ACK is late;
      // the socket's close then ends the session as peer-closed (session-gatekeeper.ts).
      'grpc.keepalive_time_ms': keepalive.timeMs,
      'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    });
    this.live = new GrpcSessionMap(opts.now);
    const services = loadVerigateServices();
    const sessionOf = this.live.lookup;
    this.grpcServer.addService(
      services.Modbus.service,
      modbusService({ sessionOf, router: opts.router, pipeline: opts.pipeline, now: opts.now, timers: this.timers }),
    );
    const { recordPipeline, router } = opts;
    if (recordPipeline) {
      this.grpcServer.addService(
        services.Profinet.service,
        profinetService({
          sessionOf,
          router: { profinet: (name) => router.profinet?.(name) },
          pipeline: recordPipeline,
          logger: opts.logger,
        }),
      );
    }
    this.grpcServer.addService(
      services.Admin.service,
      adminService({
        sessionOf,
        sessions: opts.sessions,
        trust: opts.trust,
        policy: opts.policy,
        now: opts.now,
        ...(opts.logger ? { logger: opts.logger } : {}),
      }),
    );
    this.injector = this.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const { identity, trust, sessions, chains, audit, metrics, now, logger, handshake } = opts;
    this.gatekeeper = new SessionGatekeeper('grpc', {
      verifyPeer: (socket) => identity.verifyPeer(socket),
      tlsErrorReason: (err, socket) => identity.tlsErrorReason(err, socket),
      gate: trust,
      sessions,
      chains,
      audit,
      metrics,
      now,
      logger,
      handshake,
      timers: this.timers,
    });
  }

  /** Binds host:port (0 = ephemeral) and resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const server = tls.createServer(this.tlsOptions());
    // Handshake deadline, pending-handshake caps, failed-closed SVID, and the audit of refused handshakes.
    this.gatekeeper.watch(server);
    server.on('secureConnection', (socket) => this.accept(socket));
    this.tlsServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) =>
        reject(new GatewayError('GW_ERR_LISTEN', `frontdoor: gRPC listener cannot bind ${host}:${port}`, { cause: e })),
      );
      server.listen(port, host, () => resolve());
    });
    this.idleTimer = unrefTimer(this.timers.setInterval(() => this.endIdle(), IDLE_CHECK_MS));
    return (server.address() as AddressInfo).port;
  }

  /** New handshakes present the rotated SVID and trust the new bundles; live sessions keep theirs. */
  updateCredentials(): void {
    this.tlsServer?.setSecureContext(this.tlsOptions());
  }

  async close(): Promise<void> {
    const server = this.tlsServer;
    this.tlsServer = null;
    if (this.idleTimer !== null) this.timers.clearTimeout(this.idleTimer);
    for (const s of [...this.live.all()]) s.end('gateway-shutdown');
    this.injector.destroy();
    this.grpcServer.forceShutdown();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private tlsOptions(): tls.TlsOptions {
    // gRPC is HTTP/2: without ALPN "h2" Node's http2 server would refuse the connection anyway.
    const extras = { handshakeTimeoutMs: this.opts.handshake.timeoutMs, resumption: this.opts.sessionResumption };
    return { ...this.opts.identity.serverTlsOptions(extras), ALPNProtocols: ['h2'] };
  }

  private accept(socket: tls.TLSSocket): void {
    const key = peerKey(socket);
    // gRPC is HTTP/2: a client that did not negotiate h2 cannot be served.
    const session = this.gatekeeper.open(socket, key, (s) =>
      s.alpnProtocol === 'h2'
        ? null
        : { reason: 'no-alpn-h2', detail: 'the client did not negotiate HTTP/2 (ALPN h2)' },
    );
    if (!session) return;
    socket.setKeepAlive(true, TCP_KEEPALIVE_IDLE_MS); // the kernel reaps it too, should the HTTP/2 PINGs not
    this.live.add(key, session);
    socket.once('close', () => this.live.delete(key, session));
    this.injector.injectConnection(socket);
  }

  /** Policy `session.idleTimeout` applies to gRPC sessions too; every call and poll counts as activity. */
  private endIdle(): void {
    const idle = this.opts.trust.idleTimeoutMs();
    if (!idle) return;
    const now = this.opts.now();
    for (const s of [...this.live.all()]) if (now - s.lastActivityAt >= idle) s.end('idle-timeout');
  }
}
