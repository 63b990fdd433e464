/**
 * The trust runtime's actions on live sessions that no request of theirs triggers: a new lock, a policy swap,
 * the periodic re-validation. Each ends every session that no longer meets its terms at once instead of at its
 * next request [NIST SP 800-207 3.3.1: access is judged per session and re-judged while it lasts].
 */
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { GrantService } from './grant-service.js';
import type { Lock, LockService } from './lock-service.js';
import type { SessionView } from './runtime-gate.js';

/** Ends every live session a new lock matches (a grant lock: its requester's). Returns how many ended. */
export function endLockedSessions(
  sessions: SessionView,
  locks: Pick<LockService, 'matching'>,
  grants: Pick<GrantService, 'list'>,
  target: Lock['target'],
): number {
  const grantOwner = target.kind === 'grant' ? grants.list().find((g) => g.id === target.value)?.requester : undefined;
  return sessions.endMatching(
    (s) => s.peer.id === grantOwner || locks.matching({ identity: s.peer.id, role: s.peer.role }) !== null,
    'locked',
  );
}

/** After a policy swap: identities that lost every rule lose their sessions; the rest meet it next request. */
export function endRevokedSessions(sessions: SessionView, next: CompiledPolicy, previous: CompiledPolicy): number {
  const named = (p: CompiledPolicy, peer: { id: string; role: string | null }): boolean =>
    p.rules.some((r) => r.effect === 'allow' && r.matchesPrincipal(peer)) ||
    Object.values(p.admins).some((ps) => ps.some((x) => x.matches(peer.id)));
  return sessions.endMatching((s) => named(previous, s.peer) && !named(next, s.peer), 'policy-revoked');
}

/** Re-checks every live session without re-parsing certificates: SVID validity and locks. */
export function endInvalidSessions(sessions: SessionView, locks: Pick<LockService, 'matching'>, now: number): number {
  return sessions.endMatching(
    (s) => s.peer.notAfter.getTime() <= now || locks.matching({ identity: s.peer.id, role: s.peer.role }) !== null,
    'revalidation-failed',
  );
}
