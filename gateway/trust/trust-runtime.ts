/**
 * The zero-trust runtime [docs/architecture.md "Request path" 7]: decides on every request, and acts on live
 * sessions with timers (grant and SVID expiry, re-validation) and events (locks, policy swaps, trust breaches). Hard
 * criteria first (lock store readable, locks, read-only state, rate, JIT grant), score last [NIST SP 800-207 3.3.1].
 */
import { mkdirSync } from 'node:fs';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { isMutating } from '../../protocols/modbus/classify.js';
import type { AuditSink } from '../audit/audit-events.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import type { BaselineOptions } from './behaviour-baseline.js';
import { GrantService, type Grant } from './grant-service.js';
import type { TrustState } from './identity-trust.js';
import { LockService, type Lock } from './lock-service.js';
import { RateLimiter } from './rate-limiter.js';
import type { GateReasonCode } from '../reasons.js';
import type {
  AdmitResult,
  GateResult,
  GateSession,
  GrantNeed,
  PolicyVerdict,
  RecordGate,
  RuntimeGate,
  SessionPeer,
  SessionView,
} from './runtime-gate.js';
import { systemTimers, unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import { TrustJudge } from './trust-judge.js';
import { endInvalidSessions, endLockedSessions, endRevokedSessions } from './session-sweeps.js';
import { loadTrustStores } from './trust-stores.js';
import { RequestNotes, contextOf } from './request-notes.js';

export interface TrustRuntimeOptions {
  readonly dir: string;
  readonly policy: () => CompiledPolicy;
  readonly sessions: SessionView;
  readonly audit: AuditSink;
  /** Housekeeping tick and, unless `now` is given, the clock (epoch ms). Default systemTimers (gateway/timers.ts). */
  readonly timers?: Timers;
  /** The clock of grants, locks and housekeeping; default `timers.now`. */
  readonly now?: () => number;
  readonly logger?: Logger;
  /** What to do when the lock store exists but cannot be read: refuse everything (default) or run without locks. */
  readonly lockStoreFailure?: 'fail-closed' | 'best-effort';
  readonly minBreachMs?: number;
  readonly baseline?: BaselineOptions;
  /** Period of the housekeeping tick (grant expiry, recovery, re-validation). Default 1000 ms; 0 = no timer. */
  readonly tickMs?: number;
}

const DEFAULT_REVALIDATE_MS = 5 * 60_000;

/**
 * How old this box's view of the fleet hub is (gateway/fleet/fleet-staleness.ts), as the gate needs it: set only
 * on a fleet member. `isStale(null)` judges against the gateway's default `fleet.maxStaleness`.
 */
export interface FleetFreshness {
  isStale(maxStalenessMs: number | null): boolean;
}

type JitNeed = NonNullable<NonNullable<PolicyVerdict['obligations']>['jit']>;
/** A JIT grant that covers a request, and what it vouches for. */
type Granted = { readonly grant: Grant; readonly sanctioned: GrantNeed | 'whole' };

type StrictNeed = NonNullable<NonNullable<PolicyVerdict['obligations']>['strict']>;

export class TrustRuntime implements RuntimeGate, RecordGate {
  readonly grants: GrantService;
  readonly locks: LockService;
  private readonly judge: TrustJudge;
  private readonly rates = new RateLimiter();
  private readonly notes = new RequestNotes();
  private readonly now: () => number;
  private readonly timers: Timers;
  private timer: TimerHandle | null = null;
  private lastRevalidation: number;
  /** Set on a fleet member only: without it `lockMode: strict` has no effect (staleness 0). */
  private freshness: FleetFreshness | null = null;

  private constructor(private readonly opts: TrustRuntimeOptions) {
    const timers = opts.timers ?? systemTimers;
    this.timers = timers;
    this.now = opts.now ?? (() => timers.now());
    mkdirSync(opts.dir, { recursive: true });
    this.grants = new GrantService(opts.dir, opts.policy, opts.audit, this.now);
    this.locks = new LockService(opts.dir, opts.audit, this.now);
    this.judge = new TrustJudge(opts);
    this.lastRevalidation = this.now();
  }

  /** Promise-shaped like every component's start (main.ts awaits it); the stores load synchronously today. */
  static open(opts: TrustRuntimeOptions): Promise<TrustRuntime> {
    const rt = new TrustRuntime(opts);
    loadTrustStores(rt.grants, rt.locks, opts.lockStoreFailure, opts.logger);
    const tick = opts.tickMs ?? 1000;
    if (tick > 0) {
      const housekeeping = (): void => {
        // housekeeping must never take the process down (e.g. a grant store that cannot be written)
        try {
          rt.tick();
        } catch (err) {
          opts.logger?.error({ err: errorMessage(err) }, 'trust: housekeeping failed');
        }
      };
      rt.timer = unrefTimer(rt.timers.setInterval(housekeeping, tick));
    }
    return Promise.resolve(rt);
  }

  admit(peer: SessionPeer, _now: number): AdmitResult {
    if (this.locks.unreadable) return refuseAdmit('lock-store-unavailable');
    const lock = this.locks.matching({ identity: peer.id, role: peer.role });
    if (lock) return refuseAdmit('locked', lock.id);
    if (this.judge.stateOf(peer.id) === 'ended') return refuseAdmit('trust-breach');
    const max = this.opts.policy().session.maxPerIdentity;
    if (max !== null && this.opts.sessions.countFor(peer.id) >= max) return refuseAdmit('too-many-sessions');
    return { ok: true };
  }

  check(session: GateSession, device: string, req: ClassifiedRequest, verdict: PolicyVerdict, now: number): GateResult {
    // Only what the JIT rule granted needs the grant (e.g. FC23's write half when another rule allows the read);
    // only that is vouched for (not, say, the read half another rule allowed).
    // the grant lookup is built only for a rule that asks for one (this runs for every request)
    const granted =
      verdict.obligations?.jit === undefined
        ? NO_GRANT
        : (jit: JitNeed): Granted | null => {
            const grant = this.grants.covering(session.peer.id, jit.ruleId, device, jit.scope ?? req);
            return grant ? { grant, sanctioned: jit.scope ?? 'whole' } : null;
          };
    return this.gate(session, device, req, isMutating(req), verdict, now, granted);
  }

  /** A PROFINET record service: the same gates; a JIT grant must name the record index (`table: 'records'`). */
  checkRecord(
    session: GateSession,
    device: string,
    req: RecordRequest,
    verdict: PolicyVerdict,
    now: number,
  ): GateResult {
    return this.gate(session, device, req, req.access === 'write', verdict, now, (jit) => {
      const grant = this.grants.coveringRecord(session.peer.id, jit.ruleId, device, req);
      return grant ? { grant, sanctioned: 'whole' } : null;
    });
  }

  /** Hard criteria in order: lock store, locks, fleet staleness (strict rules' writes), read-only downgrade, rate, JIT [NIST SP 800-207 3.3.1]. */
  private gate(
    session: GateSession,
    device: string,
    req: ClassifiedRequest | RecordRequest,
    mutating: boolean,
    verdict: PolicyVerdict,
    now: number,
    granted: (jit: JitNeed) => { grant: Grant; sanctioned: GrantNeed | 'whole' } | null,
  ): GateResult {
    const peer = session.peer;
    if (this.locks.unreadable) return deny('lock-store-unavailable');
    const lock = this.locks.matching({ identity: peer.id, role: peer.role, device });
    if (lock) {
      if (lock.target.kind !== 'device') session.end('locked');
      return deny('locked', lock.id);
    }
    // lockMode strict (docs/fleet.md): a write under a strict rule needs a fresh view of the hub's locks; reads go on
    const strict = verdict.obligations?.strict;
    const stale = strict && mutating ? this.staleStrictRule(strict) : null;
    if (stale !== null) return deny('fleet-stale', stale);
    const state = this.judge.stateOf(peer.id) ?? 'normal';
    // An `essential` allow goes on through a downgrade (operator control work, IEC 62443-3-3 SR 1.1 guidance);
    // locks (above), rate and JIT (below) still apply to it.
    if ((state !== 'normal' || session.readOnly) && mutating && verdict.essential !== true) {
      this.notes.refusedByDowngrade(req);
      return deny('trust-read-only');
    }
    // every granting rule's rate: one token of each bucket, or none (rate-limiter.ts)
    const emptyBucket = this.rates.charge(peer.id, verdict.obligations, now);
    if (emptyBucket !== null) return deny('rate-limited', emptyBucket);
    const jit = verdict.obligations?.jit;
    if (jit && this.grants.unreadable) return deny('grant-store-unavailable');
    if (jit) {
      const hit = granted(jit);
      if (!hit) return deny('jit-required', jit.ruleId);
      const grant = hit.grant;
      if (this.locks.matching({ identity: peer.id, role: peer.role, grantId: grant.id }))
        return deny('grant-locked', grant.id);
      this.notes.sanctioned(req, hit.sanctioned);
      return { effect: 'allow', grantId: grant.id };
    }
    return ALLOWED;
  }

  // observe/observeRecord run for every request: no closure, context or SVID record is built per call.
  observe(session: GateSession, device: string, req: ClassifiedRequest, denied: boolean, now: number): void {
    const t = this.judge.identityOf(session.peer.id);
    const note = this.notes.take(req);
    t.observe(req, device, denied && note !== 'trust-read-only', now, contextOf(note));
    this.judge.afterRequest(t, session.peer, now, device);
  }

  observeRecord(session: GateSession, device: string, req: RecordRequest, denied: boolean, now: number): void {
    const t = this.judge.identityOf(session.peer.id);
    const note = this.notes.take(req);
    t.observeRecord(req, device, denied && note !== 'trust-read-only', now, contextOf(note));
    this.judge.afterRequest(t, session.peer, now, device);
  }

  scores(): Record<string, number> {
    return this.judge.scores();
  }

  trustOf(identity: string): { score: number; state: TrustState } {
    return this.judge.trustOf(identity);
  }

  idleTimeoutMs(): number | null {
    return this.opts.policy().session.idleTimeoutMs;
  }

  /** Creates a lock and ends every live session it matches at once. */
  lock(target: Lock['target'], by: string, reason: string, expiresAt?: Date): ReturnType<LockService['create']> {
    const r = this.locks.create(target, by, reason, expiresAt);
    if (r.ok) endLockedSessions(this.opts.sessions, this.locks, this.grants, target);
    return r;
  }

  /** A lock made at the fleet hub (gateway/fleet/fleet-locks.ts): stored idempotently, enforced like `lock`. */
  applyFleetLock(lock: Lock): ReturnType<LockService['apply']> {
    const r = this.locks.apply(lock);
    if (r.ok && r.changed) endLockedSessions(this.opts.sessions, this.locks, this.grants, lock.target);
    return r;
  }

  /**
   * The strict rule whose limit the box's staleness exceeds, or null: past `maxStalenessMs`, or past the
   * gateway's default when a strict rule without its own limit granted a part too (the tighter one binds).
   */
  private staleStrictRule(strict: StrictNeed): string | null {
    const f = this.freshness;
    if (f === null) return null;
    if (f.isStale(strict.maxStalenessMs)) return strict.ruleId;
    if (strict.defaultRuleId !== undefined && f.isStale(null)) return strict.defaultRuleId;
    return null;
  }

  /** Makes `lockMode: strict` rules judge writes by the fleet staleness (a fleet member's composition calls it). */
  setFleetFreshness(freshness: FleetFreshness | null): void {
    this.freshness = freshness;
  }

  /** After a policy swap: identities that lost every rule lose their sessions; the rest meet it next request. */
  onPolicySwap(next: CompiledPolicy, previous: CompiledPolicy): number {
    return endRevokedSessions(this.opts.sessions, next, previous);
  }

  close(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  /** Housekeeping: grant expiry, breach recovery, periodic re-validation of long-lived sessions. */
  tick(): void {
    const now = this.now();
    this.grants.expire();
    this.locks.pruneExpired();
    this.judge.judgeDowngraded(now);
    const period = this.opts.policy().session.revalidateMs ?? DEFAULT_REVALIDATE_MS;
    if (now - this.lastRevalidation >= period) {
      this.lastRevalidation = now;
      this.revalidate(now);
    }
  }

  /** Re-checks every live session without re-parsing certificates: SVID validity and locks. */
  revalidate(now: number): number {
    return endInvalidSessions(this.opts.sessions, this.locks, now);
  }
}

/** The grant lookup of a request no JIT rule granted: never asked (gate() looks only when there is a `jit`). */
const NO_GRANT = (): null => null;

/** The usual answer of the gates, one object (results are read, never changed). */
const ALLOWED: GateResult = Object.freeze({ effect: 'allow' });

/** A gate's refusal as a value (runtime-gate.ts); `detail` names the lock, rule or grant when there is one. */
function deny(code: GateReasonCode, detail = ''): GateResult {
  return { effect: 'deny', code, detail };
}

function refuseAdmit(code: GateReasonCode, detail = ''): AdmitResult {
  return { ok: false, code, detail };
}
