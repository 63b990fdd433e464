/**
 * The SVID-expiry end of live sessions: a session never outlives its peer's SVID (ghostunnel never re-checks a
 * live connection) [X509-SVID 5]. One timer per distinct NotAfter instead of one per session: the sessions of
 * one client SVID (a poller reconnecting, an HMI with many connections) share its NotAfter, and a timer per
 * session cost each idle session a Timeout, a timer list of its own (every delay is unique to the millisecond)
 * and its closures. Certificate validity is wall-clock time, as OpenSSL judged it at the handshake: `timers` is
 * the epoch clock. Node timers overflow above 2^31−1 ms, so long lives are waited for in steps.
 */
import { MAX_TIMER_MS, unrefTimer, type TimerHandle, type Timers } from '../timers.js';

/** What expiry ends: a live session (frontdoor/session.ts). */
export interface Expiring {
  end(reason: string): void;
}

interface Due {
  readonly sessions: Set<Expiring>;
  /** undefined only between creation and `arm`. */
  timer: TimerHandle | undefined;
}

export class SessionExpiry {
  private readonly due = new Map<number, Due>();

  constructor(private readonly timers: Timers) {}

  /** Ends `session` with 'svid-expired' at epoch ms `notAfter`, unless removed first. */
  add(notAfter: number, session: Expiring): void {
    const known = this.due.get(notAfter);
    if (known !== undefined) {
      known.sessions.add(session);
      return;
    }
    const due: Due = { sessions: new Set([session]), timer: undefined };
    this.due.set(notAfter, due);
    this.arm(notAfter, due);
  }

  /** The session closed before its SVID expired; the last one out stops the timer. */
  remove(notAfter: number, session: Expiring): void {
    const due = this.due.get(notAfter);
    if (due === undefined || !due.sessions.delete(session) || due.sessions.size > 0) return;
    if (due.timer !== undefined) this.timers.clearTimeout(due.timer);
    this.due.delete(notAfter);
  }

  /** Distinct NotAfter instants with a timer armed (one per client SVID in use). */
  pending(): number {
    return this.due.size;
  }

  private arm(notAfter: number, due: Due): void {
    const left = notAfter - this.timers.now();
    const step = (): void => (left > MAX_TIMER_MS ? this.arm(notAfter, due) : this.fire(notAfter));
    due.timer = unrefTimer(this.timers.setTimeout(step, Math.min(MAX_TIMER_MS, Math.max(0, left))));
  }

  private fire(notAfter: number): void {
    const due = this.due.get(notAfter);
    if (due === undefined) return;
    this.due.delete(notAfter);
    for (const s of due.sessions) s.end('svid-expired');
  }
}
