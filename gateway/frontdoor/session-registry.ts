/**
 * All live sessions, so the runtime can act on them: list for `verigate sessions list`, end the ones a lock,
 * kill, policy reload or trust breach matches [IEC 62443-3-3 SR 2.6 remote session termination], and count
 * per identity for concurrent-session control [SR 2.7].
 */
import type { Session, SessionSnapshot } from './session.js';

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();

  add(session: Session): void {
    this.sessions.set(session.id, session);
  }

  remove(session: Session): void {
    this.sessions.delete(session.id);
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
