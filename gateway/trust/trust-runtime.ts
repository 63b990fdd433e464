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
import { DEFAULT_BASELINE, NO_CONTEXT, type BaselineOptions, type ObserveContext } from './behaviour-baseline.js';
import { GrantService, type Grant } from './grant-service.js';
import { IdentityTrust, type TrustConfig, type TrustState } from './identity-trust.js';
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
import { resolveWeights } from './trust-score.js';

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
/** What check() learned about a request that observe() needs: a JIT grant covered it, or the downgrade refused it. */
type Note = { readonly sanctioned: GrantNeed | 'whole' } | 'trust-read-only';
/** A JIT grant that covers a request, and what it vouches for. */
type Granted = { readonly grant: Grant; readonly sanctioned: GrantNeed | 'whole' };
type SvidSpan = { readonly notBefore: number | null; readonly notAfter: number };

const SANCTIONED_WHOLE: ObserveContext = Object.freeze({ sanctioned: true });

/**
 * A refusal by the downgrade itself is not evidence of probing (it would keep the breach alive by itself); a
 * request a JIT grant covered is not evidence for the writes and novelty signals (an approver vouched).
 */
function contextOf(note: Note | undefined): ObserveContext {
  if (typeof note !== 'object') return NO_CONTEXT;
  return note.sanctioned === 'whole' ? SANCTIONED_WHOLE : { sanctioned: true, scope: note.sanctioned };
}
type StrictNeed = NonNullable<NonNullable<PolicyVerdict['obligations']>['strict']>;

export class TrustRuntime implements RuntimeGate, RecordGate {
  readonly grants: GrantService;
  readonly locks: LockService;
  private readonly identities = new Map<string, IdentityTrust>();
  private readonly rates = new RateLimiter();
  /**
   * What check() knew about a request that observe() must know too (same request object, so a WeakMap: no
   * per-request key, nothing left behind): a JIT grant covered it, or the read-only downgrade itself refused it.
   */
  private readonly configs = new WeakMap<CompiledPolicy, TrustConfig>();
  private readonly notes = new WeakMap<ClassifiedRequest | RecordRequest, Note>();
  private readonly svids = new WeakMap<SessionPeer, SvidSpan>();
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
    this.lastRevalidation = this.now();
  }

  /** Promise-shaped like every component's start (main.ts awaits it); the stores load synchronously today. */
  static open(opts: TrustRuntimeOptions): Promise<TrustRuntime> {
    const rt = new TrustRuntime(opts);
    const grantErr = rt.grants.load();
    if (grantErr)
      opts.logger?.error({ err: grantErr }, 'JIT grant store unreadable: no grant is honoured until it is repaired');
    const lockErr = rt.locks.load();
    if (lockErr && opts.lockStoreFailure === 'best-effort') {
      // Keep the unreadable file for the investigation; new locks start a fresh store.
      const aside = rt.locks.setAside();
      opts.logger?.error(
        { err: lockErr, keptAs: aside },
        'lock store unreadable: running WITHOUT locks (best-effort mode)',
      );
    } else if (lockErr) {
      opts.logger?.error(
        { err: lockErr },
        'lock store unreadable: failing closed, every session and request is refused',
      );
    }
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
    if (this.identities.get(peer.id)?.state === 'ended') return refuseAdmit('trust-breach');
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
    const state = this.identities.get(peer.id)?.state ?? 'normal';
    // An `essential` allow goes on through a downgrade (operator control work, IEC 62443-3-3 SR 1.1 guidance);
    // locks (above), rate and JIT (below) still apply to it.
    if ((state !== 'normal' || session.readOnly) && mutating && verdict.essential !== true) {
      this.notes.set(req, 'trust-read-only');
      return deny('trust-read-only');
    }
    const rate = verdict.obligations?.rate;
    if (rate && !this.rates.take(`${peer.id}|${rate.ruleId}`, rate.perSecond, now))
      return deny('rate-limited', rate.ruleId);
    const jit = verdict.obligations?.jit;
    if (jit && this.grants.unreadable) return deny('grant-store-unavailable');
    if (jit) {
      const hit = granted(jit);
      if (!hit) return deny('jit-required', jit.ruleId);
      const grant = hit.grant;
      if (this.locks.matching({ identity: peer.id, role: peer.role, grantId: grant.id }))
        return deny('grant-locked', grant.id);
      this.notes.set(req, { sanctioned: hit.sanctioned });
      return { effect: 'allow', grantId: grant.id };
    }
    return ALLOWED;
  }

  // observe/observeRecord run for every request: no closure, context or SVID record is built per call.
  observe(session: GateSession, device: string, req: ClassifiedRequest, denied: boolean, now: number): void {
    const t = this.identityOf(session.peer.id);
    const note = this.takeNote(req);
    t.observe(req, device, denied && note !== 'trust-read-only', now, contextOf(note));
    this.judge(t, this.svidOf(session.peer), now, device, session.peer);
  }

  observeRecord(session: GateSession, device: string, req: RecordRequest, denied: boolean, now: number): void {
    const t = this.identityOf(session.peer.id);
    const note = this.takeNote(req);
    t.observeRecord(req, device, denied && note !== 'trust-read-only', now, contextOf(note));
    this.judge(t, this.svidOf(session.peer), now, device, session.peer);
  }

  private identityOf(id: string): IdentityTrust {
    let t = this.identities.get(id);
    if (!t) {
      t = new IdentityTrust(id, this.opts.baseline ?? DEFAULT_BASELINE);
      this.identities.set(id, t);
    }
    return t;
  }

  /** What check() noted about this request object (and forgets it). */
  private takeNote(req: ClassifiedRequest | RecordRequest): Note | undefined {
    const note = this.notes.get(req);
    if (note !== undefined) this.notes.delete(req);
    return note;
  }

  /** The SVID's validity as the score reads it, once per peer (a session's peer never changes). */
  private svidOf(peer: SessionPeer): SvidSpan {
    let span = this.svids.get(peer);
    if (span === undefined) {
      span = { notBefore: peer.notBefore?.getTime() ?? null, notAfter: peer.notAfter.getTime() };
      this.svids.set(peer, span);
    }
    return span;
  }

  scores(): Record<string, number> {
    return Object.fromEntries([...this.identities].map(([id, t]) => [id, Math.round(t.score * 1000) / 1000]));
  }

  trustOf(identity: string): { score: number; state: TrustState } {
    const t = this.identities.get(identity);
    return { score: t?.score ?? 1, state: t?.state ?? 'normal' };
  }

  idleTimeoutMs(): number | null {
    return this.opts.policy().session.idleTimeoutMs;
  }

  /** Creates a lock and ends every live session it matches at once. */
  lock(target: Lock['target'], by: string, reason: string, expiresAt?: Date): ReturnType<LockService['create']> {
    const r = this.locks.create(target, by, reason, expiresAt);
    if (r.ok) this.endLocked(target);
    return r;
  }

  /** A lock made at the fleet hub (gateway/fleet/fleet-locks.ts): stored idempotently, enforced like `lock`. */
  applyFleetLock(lock: Lock): ReturnType<LockService['apply']> {
    const r = this.locks.apply(lock);
    if (r.ok && r.changed) this.endLocked(lock.target);
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

  /** Ends every live session a new lock matches at once (a grant lock: its requester's). */
  private endLocked(target: Lock['target']): void {
    const grantOwner =
      target.kind === 'grant' ? this.grants.list().find((g) => g.id === target.value)?.requester : undefined;
    this.opts.sessions.endMatching(
      (s) => s.peer.id === grantOwner || this.locks.matching({ identity: s.peer.id, role: s.peer.role }) !== null,
      'locked',
    );
  }

  /** After a policy swap: identities that lost every rule lose their sessions; the rest meet it next request. */
  onPolicySwap(next: CompiledPolicy, previous: CompiledPolicy): number {
    const named = (p: CompiledPolicy, peer: { id: string; role: string | null }): boolean =>
      p.rules.some((r) => r.effect === 'allow' && r.matchesPrincipal(peer)) ||
      Object.values(p.admins).some((ps) => ps.some((x) => x.matches(peer.id)));
    return this.opts.sessions.endMatching((s) => named(previous, s.peer) && !named(next, s.peer), 'policy-revoked');
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
    for (const t of this.identities.values()) if (t.state !== 'normal') this.judge(t, null, now);
    const period = this.opts.policy().session.revalidateMs ?? DEFAULT_REVALIDATE_MS;
    if (now - this.lastRevalidation >= period) {
      this.lastRevalidation = now;
      this.revalidate(now);
    }
  }

  /** Re-checks every live session without re-parsing certificates: SVID validity and locks. */
  revalidate(now: number): number {
    return this.opts.sessions.endMatching(
      (s) =>
        s.peer.notAfter.getTime() <= now || this.locks.matching({ identity: s.peer.id, role: s.peer.role }) !== null,
      'revalidation-failed',
    );
  }

  private judge(t: IdentityTrust, svid: SvidSpan | null, now: number, device?: string, peer?: SessionPeer): void {
    const before = t.score;
    const cfg = this.config();
    const keepsEssential = peer !== undefined && cfg.onBreach === 'terminate' && this.holdsEssential(peer);
    const changed = t.evaluate(cfg, svid, now, device, keepsEssential);
    if (changed === null) return;
    const reasons = t.reasons(now);
    if (keepsEssential && changed === 'read-only') reasons.push('essential-rules: terminate→read-only');
    this.opts.audit.append({
      type: 'trust.changed',
      identity: t.identity,
      from: round(before),
      to: round(t.score),
      state: changed,
      reasons,
    });
    this.opts.logger?.warn({ identity: t.identity, score: t.score, state: changed }, 'trust state changed');
    for (const s of this.opts.sessions.all()) if (s.peer.id === t.identity) s.setReadOnly(changed === 'read-only');
    if (changed === 'ended') this.opts.sessions.endMatching((s) => s.peer.id === t.identity, 'trust-breach');
  }

  /** Does an enforced `essential` allow rule name this peer? Then a breach must not end its sessions. */
  private holdsEssential(peer: SessionPeer): boolean {
    return this.opts
      .policy()
      .rules.some((r) => r.essential && r.effect === 'allow' && r.mode === 'enforce' && r.matchesPrincipal(peer));
  }

  /** The trust configuration of the enforced policy, built once per policy object (a reload swaps the object). */
  private config(): TrustConfig {
    const policy = this.opts.policy();
    let cfg = this.configs.get(policy);
    if (cfg === undefined) {
      cfg = this.buildConfig(policy);
      this.configs.set(policy, cfg);
    }
    return cfg;
  }

  private buildConfig(policy: CompiledPolicy): TrustConfig {
    const trust = policy.trust;
    return {
      threshold: trust?.threshold ?? 0.85,
      onBreach: trust?.onBreach ?? 'read-only',
      weights: resolveWeights(trust?.weights),
      minBreachMs: this.opts.minBreachMs ?? 60_000,
      baseline: this.opts.baseline ?? DEFAULT_BASELINE,
    };
  }
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

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
