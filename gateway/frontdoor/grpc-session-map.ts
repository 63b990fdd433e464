/**
 * Which verified session a gRPC call belongs to. grpc-js reports a call's peer as `remoteAddress:remotePort`
 * of the socket it arrived on (server-interceptors.js `getPeer`); the front door registers each verified TLS
 * socket under the same key, so a call without a live verified session cannot be served.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { grpcError } from './grpc-status.js';
import type { Session } from './session.js';

export type SessionLookupResult =
  { readonly ok: true; readonly session: Session } | { readonly ok: false; readonly error: ServiceError };
export type CallSessionLookup = (call: { getPeer(): string }) => SessionLookupResult;

/** The key grpc-js gives `getPeer()` for a socket. */
export function peerKey(socket: { remoteAddress?: string | undefined; remotePort?: number | undefined }): string {
  return socket.remotePort ? `${socket.remoteAddress ?? ''}:${socket.remotePort}` : (socket.remoteAddress ?? 'unknown');
}

export class GrpcSessionMap {
  private readonly byPeer = new Map<string, Session>();

  constructor(private readonly now: () => number) {}

  add(key: string, session: Session): void {
    this.byPeer.set(key, session);
  }

  delete(key: string, session: Session): void {
    if (this.byPeer.get(key) === session) this.byPeer.delete(key);
  }

  all(): IterableIterator<Session> {
    return this.byPeer.values();
  }

  /** The call's session, touched as activity (idle timeout); UNAUTHENTICATED when there is none. */
  readonly lookup: CallSessionLookup = (call) => {
    const session = this.byPeer.get(call.getPeer());
    if (!session?.isOpen)
      return { ok: false, error: grpcError(status.UNAUTHENTICATED, 'no verified session for this connection') };
    session.lastActivityAt = this.now();
    return { ok: true, session };
  };
}
