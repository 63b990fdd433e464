/**
 * The budget of connections that have not finished their TLS handshake, globally and per source address — a
 * counting semaphore like ghostunnel's, shared by both TLS listeners because the resource it protects (file
 * descriptors, memory for half-open TLS state) belongs to the process. Without it about a thousand idle or
 * slow-drip connections (the systemd default fd limit) lock every new client out [IEC 62443-3-3 SR 7.1].
 * A slot is taken at the raw TCP 'connection' and given back once, when the handshake completes or the socket
 * closes. Pure bookkeeping: no sockets, no timers.
 */

export interface PendingHandshakeLimits {
  /** Connections still handshaking, all sources together. */
  readonly maxPending: number;
  /** Connections still handshaking from one source address. */
  readonly maxPendingPerSource: number;
}

export type SlotRefusal = 'global' | 'per-source';

export class HandshakeSlots {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(readonly limits: PendingHandshakeLimits) {}

  /** Takes a slot for `source`, or says which cap is full (nothing is taken then). */
  tryAcquire(source: string): { ok: true } | { ok: false; cap: SlotRefusal } {
    if (this.total >= this.limits.maxPending) return { ok: false, cap: 'global' };
    const mine = this.bySource.get(source) ?? 0;
    if (mine >= this.limits.maxPendingPerSource) return { ok: false, cap: 'per-source' };
    this.total++;
    this.bySource.set(source, mine + 1);
    return { ok: true };
  }

  /** Gives back a slot taken by `tryAcquire`; the caller guarantees once per acquired slot. */
  release(source: string): void {
    const mine = this.bySource.get(source) ?? 0;
    if (mine <= 1) this.bySource.delete(source);
    else this.bySource.set(source, mine - 1);
    if (mine > 0) this.total--;
  }

  pending(): number {
    return this.total;
  }

  pendingFrom(source: string): number {
    return this.bySource.get(source) ?? 0;
  }

  /** Distinct sources with a pending handshake (bounded by maxPending: entries at zero are removed). */
  sources(): number {
    return this.bySource.size;
  }
}
