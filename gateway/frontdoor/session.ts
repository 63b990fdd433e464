/**
 * One authenticated client session (an mbaps TLS connection, or a gRPC peer). It carries the verified
 * identity and the live state the zero-trust runtime acts on: read-only downgrade, counters, and an
 * `end()` that closes the transport at once (locks, kills, SVID expiry, terminate-on-breach).
 */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { GateSession, SessionPeer } from '../trust/runtime-gate.js';

export type { SessionPeer };

export type SessionTransport = 'mbaps' | 'grpc';

export interface SessionSnapshot {
  readonly id: string;
  readonly transport: SessionTransport;
  readonly peer: { id: string; role: string | null; notAfter: string };
  readonly remote: string;
  readonly openedAt: string;
  readonly lastActivityAt: string;
  readonly requests: number;
  readonly denied: number;
  readonly writes: number;
  readonly readOnly: boolean;
  readonly devices: Record<string, number>;
}

export class Session implements GateSession {
  readonly id = randomUUID();
  readonly openedAt: number;
  lastActivityAt: number;
  requests = 0;
  denied = 0;
  writes = 0;
  readonly deviceUse = new Map<string, number>();
  private ended: string | null = null;
  private restricted = false;
  private readonly aborter = new AbortController();
  private readonly onEnd: (reason: string) => void;

  constructor(
    readonly transport: SessionTransport,
    readonly peer: SessionPeer,
    readonly remote: string,
    now: number,
    onEnd: (reason: string) => void,
  ) {
    this.openedAt = now;
    this.lastActivityAt = now;
    this.onEnd = onEnd;
    // one abort listener per queued upstream request; bounded by the session's in-flight limit (≤ 64)
    setMaxListeners(128, this.aborter.signal);
  }

  get endReason(): string | null {
    return this.ended;
  }

  /** Aborted when the session ends: queued upstream requests are dropped, never sent. */
  get signal(): AbortSignal {
    return this.aborter.signal;
  }

  get isOpen(): boolean {
    return this.ended === null;
  }

  /** Writes are refused (the trust runtime's read-only downgrade) unless a rule is essential. */
  get readOnly(): boolean {
    return this.restricted;
  }

  /** The trust runtime's verdict on this identity: read-only while its score breaches with `onBreach: read-only`. */
  setReadOnly(readOnly: boolean): void {
    this.restricted = readOnly;
  }

  noteRequest(device: string | null, isWrite: boolean, denied: boolean, now: number): void {
    this.requests++;
    this.lastActivityAt = now;
    if (isWrite) this.writes++;
    if (denied) this.denied++;
    if (device) this.deviceUse.set(device, (this.deviceUse.get(device) ?? 0) + 1);
  }

  /** Ends the session once; the transport's close handler does the rest. */
  end(reason: string): void {
    if (this.ended !== null) return;
    this.ended = reason;
    // the end reason as the signal's reason: abort() without one builds a DOMException (and its stack) per session
    this.aborter.abort(reason);
    this.onEnd(reason);
  }

  snapshot(): SessionSnapshot {
    return {
      id: this.id,
      transport: this.transport,
      peer: { id: this.peer.id, role: this.peer.role, notAfter: this.peer.notAfter.toISOString() },
      remote: this.remote,
      openedAt: new Date(this.openedAt).toISOString(),
      lastActivityAt: new Date(this.lastActivityAt).toISOString(),
      requests: this.requests,
      denied: this.denied,
      writes: this.writes,
      readOnly: this.readOnly,
      devices: Object.fromEntries(this.deviceUse),
    };
  }
}
