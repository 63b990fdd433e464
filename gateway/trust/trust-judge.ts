/**
 * The score side of the trust runtime (trust-runtime.ts): one IdentityTrust per identity, judged after every
 * request it makes and on the housekeeping tick. A change of state is audited (`trust.changed`), logged and
 * acted on at once: the identity's sessions go read-only or back, or end [NIST SP 800-207 3.3.1].
 */
import type { AuditSink } from '../audit/audit-events.js';
import type { Logger } from '../logger.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { DEFAULT_BASELINE, type BaselineOptions } from './behaviour-baseline.js';
import { IdentityTrust, type TrustConfig, type TrustState } from './identity-trust.js';
import type { SessionPeer, SessionView } from './runtime-gate.js';
import { resolveWeights } from './trust-score.js';

/** The SVID's validity as the score reads it (epoch ms). */
type SvidSpan = { readonly notBefore: number | null; readonly notAfter: number };

export interface TrustJudgeOptions {
  readonly policy: () => CompiledPolicy;
  readonly sessions: SessionView;
  readonly audit: AuditSink;
  readonly logger?: Logger;
  readonly minBreachMs?: number;
  readonly baseline?: BaselineOptions;
}

export class TrustJudge {
  private readonly identities = new Map<string, IdentityTrust>();
  private readonly configs = new WeakMap<CompiledPolicy, TrustConfig>();
  private readonly svids = new WeakMap<SessionPeer, SvidSpan>();

  constructor(private readonly opts: TrustJudgeOptions) {}

  /** The identity's state, or undefined before its first request. */
  stateOf(identity: string): TrustState | undefined {
    return this.identities.get(identity)?.state;
  }

  /** The identity's trust record, made on its first request. */
  identityOf(id: string): IdentityTrust {
    let t = this.identities.get(id);
    if (!t) {
      t = new IdentityTrust(id, this.opts.baseline ?? DEFAULT_BASELINE);
      this.identities.set(id, t);
    }
    return t;
  }

  scores(): Record<string, number> {
    return Object.fromEntries([...this.identities].map(([id, t]) => [id, round(t.score)]));
  }

  trustOf(identity: string): { score: number; state: TrustState } {
    const t = this.identities.get(identity);
    return { score: t?.score ?? 1, state: t?.state ?? 'normal' };
  }

  /** The housekeeping tick: identities out of `normal` may recover (or end) with no request of theirs. */
  judgeDowngraded(now: number): void {
    for (const t of this.identities.values()) if (t.state !== 'normal') this.judge(t, null, now);
  }

  /** After each request of `peer` (whose trust record `t` has observed it). */
  afterRequest(t: IdentityTrust, peer: SessionPeer, now: number, device: string): void {
    this.judge(t, this.svidOf(peer), now, device, peer);
  }

  /** Scores `t` and acts on a change of state (`svid` null on the tick: no SVID-expiry signal). */
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

  /** The SVID's validity as the score reads it, once per peer (a session's peer never changes). */
  private svidOf(peer: SessionPeer): SvidSpan {
    let span = this.svids.get(peer);
    if (span === undefined) {
      span = { notBefore: peer.notBefore?.getTime() ?? null, notAfter: peer.notAfter.getTime() };
      this.svids.set(peer, span);
    }
    return span;
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
