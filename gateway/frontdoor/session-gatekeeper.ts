/**
 * What both front doors do with a connection before any request is read: bound the handshake in time and
 * count (handshake-guard.ts), verify the peer as an X.509-SVID, ask the runtime to admit it (locks, breaches,
 * session limits), then open a Session whose whole life is registered (registry, metrics, audit open/close)
 * and bounded by the peer's SVID NotAfter and by its chain still verifying when the trust bundles change
 * (live-chains.ts). A refused peer is audited as `handshake.rejected` with its reason
 * code, its address captured at TCP accept and, when it presented one, its certificate's claimed SPIFFE ID and
 * fingerprint — and the socket is destroyed.
 */
import type { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import type { AuditSink } from '../audit/audit-events.js';
import type { Logger } from '../logger.js';
import type { PeerCheck } from '../identity/peer-check.js';
import { releasePeerChain } from '../identity/peer-chain.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import { systemTimers, type Timers } from '../timers.js';
import type { RuntimeGate, SessionPeer } from '../trust/runtime-gate.js';
import { HandshakeGuard, type HandshakeTimers } from './handshake-guard.js';
import type { HandshakeSlots } from './handshake-slots.js';
import { peerLeaf, presentedCertificate } from './presented-certificate.js';
import { Session, type SessionTransport } from './session.js';
import { SessionExpiry } from './session-expiry.js';
import type { SessionRegistry } from './session-registry.js';
import type { LiveChains } from './live-chains.js';

/**
 * TCP keepalive on every admitted session's socket (both front doors set it at accept) [RFC 1122 4.2.3.6]: after
 * this much silence the kernel probes the peer and resets a connection whose peer is gone (power loss, cable
 * pulled), so a half-open session ends as peer-closed even when the policy sets no `session.idleTimeout`.
 */
export const TCP_KEEPALIVE_IDLE_MS = 60_000;

/** The identity side's verdict on the client's SVID chain (defined in identity/peer-check.ts). */
export type { PeerCheck };

export interface GatekeeperDeps {
  readonly verifyPeer: (socket: tls.TLSSocket) => PeerCheck;
  readonly tlsErrorReason: (err: Error, socket: tls.TLSSocket) => string;
  readonly gate: RuntimeGate;
  readonly sessions: SessionRegistry;
  /** The verified chains of live sessions, shared by both front doors: judged again when the bundles change. */
  readonly chains: LiveChains<Session>;
  readonly audit: AuditSink;
  readonly metrics: GatewayMetrics;
  readonly now: () => number;
  /**
   * Arms the SVID-expiry end of each session (its clock must be wall-clock epoch ms, as NotAfter is) and, unless
   * `handshake.timers` is given, the handshake deadlines. Default systemTimers (gateway/timers.ts).
   */
  readonly timers?: Timers;
  readonly logger?: Logger | undefined;
  readonly handshake: HandshakeBounds;
}

/** Pre-handshake bounds of one listener; `slots` is the budget shared by all TLS listeners. */
export interface HandshakeBounds {
  readonly slots: HandshakeSlots;
  readonly timeoutMs: number;
  readonly timers?: HandshakeTimers;
  /** false while the gateway's own SVID is failed closed. */
  readonly identityAvailable?: () => boolean;
}

interface Rejection {
  readonly peer: string;
  readonly code: string;
  readonly detail: string;
  /** The presented leaf, when there was one. */
  readonly leaf?: X509Certificate | null;
  /** The SPIFFE ID once verified (admission refusals); otherwise the leaf's claim is reported as unverified. */
  readonly verifiedId?: string;
}

/** An extra transport-specific condition (e.g. gRPC needs ALPN h2); null = fine. */
export type ExtraCheck = (socket: tls.TLSSocket, peer: SessionPeer) => { reason: string; detail: string } | null;

export class SessionGatekeeper {
  private readonly guard: HandshakeGuard;
  private readonly timers: Timers;
  private readonly expiry: SessionExpiry;

  constructor(
    private readonly transport: SessionTransport,
    private readonly deps: GatekeeperDeps,
  ) {
    const pending = deps.metrics.pendingHandshakes;
    this.timers = deps.timers ?? systemTimers;
    this.expiry = new SessionExpiry(this.timers);
    this.guard = new HandshakeGuard({
      ...deps.handshake,
      timers: deps.handshake.timers ?? this.timers,
      refused: (r) => this.rejected({ peer: r.peer.remote, code: r.code, detail: r.detail, leaf: r.leaf }),
      pendingChanged: (delta) => pending.inc({ transport }, delta),
    });
  }

  /** Installs the pre-handshake guard and the audit of failed handshakes on a listener (before listen()). */
  watch(server: tls.Server): void {
    this.guard.attach(server);
    // Handshake failures: no client certificate, unknown CA, expired… never reach the protocol layer.
    server.on('tlsClientError', (err, socket) => this.handshakeFailed(err, socket));
  }

  /**
   * Verifies and admits; returns the live, registered session, or null when the peer was refused. `remote`
   * defaults to the address captured at TCP accept (a TLS socket would ask the kernel again).
   */
  open(socket: tls.TLSSocket, remote?: string, extra?: ExtraCheck): Session | null {
    socket.on('error', () => socket.destroy());
    const peer = this.guard.settle(socket);
    if (peer === null) return null; // over its deadline, or our SVID failed closed
    try {
      return this.admit(socket, remote ?? peer.remote, extra);
    } finally {
      releasePeerChain(socket); // decided: the parsed chain is not read again
    }
  }

  private admit(socket: tls.TLSSocket, remote: string, extra: ExtraCheck | undefined): Session | null {
    const check = this.deps.verifyPeer(socket);
    if (!check.ok)
      return this.refuse(socket, { peer: remote, code: check.reason, detail: check.detail, leaf: peerLeaf(socket) });
    // Evidence for a refusal only: an admitted peer's certificate is not read again (verification may have
    // needed no more than the leaf's DER, identity/tls-options.ts).
    const verified = () => ({ leaf: peerLeaf(socket), verifiedId: check.peer.id });
    const more = extra?.(socket, check.peer);
    if (more) return this.refuse(socket, { peer: remote, code: more.reason, detail: more.detail, ...verified() });
    const now = this.deps.now();
    const admit = this.deps.gate.admit(check.peer, now);
    if (!admit.ok)
      return this.refuse(socket, {
        peer: remote,
        code: admit.code,
        detail: `identity ${check.peer.id} not admitted${admit.detail === '' ? '' : ` (${admit.detail})`}`,
        ...verified(),
      });
    const session = new Session(this.transport, check.peer, remote, now, () => socket.destroy());
    this.track(socket, session, check.chain);
    return session;
  }

  /** The listener's `tlsClientError`: OpenSSL refused the handshake (no cert, unknown CA, version, …). */
  private handshakeFailed(err: Error, socket: tls.TLSSocket): void {
    // With a 'tlsClientError' listener Node leaves the socket open (e.g. on its handshake timeout): close it.
    socket.destroy();
    const conn = this.guard.failed(socket);
    if (conn === null) return; // the guard refused this connection itself and has reported it
    this.rejected({
      peer: conn.peer.remote,
      code: this.deps.tlsErrorReason(err, socket),
      detail: tlsErrorDetail(err, socket),
    });
  }

  private track(socket: tls.TLSSocket, session: Session, chain: readonly X509Certificate[]): void {
    const { sessions, chains, metrics, audit } = this.deps;
    const peer = session.peer;
    sessions.add(session);
    metrics.sessions.inc({ transport: this.transport });
    audit.append({
      type: 'session.open',
      session: session.id,
      identity: peer.id,
      ...(peer.role ? { role: peer.role } : {}),
      peer: session.remote,
      transport: this.transport,
      svidNotAfter: peer.notAfter.toISOString(),
    });
    // A session never outlives the peer's SVID (session-expiry.ts): one timer per distinct NotAfter.
    const notAfter = peer.notAfter.getTime();
    this.expiry.add(notAfter, session);
    // ...nor a trust bundle its chain no longer verifies under (live-chains.ts): one entry per distinct leaf.
    chains.add(peer.fingerprint256, chain, session);
    socket.once('close', () => {
      this.expiry.remove(notAfter, session);
      chains.remove(peer.fingerprint256, session);
      session.end(session.endReason ?? 'peer-closed');
      sessions.remove(session);
      metrics.sessions.dec({ transport: this.transport });
      audit.append({
        type: 'session.close',
        session: session.id,
        identity: peer.id,
        reason: session.endReason ?? 'peer-closed',
        requests: session.requests,
        durationMs: this.deps.now() - session.openedAt,
      });
    });
  }

  private refuse(socket: tls.TLSSocket, r: Rejection): null {
    socket.destroy();
    this.rejected(r);
    return null;
  }

  private rejected(r: Rejection): void {
    const { peer, code, detail } = r;
    const cert = presentedCertificate(r.leaf);
    const spiffeId = r.verifiedId ?? cert?.spiffeId;
    const evidence = {
      ...(spiffeId ? { spiffeId, idVerified: r.verifiedId !== undefined } : {}),
      ...(cert ? { fingerprint: cert.fingerprint } : {}),
    };
    this.deps.metrics.handshakeRejections.inc({ reason: code });
    this.deps.audit.append({ type: 'handshake.rejected', peer, code, detail, transport: this.transport, ...evidence });
    this.deps.logger?.warn({ peer, code, detail, transport: this.transport, ...evidence }, 'client rejected');
  }
}

/** Short and specific: OpenSSL's verify code for a refused chain (the error itself only says "socket hang up"). */
function tlsErrorDetail(err: Error, socket: tls.TLSSocket): string {
  const authz = socket.authorizationError as unknown;
  if (typeof authz === 'string' && authz !== '') return `certificate verify failed: ${authz}`;
  const { code, reason } = err as { code?: unknown; reason?: unknown };
  if (typeof code === 'string' && typeof reason === 'string') return `${code}: ${reason}`;
  return err.message;
}
