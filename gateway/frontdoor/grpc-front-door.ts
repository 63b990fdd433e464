/**
 * The gRPC API listener (verigate.v1 Modbus + Admin). TLS is terminated by OUR `tls.Server` with the same
 * SPIFFE mTLS options and rotation as Modbus/TCP Security, so every connection is verified as an X.509-SVID
 * (`verifyPeer`), admitted by the runtime (locks, breach, max sessions) and registered as a `Session` before
 * grpc-js sees a byte. The verified cleartext duplex is then injected into a grpc-js `Server` through a
 * connection injector with insecure credentials (TLS is already done). Killing the session destroys the
 * socket, which cancels every call on it.
 *
 * grpc-js 1.14: `createConnectionInjector()` builds its own http2 server with the service handlers installed
 * (server.js `createHttp2Server` → `_setupHandlers`); nothing needs binding, and `start()` is deprecated since
 * 1.10 (it throws for a server with no bound port), so it is not called.
 * What mbaps-listener.ts does on accept is duplicated here in small form (it has no shared helper to reuse).
 */
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { AuditSink } from '../audit/audit-events.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { SessionPeer } from '../trust/runtime-gate.js';
import { GatewayError } from '../errors.js';
import { adminService, type AdminServiceDeps } from './grpc-admin-service.js';
import { modbusService } from './grpc-modbus-service.js';
import { loadVerigateServices } from './grpc-proto.js';
import { GrpcSessionMap, peerKey } from './grpc-session-map.js';
import type { PeerCheck } from './mbaps-listener.js';
import type { PipelineRequest, PipelineResult } from './request-pipeline.js';
import { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

export interface GrpcFrontDoorOptions {
  readonly identity: {
    serverTlsOptions(handshakeTimeoutMs?: number): tls.TlsOptions;
    verifyPeer(socket: tls.TLSSocket): PeerCheck;
    tlsErrorReason(err: Error): string;
  };
  readonly router: { named(name: string): PipelineRequest['device'] | undefined };
  readonly pipeline: { handle(req: PipelineRequest): Promise<PipelineResult> };
  readonly trust: AdminServiceDeps['trust'] & {
    admit(peer: SessionPeer, now: number): { ok: true } | { ok: false; reason: string };
    idleTimeoutMs(): number | null;
  };
  readonly sessions: SessionRegistry;
  readonly policy: AdminServiceDeps['policy'];
  readonly audit: AuditSink;
  readonly metrics: GatewayMetrics;
  readonly now: () => number;
  readonly logger?: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

/** How often live gRPC sessions are checked against the policy's idle timeout. */
const IDLE_CHECK_MS = 1000;

export class GrpcFrontDoor {
  private tlsServer: tls.Server | null = null;
  private readonly grpcServer = new grpc.Server();
  private readonly injector: grpc.ConnectionInjector;
  private readonly live: GrpcSessionMap;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: GrpcFrontDoorOptions) {
    this.live = new GrpcSessionMap(opts.now);
    const services = loadVerigateServices();
    const sessionOf = this.live.lookup;
    this.grpcServer.addService(services.Modbus.service, modbusService({ sessionOf, router: opts.router, pipeline: opts.pipeline, now: opts.now }));
    this.grpcServer.addService(services.Admin.service, adminService({
      sessionOf, sessions: opts.sessions, trust: opts.trust, policy: opts.policy, now: opts.now, ...(opts.logger ? { logger: opts.logger } : {}),
    }));
    this.injector = this.grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  }

  /** Binds host:port (0 = ephemeral) and resolves with the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const server = tls.createServer(this.tlsOptions());
    server.on('secureConnection', (socket) => this.accept(socket));
    server.on('tlsClientError', (err, socket) =>
      this.rejected(peerKey(socket), this.opts.identity.tlsErrorReason(err), err.message));
    this.tlsServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new GatewayError('GW_ERR_LISTEN', `frontdoor: gRPC listener cannot bind ${host}:${port}`, { cause: e })));
      server.listen(port, host, () => resolve());
    });
    this.idleTimer = setInterval(() => this.endIdle(), IDLE_CHECK_MS);
    this.idleTimer.unref();
    return (server.address() as AddressInfo).port;
  }

  /** New handshakes present the rotated SVID and trust the new bundles; live sessions keep theirs. */
  updateCredentials(): void {
    this.tlsServer?.setSecureContext(this.tlsOptions());
  }

  async close(): Promise<void> {
    const server = this.tlsServer;
    this.tlsServer = null;
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const s of [...this.live.all()]) s.end('gateway-shutdown');
    this.injector.destroy();
    this.grpcServer.forceShutdown();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private tlsOptions(): tls.TlsOptions {
    // gRPC is HTTP/2: without ALPN "h2" Node's http2 server would refuse the connection anyway.
    return { ...this.opts.identity.serverTlsOptions(), ALPNProtocols: ['h2'] };
  }

  private accept(socket: tls.TLSSocket): void {
    const key = peerKey(socket);
    socket.on('error', () => socket.destroy());
    const check = this.opts.identity.verifyPeer(socket);
    if (!check.ok) return this.refuse(socket, key, check.reason, check.detail);
    if (socket.alpnProtocol !== 'h2') return this.refuse(socket, key, 'no-alpn-h2', 'the client did not negotiate HTTP/2 (ALPN h2)', check.peer.id);
    const now = this.opts.now();
    const admit = this.opts.trust.admit(check.peer, now);
    if (!admit.ok) return this.refuse(socket, key, admit.reason, `identity ${check.peer.id} not admitted`, check.peer.id);
    const session = new Session('grpc', check.peer, key, now, () => socket.destroy());
    this.track(socket, key, session);
    this.injector.injectConnection(socket);
  }

  private track(socket: tls.TLSSocket, key: string, session: Session): void {
    const { sessions, metrics, audit } = this.opts;
    const peer = session.peer;
    this.live.add(key, session);
    sessions.add(session);
    metrics.sessions.inc({ transport: 'grpc' });
    audit.append({
      type: 'session.open', session: session.id, identity: peer.id, ...(peer.role ? { role: peer.role } : {}),
      peer: key, transport: 'grpc', svidNotAfter: peer.notAfter.toISOString(),
    });
    // A session never outlives the peer's SVID (REFERENCES §6).
    const expiry = setTimeout(() => session.end('svid-expired'), Math.max(0, peer.notAfter.getTime() - this.opts.now()));
    expiry.unref();
    socket.once('close', () => {
      clearTimeout(expiry);
      session.end(session.endReason ?? 'peer-closed');
      this.live.delete(key, session);
      sessions.remove(session);
      metrics.sessions.dec({ transport: 'grpc' });
      audit.append({
        type: 'session.close', session: session.id, identity: peer.id, reason: session.endReason ?? 'peer-closed',
        requests: session.requests, durationMs: this.opts.now() - session.openedAt,
      });
    });
  }

  /** Policy `session.idleTimeout` applies to gRPC sessions too; every call and poll counts as activity. */
  private endIdle(): void {
    const idle = this.opts.trust.idleTimeoutMs();
    if (!idle) return;
    const now = this.opts.now();
    for (const s of [...this.live.all()]) if (now - s.lastActivityAt >= idle) s.end('idle-timeout');
  }

  private refuse(socket: tls.TLSSocket, peer: string, code: string, detail: string, spiffeId?: string): void {
    this.rejected(peer, code, detail, spiffeId);
    socket.destroy();
  }

  private rejected(peer: string, code: string, detail: string, spiffeId?: string): void {
    this.opts.metrics.handshakeRejections.inc({ reason: code });
    this.opts.audit.append({ type: 'handshake.rejected', peer, code, detail, ...(spiffeId ? { spiffeId } : {}) });
    this.opts.logger?.warn({ peer, code, detail, transport: 'grpc' }, 'client rejected');
  }
}
