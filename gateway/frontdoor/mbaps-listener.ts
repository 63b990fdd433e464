/**
 * Modbus/TCP Security front door [MB-TCP-SEC]: TLS on port 802 (configurable), client certificate required,
 * the peer verified as an X.509-SVID before any Modbus byte is read. Like aedes, the listener only accepts and
 * hands each verified duplex to a connection object; the connection owns framing and per-request work.
 * Rotation: `updateSecureContext()` swaps the certificate for new handshakes; live sessions are untouched.
 * Before the handshake completes every connection is bounded in time and count (handshake-guard.ts).
 * Policy `session.idleTimeout` applies to live sessions too: `followIdleTimeout()` (called on every policy swap
 * by the composition root) re-applies it when a reload changed it.
 */
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { GatewayError } from '../errors.js';
import { MbapsConnection, type RouteLookup } from './mbaps-connection.js';
import type { RequestPipeline } from './request-pipeline.js';
import { SessionGatekeeper, TCP_KEEPALIVE_IDLE_MS, type GatekeeperDeps } from './session-gatekeeper.js';

export interface MbapsListenerOptions extends GatekeeperDeps {
  readonly host: string;
  readonly port: number;
  readonly tlsOptions: () => tls.TlsOptions;
  readonly routes: RouteLookup;
  readonly pipeline: RequestPipeline;
  readonly maxInFlightPerSession: number;
  /** Current idle timeout (re-read by `followIdleTimeout()` after policy reloads); null = none. */
  readonly idleTimeoutMs?: () => number | null;
}

export class MbapsListener {
  private server: tls.Server | null = null;
  private readonly connections = new Set<MbapsConnection>();
  private readonly gatekeeper: SessionGatekeeper;
  /** The idle timeout the live connections have (what `idleTimeoutMs()` said when last applied). */
  private idleMs: number | null;

  constructor(private readonly opts: MbapsListenerOptions) {
    this.gatekeeper = new SessionGatekeeper('mbaps', opts);
    this.idleMs = opts.idleTimeoutMs?.() ?? null;
  }

  async listen(): Promise<AddressInfo> {
    const server = tls.createServer(this.opts.tlsOptions());
    // Handshake deadline, pending-handshake caps, failed-closed SVID, and the audit of refused handshakes.
    this.gatekeeper.watch(server);
    server.on('secureConnection', (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new GatewayError(
            'GW_ERR_LISTEN',
            `frontdoor: Modbus/TCP Security cannot listen on ${this.opts.host}:${this.opts.port} (${err.code ?? err.message})${err.code === 'EACCES' ? ': port 802 needs CAP_NET_BIND_SERVICE' : ''}`,
            { cause: err },
          ),
        ),
      );
      server.listen(this.opts.port, this.opts.host, () => resolve());
    });
    return server.address() as AddressInfo;
  }

  /** New handshakes present the new SVID; established sessions keep theirs [docs/architecture.md "Request path" 1]. */
  updateSecureContext(): void {
    this.server?.setSecureContext(this.opts.tlsOptions());
  }

  /**
   * After a policy swap: a changed `session.idleTimeout` is applied to every live session at once (its countdown
   * restarts from now), new sessions get it at accept. Unchanged, nothing is re-armed, so frequent reloads do
   * not keep idle sessions alive.
   */
  followIdleTimeout(): void {
    const idle = this.opts.idleTimeoutMs?.() ?? null;
    if (idle === this.idleMs) return;
    this.idleMs = idle;
    for (const c of this.connections) c.setIdleTimeout(idle);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const c of this.connections) c.session.end('gateway-shutdown');
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: tls.TLSSocket): void {
    const session = this.gatekeeper.open(socket);
    if (!session) return;
    socket.setKeepAlive(true, TCP_KEEPALIVE_IDLE_MS); // the kernel reaps it should the client vanish silently
    this.followIdleTimeout(); // the current value, should a swap have gone unannounced
    const conn = new MbapsConnection(socket, session, {
      routes: this.opts.routes,
      pipeline: this.opts.pipeline,
      maxInFlight: this.opts.maxInFlightPerSession,
    });
    this.connections.add(conn);
    conn.onClose(() => this.connections.delete(conn));
    if (this.idleMs !== null) conn.setIdleTimeout(this.idleMs);
  }
}
