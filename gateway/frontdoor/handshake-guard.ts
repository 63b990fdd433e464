/**
 * Everything before a TLS handshake completes is bounded in time and count [IEC 62443-3-3 SR 7.1]:
 *  - an ABSOLUTE deadline per connection, armed on the raw TCP socket at 'connection'. Node's own
 *    `handshakeTimeout` is an idle timer (socket.setTimeout): one ClientHello byte every 2 s re-arms it forever,
 *    and with a 'tlsClientError' listener installed Node does not even destroy the socket when it fires.
 *  - a slot in the shared pending-handshake budget (handshake-slots.ts), globally and per source address;
 *    over the cap the connection is destroyed at once;
 *  - no handshake starts or completes while the gateway's own SVID is failed closed: an expired certificate is
 *    never offered as our identity [X509-SVID 5].
 * Each refusal is reported once, with the peer address captured at 'connection' (a destroyed socket no longer
 * knows it) and, when the client presented one, its leaf certificate.
 *
 * How a TLS socket is tied back to its raw connection: tls.Server wraps the raw socket in a TLSSocket inside
 * its own 'connection' listener and keeps the raw socket as `tlsSocket._parent` (Node 20 _tls_wrap.js,
 * TLSSocket._init). The TLS options leave the client's chain to the SPIFFE verifier (identity/tls-options.ts),
 * so every presented certificate reaches 'secureConnection', where the gatekeeper reads it as evidence when it
 * refuses; the guard itself reads one only for a handshake that completes while our SVID is failed closed.
 */
import type { X509Certificate } from 'node:crypto';
import type net from 'node:net';
import type tls from 'node:tls';
import { systemTimers, unrefTimer, type Timers } from '../timers.js';
import { peerLeafCertificate } from '../identity/peer-chain.js';
import type { HandshakeSlots } from './handshake-slots.js';

export type GuardRefusalCode = 'handshake-timeout' | 'handshake-capacity' | 'gateway-identity-unavailable';

/** The part of the gateway's time seam (gateway/timers.ts) the deadlines use; tests drive it without sleeping. */
export type HandshakeTimers = Pick<Timers, 'setTimeout' | 'clearTimeout'>;

/** Where a connection came from, captured at TCP accept. */
export interface PeerAddress {
  readonly address: string;
  readonly port: number;
  /** `address:port`, the form audit events use. */
  readonly remote: string;
  /** What the per-source cap counts: the IPv4 address, or the /64 of an IPv6 address (one host's subnet). */
  readonly source: string;
}

export interface GuardRefusal {
  readonly peer: PeerAddress;
  readonly code: GuardRefusalCode;
  readonly detail: string;
  readonly leaf: X509Certificate | null;
}

export interface HandshakeGuardOptions {
  readonly slots: HandshakeSlots;
  readonly timeoutMs: number;
  readonly timers?: HandshakeTimers;
  /** false while the gateway's own SVID is failed closed. */
  readonly identityAvailable?: () => boolean;
  /** Called once per connection the guard refuses (audit, metric, log live with the caller). */
  readonly refused: (r: GuardRefusal) => void;
  /** +1 when a handshake starts pending, −1 when it stops (for a gauge). */
  readonly pendingChanged?: (delta: 1 | -1) => void;
}

interface Entry {
  readonly peer: PeerAddress;
  timer: unknown;
  /** The slot was taken and has not been given back yet. */
  holding: boolean;
  /** A refusal or failure was reported for this connection: later errors on it are echoes. */
  reported: boolean;
}

export class HandshakeGuard {
  private readonly entries = new WeakMap<net.Socket, Entry>();
  private readonly timers: HandshakeTimers;

  constructor(private readonly opts: HandshakeGuardOptions) {
    this.timers = opts.timers ?? systemTimers;
  }

  /** Installs the guard on a listener; call before `listen()`. */
  attach(server: tls.Server): void {
    server.on('connection', (raw: net.Socket) => this.onConnection(raw));
  }

  /**
   * For 'secureConnection': the handshake completed in time; stops the deadline and frees the slot.
   * Returns the captured peer, or null when the connection was refused (already reported and destroyed).
   */
  settle(socket: tls.TLSSocket): PeerAddress | null {
    const entry = this.entryOf(socket);
    if (!entry) return peerOf(socket);
    if (entry.reported) {
      socket.destroy();
      return null;
    }
    this.release(entry);
    // The SVID may have failed closed while this handshake was in flight: do not serve it.
    if (this.opts.identityAvailable?.() === false) {
      this.refuse(entry, socket, 'gateway-identity-unavailable', IDENTITY_DETAIL, peerLeafCertificate(socket));
      return null;
    }
    return entry.peer;
  }

  /**
   * For 'tlsClientError': the connection's captured peer, or null when the guard already reported this
   * connection (its own destroy makes Node emit an ECONNRESET echo). A failed handshake presented no certificate
   * anyone verified: the TLS options leave every certificate verdict to 'secureConnection'.
   */
  failed(socket: tls.TLSSocket): { peer: PeerAddress } | null {
    const entry = this.entryOf(socket);
    if (!entry) return { peer: peerOf(socket) };
    if (entry.reported) return null;
    entry.reported = true;
    this.release(entry);
    return { peer: entry.peer };
  }

  private onConnection(raw: net.Socket): void {
    const peer = peerOf(raw);
    const entry: Entry = { peer, timer: null, holding: false, reported: false };
    this.entries.set(raw, entry);
    if (this.opts.identityAvailable?.() === false)
      return this.refuse(entry, raw, 'gateway-identity-unavailable', IDENTITY_DETAIL);
    const slot = this.opts.slots.tryAcquire(peer.source);
    if (!slot.ok) {
      const { maxPending, maxPendingPerSource } = this.opts.slots.limits;
      const detail =
        slot.cap === 'global'
          ? `${maxPending} handshakes already pending (listeners.maxPendingHandshakes)`
          : `${maxPendingPerSource} handshakes already pending from ${peer.source} (listeners.maxPendingHandshakesPerSource)`;
      return this.refuse(entry, raw, 'handshake-capacity', detail);
    }
    entry.holding = true;
    this.opts.pendingChanged?.(1);
    const deadline = this.timers.setTimeout(() => {
      entry.timer = null;
      this.refuse(entry, raw, 'handshake-timeout', `no completed TLS handshake within ${this.opts.timeoutMs} ms`);
    }, this.opts.timeoutMs);
    entry.timer = unrefTimer(deadline); // the socket, not its deadline, keeps the process alive
    raw.once('close', () => this.release(entry));
  }

  private refuse(
    entry: Entry,
    socket: net.Socket,
    code: GuardRefusalCode,
    detail: string,
    leaf: X509Certificate | null = null,
  ): void {
    if (entry.reported) return;
    entry.reported = true;
    this.release(entry);
    socket.destroy();
    this.opts.refused({ peer: entry.peer, code, detail, leaf });
  }

  private release(entry: Entry): void {
    if (entry.timer !== null) {
      this.timers.clearTimeout(entry.timer);
      entry.timer = null;
    }
    if (!entry.holding) return;
    entry.holding = false;
    this.opts.slots.release(entry.peer.source);
    this.opts.pendingChanged?.(-1);
  }

  private entryOf(socket: tls.TLSSocket | net.Socket): Entry | undefined {
    const direct = this.entries.get(socket);
    if (direct) return direct;
    const parent = (socket as { _parent?: unknown })._parent;
    return parent && typeof parent === 'object' ? this.entries.get(parent as net.Socket) : undefined;
  }
}

const IDENTITY_DETAIL =
  'the gateway SVID is failed closed (expired, Workload API unreachable): no TLS identity is offered';

function peerOf(socket: net.Socket): PeerAddress {
  // IPv4-mapped IPv6 (dual-stack listener) counts as the IPv4 source it is.
  const raw = socket.remoteAddress ?? '?';
  const address = raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
  const port = socket.remotePort ?? 0;
  return { address, port, remote: `${address}:${port}`, source: sourceKey(address) };
}

/**
 * A single IPv6 host usually holds a whole /64 and can pick any address in it, so a per-address cap would not
 * bind; the /64 is the source. IPv4 addresses count as themselves.
 */
export function sourceKey(address: string): string {
  if (!address.includes(':')) return address;
  const [head = '', tail = ''] = address.split('%')[0]?.split('::') ?? [];
  const left = head === '' ? [] : head.split(':');
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = address.includes('::')
    ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right]
    : left;
  if (groups.length !== 8) return address; // not plain IPv6 (e.g. an embedded IPv4 tail): count it as is
  return `${groups
    .slice(0, 4)
    .map((g) => (g.replace(/^0+(?=.)/, '') || '0').toLowerCase())
    .join(':')}::/64`;
}
