/**
 * Modbus/TCP Security front door [MB-TCP-SEC]: TLS on port 802 (configurable), client certificate required,
 * the peer verified as an X.509-SVID before any Modbus byte is read. Like aedes, the listener only accepts and
 * hands each verified duplex to a connection object; the connection owns framing and per-request work.
 * Rotation: `updateSecureContext()` swaps the certificate for new handshakes; live sessions are untouched.
 */
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import type { AuditSink } from '../audit/audit-events.js';
import { GatewayError } from '../errors.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RuntimeGate, SessionPeer } from '../trust/runtime-gate.js';
import { MbapsConnection, type RouteLookup } from './mbaps-connection.js';
import type { RequestPipeline } from './request-pipeline.js';
import { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';

export type PeerCheck = { ok: true; peer: SessionPeer } | { ok: false; reason: string; detail: string };

export interface MbapsListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly tlsOptions: () => tls.TlsOptions;
  readonly verifyPeer: (socket: tls.TLSSocket) => PeerCheck;
  readonly tlsErrorReason: (err: Error, socket: tls.TLSSocket) => string;
  readonly routes: RouteLookup;
  readonly pipeline: RequestPipeline;
  readonly gate: RuntimeGate;
  readonly sessions: SessionRegistry;
  readonly audit: AuditSink;
  readonly metrics: GatewayMetrics;
  readonly now: () => number;
  readonly maxInFlightPerSession: number;
  /** Current idle timeout (follows policy reloads); null = none. */
  readonly idleTimeoutMs?: () => number | null;
  readonly logger?: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
}

export class MbapsListener {
  private server: tls.Server | null = null;
  private readonly connections = new Set<MbapsConnection>();

  constructor(private readonly opts: MbapsListenerOptions) {}

  async listen(): Promise<AddressInfo> {
    const server = tls.createServer(this.opts.tlsOptions());
    server.on('secureConnection', (socket) => this.accept(socket));
    // Handshake failures: no client certificate, unknown CA, expired... OpenSSL already sent a fatal alert.
    server.on('tlsClientError', (err, socket) => this.rejected(socket.remoteAddress ?? '?', this.opts.tlsErrorReason(err, socket), err.message));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new GatewayError('GW_ERR_LISTEN', `frontdoor: Modbus/TCP Security cannot listen on ${this.opts.host}:${this.opts.port} (${err.code ?? err.message})${err.code === 'EACCES' ? ': port 802 needs CAP_NET_BIND_SERVICE' : ''}`, { cause: err })));
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  /** New handshakes present the new SVID; established sessions keep theirs [REFERENCES §2]. */
  updateSecureContext(): void {
    this.server?.setSecureContext(this.opts.tlsOptions());
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.connections) c.session.end('gateway-shutdown');
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: tls.TLSSocket): void {
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const check = this.opts.verifyPeer(socket);
    if (!check.ok) {
      this.rejected(remote, check.reason, check.detail);
      socket.destroy();
      return;
    }
    const now = this.opts.now();
    const admit = this.opts.gate.admit(check.peer, now);
    if (!admit.ok) {
      this.rejected(remote, admit.reason, `identity ${check.peer.id} not admitted`, check.peer.id);
      socket.destroy();
      return;
    }
    const session = new Session('mbaps', check.peer, remote, now, () => socket.destroy());
    const conn = new MbapsConnection(socket, session, {
      routes: this.opts.routes,
      pipeline: this.opts.pipeline,
      maxInFlight: this.opts.maxInFlightPerSession,
      audit: this.opts.audit,
    });
    this.track(conn, check.peer);
  }

  private track(conn: MbapsConnection, peer: SessionPeer): void {
    const { session } = conn;
    const { sessions, metrics, audit } = this.opts;
    sessions.add(session);
    this.connections.add(conn);
    metrics.sessions.inc({ transport: 'mbaps' });
    audit.append({
      type: 'session.open',
      session: session.id,
      identity: peer.id,
      ...(peer.role ? { role: peer.role } : {}),
      peer: session.remote,
      transport: 'mbaps',
      svidNotAfter: peer.notAfter.toISOString(),
    });
    // A session never outlives the peer's SVID (ghostunnel's gap, REFERENCES §6). Certificate validity is
    // wall-clock time, as OpenSSL judged it at the handshake, hence Date.now() and not the injectable clock.
    const expiry = setTimeout(() => session.end('svid-expired'), Math.max(0, peer.notAfter.getTime() - Date.now()));
    expiry.unref();
    const idle = this.opts.idleTimeoutMs?.();
    if (idle) conn.setIdleTimeout(idle);
    conn.onClose(() => {
      clearTimeout(expiry);
      session.end(session.endReason ?? 'peer-closed');
      sessions.remove(session);
      this.connections.delete(conn);
      metrics.sessions.dec({ transport: 'mbaps' });
      audit.append({
        type: 'session.close',
        session: session.id,
        identity: peer.id,
        reason: session.endReason ?? 'peer-closed',
        requests: session.requests,
        durationMs: this.opts.now() - session.openedAt,
      });
    });
  }

  private rejected(peer: string, code: string, detail: string, spiffeId?: string): void {
    this.opts.metrics.handshakeRejections.inc({ reason: code });
    this.opts.audit.append({ type: 'handshake.rejected', peer, code, detail, ...(spiffeId ? { spiffeId } : {}) });
    this.opts.logger?.warn({ peer, code, detail }, 'client rejected');
  }
}
