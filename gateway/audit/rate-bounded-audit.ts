/**
 * Composition of the audit sink the front doors and the request pipeline write to [IEC 62443-3-3 SR 2.9,
 * SR 7.1]: the AuditThrottle in front of the AuditLog, told which identities the current policy grants
 * nothing, and a DenialFloodGuard whose hold-off is a lock on the identity with an expiry.
 *
 * Why a lock (and not a separate hold-off list in the trust runtime): a lock already does everything a
 * hold-off must — it ends the identity's live sessions at once, refuses its new ones at admission, survives a
 * restart, is visible in `verigate locks` (an operator can lift it early) and is audited (`lock.created` by
 * `verigate`, reason `denial-flood`, with `expiresAt`; `lock.removed` when it runs out).
 */
import type { Registry } from 'prom-client';
import type { Counter } from 'prom-client';
import type { Logger } from '../logger.js';
import type { Timers } from '../timers.js';
import type { AuditEventInput, WriteResult } from './audit-events.js';
import { createFloodMetric } from './audit-metrics.js';
import { AuditThrottle, type ThrottleOptions } from './audit-throttle.js';
import { DenialFloodGuard, type DenialFloodOptions, type HoldOff } from './denial-flood-guard.js';

/** The policy as seen here: allow rules and admin operations, each able to say whom it names. */
export interface RightsView {
  readonly rules: readonly {
    readonly effect: string;
    matchesPrincipal(peer: { id: string; role: string | null }): boolean;
  }[];
  readonly admins: Readonly<Record<string, readonly { matches(id: string): boolean }[]>>;
}

export interface RateBoundedAuditDeps {
  readonly log: {
    append(e: AuditEventInput): WriteResult;
    healthy(): boolean;
    reserveReached(): boolean;
    committed(seq: number | null): Promise<boolean>;
  };
  readonly now: () => number;
  readonly throttle: ThrottleOptions;
  readonly denialFlood: DenialFloodOptions;
  readonly policy: () => RightsView;
  readonly lock: (
    target: { kind: 'identity'; value: string },
    by: string,
    reason: string,
    expiresAt: Date,
  ) => { ok: true } | { ok: false; message: string };
  /** Prunes expired locks (so repeat floods do not pile them up); `TrustRuntime.locks.list`. */
  readonly pruneLocks?: () => void;
  /** Fallback when the lock cannot be created (store unreadable): end the identity's sessions directly. */
  readonly endSessions: (identity: string, reason: string) => void;
  /** The throttle's periodic summary check (gateway/timers.ts; default systemTimers). */
  readonly timers?: Timers;
  readonly registry?: Registry;
  readonly logger?: Logger;
}

export interface RateBoundedAudit {
  readonly throttle: AuditThrottle;
  readonly flood: DenialFloodGuard;
}

/** Does the policy grant this peer anything (an allow rule or an admin operation)? Same test as policy swaps. */
export function grantsAnything(p: RightsView, peer: { id: string; role: string | null }): boolean {
  return (
    p.rules.some((r) => r.effect === 'allow' && r.matchesPrincipal(peer)) ||
    Object.values(p.admins).some((ps) => ps.some((x) => x.matches(peer.id)))
  );
}

export function startRateBoundedAudit(deps: RateBoundedAuditDeps): RateBoundedAudit {
  const holdOffs: Counter | null = deps.registry === undefined ? null : createFloodMetric(deps.registry);
  const flood = new DenialFloodGuard(deps.denialFlood, (h: HoldOff) => {
    holdOffs?.inc();
    deps.logger?.warn(
      { identity: h.identity, holdMs: h.holdMs, strike: h.strike },
      'denial flood: identity disconnected and held off [IEC 62443-3-3 SR 7.1]',
    );
    deps.pruneLocks?.();
    const r = deps.lock({ kind: 'identity', value: h.identity }, 'verigate', 'denial-flood', new Date(h.until));
    if (r.ok) return;
    deps.logger?.error(
      { identity: h.identity, err: r.message },
      'denial flood: lock failed; ending the sessions without a hold-off',
    );
    deps.endSessions(h.identity, 'denial-flood');
  });
  const throttle = new AuditThrottle({
    log: deps.log,
    now: deps.now,
    options: deps.throttle,
    zeroRight: (id, role) => !grantsAnything(deps.policy(), { id, role }),
    onDenial: (id, at) => void flood.observe(id, at),
    ...(deps.timers ? { timers: deps.timers } : {}),
    ...(deps.registry ? { registry: deps.registry } : {}),
  }).start();
  return { throttle, flood };
}
