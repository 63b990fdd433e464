/**
 * What both front doors do with a fresh TLS connection before any request is read: verify the peer as an
 * X.509-SVID, ask the runtime to admit it (locks, breaches, session limits), then open a Session whose whole
 * life is registered (registry, metrics, audit open/close) and bounded by the peer's SVID NotAfter.
 * A refused peer is audited with its reason code and the socket destroyed.
 */
import type tls from 'node:tls';
import type { AuditSink } from '../audit/audit-events.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { RuntimeGate, SessionPeer } from '../trust/runtime-gate.js';
import { Session, type SessionTransport } from './session.js';
import type { SessionRegistry } from './session-registry.js';

export type PeerCheck = { ok: true; peer: SessionPeer } | { ok: false; reason: string; detail: string };

export interface GatekeeperDeps {
  readonly verifyPeer: (socket: tls.TLSSocket) => PeerCheck;
  readonly tlsErrorReason: (err: Error, socket: tls.TLSSocket) => string;
  readonly gate: RuntimeGate;
  readonly sessions: SessionRegistry;
  readonly audit: AuditSink;
  readonly metrics: GatewayMetrics;
  readonly now: () => number;
  readonly logger?: { warn(o: object, m?: string): void } | undefined;
}

/** An extra transport-specific condition (e.g. gRPC needs ALPN h2); null = fine. */
export type ExtraCheck = (socket: tls.TLSSocket, peer: SessionPeer) => { reason: string; detail: string } | null;

export class SessionGatekeeper {
  constructor(private readonly transport: SessionTransport, private readonly deps: GatekeeperDeps) {}

  /** Verifies and admits; returns the live, registered session, or null when the peer was refused. */
  open(socket: tls.TLSSocket, remote: string, extra?: ExtraCheck): Session | null {
    socket.on('error', () => socket.destroy());
    const check = this.deps.verifyPeer(socket);
    if (!check.ok) return this.refuse(socket, remote, check.reason, check.detail);
    const more = extra?.(socket, check.peer);
    if (more) return this.refuse(socket, remote, more.reason, more.detail, check.peer.id);
    const now = this.deps.now();
    const admit = this.deps.gate.admit(check.peer, now);
    if (!admit.ok) return this.refuse(socket, remote, admit.reason, `identity ${check.peer.id} not admitted`, check.peer.id);
    const session = new Session(this.transport, check.peer, remote, now, () => socket.destroy());
    this.track(socket, session);
    return session;
  }

  /** For the listener's `tlsClientError`: OpenSSL refused the handshake (no cert, unknown CA, expired…). */
  handshakeFailed(err: Error, socket: tls.TLSSocket): void {
    this.rejected(`${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`, this.deps.tlsErrorReason(err, socket), err.message);
  }

  private track(socket: tls.TLSSocket, session: Session): void {
    const { sessions, metrics, audit } = this.deps;
    const peer = session.peer;
    sessions.add(session);
    metrics.sessions.inc({ transport: this.transport });
    audit.append({
      type: 'session.open', session: session.id, identity: peer.id, ...(peer.role ? { role: peer.role } : {}),
      peer: session.remote, transport: this.transport, svidNotAfter: peer.notAfter.toISOString(),
    });
    // A session never outlives the peer's SVID (ghostunnel's gap, REFERENCES §6). Certificate validity is
    // wall-clock time, as OpenSSL judged it at the handshake, hence Date.now() and not the injectable clock.
    const expiry = endAt(peer.notAfter.getTime(), () => session.end('svid-expired'));
    socket.once('close', () => {
      expiry.cancel();
      session.end(session.endReason ?? 'peer-closed');
      sessions.remove(session);
      metrics.sessions.dec({ transport: this.transport });
      audit.append({
        type: 'session.close', session: session.id, identity: peer.id, reason: session.endReason ?? 'peer-closed',
        requests: session.requests, durationMs: this.deps.now() - session.openedAt,
      });
    });
  }

  private refuse(socket: tls.TLSSocket, remote: string, code: string, detail: string, spiffeId?: string): null {
    this.rejected(remote, code, detail, spiffeId);
    socket.destroy();
    return null;
  }

  private rejected(peer: string, code: string, detail: string, spiffeId?: string): void {
    this.deps.metrics.handshakeRejections.inc({ reason: code });
    this.deps.audit.append({ type: 'handshake.rejected', peer, code, detail, ...(spiffeId ? { spiffeId } : {}) });
    this.deps.logger?.warn({ peer, code, detail, transport: this.transport }, 'client rejected');
  }
}

/** Node timers overflow above 2^31−1 ms (they fire at once): long lives are waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function endAt(at: number, fn: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = at - Date.now();
    timer = setTimeout(left > MAX_TIMER_MS ? arm : fn, Math.min(MAX_TIMER_MS, Math.max(0, left)));
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
