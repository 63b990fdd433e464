/**
 * All live sessions, so the runtime can act on them: list for `verigate sessions list`, end the ones a lock,
 * kill, policy reload or trust breach matches [IEC 62443-3-3 SR 2.6 remote session termination], and count
 * per identity for concurrent-session control [SR 2.7].
 */
import { EventEmitter } from 'node:events';
import type { Session, SessionSnapshot } from './session.js';

/**
 * `added` / `removed` after the registry changed: what an observer (a test, a future admin stream) waits on
 * instead of polling `get`/`countFor`. Listeners run synchronously inside the gatekeeper: they must not throw.
 */
interface SessionRegistryEvents {
  added: [session: Session];
  removed: [session: Session];
}

export class SessionRegistry extends EventEmitter<SessionRegistryEvents> {
  private readonly sessions = new Map<string, Session>();

  add(session: Session): void {
    this.sessions.set(session.id, session);
    this.emit('added', session);
  }

  remove(session: Session): void {
    if (this.sessions.delete(session.id)) this.emit('removed', session);
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  get size(): number {
    return this.sessions.size;
  }

  countFor(identity: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.peer.id === identity) n++;
    return n;
  }

  list(): SessionSnapshot[] {
    return [...this.sessions.values()].map((s) => s.snapshot());
  }

  /** Ends every session the predicate matches; returns how many. */
  endMatching(predicate: (s: Session) => boolean, reason: string): number {
    let n = 0;
    for (const s of [...this.sessions.values()]) {
      if (s.isOpen && predicate(s)) {
        s.end(reason);
        n++;
      }
    }
    return n;
  }

  all(): IterableIterator<Session> {
    return this.sessions.values();
  }
}
