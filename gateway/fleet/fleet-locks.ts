/**
 * Locks from the fleet hub (docs/fleet.md "How a lock travels"): `control lock create` puts `locks.<id>` in the
 * site bucket at the hub, the leaf mirrors it, the site-state watch hands it here, and the trust runtime stores
 * it (durably: a gateway restarted while cut off still enforces it) with the hub's id, by, reason and expiry,
 * marked `source: fleet`, ends every matching live session at once and refuses new requests and sessions —
 * the same path as a lock made through the local admin API [IEC 62443-3-3 SR 2.6]. A delete removes it.
 *
 * The bucket's values are input from the network: each is checked for the Lock shape and a bad one is logged
 * and skipped (never thrown). After an initial sync, fleet locks held here but absent from the bucket were
 * deleted while we were away and are removed; locks made through this gateway's admin API are never touched.
 *
 * A mirror may also lack a lock because it is OLDER than what this gateway has seen (a leaf store restored
 * from a snapshot, a wiped one catching up). Heartbeats order the bucket on the control's clock: a lock that
 * arrived while the newest heartbeat known here was H was written at the hub after H, so every mirror holding
 * a heartbeat newer than H also holds the lock (or its deletion). Each fleet lock therefore keeps
 * `heartbeatAtReceipt` (H at its first arrival, or its createdAt if later or no heartbeat was known), and a
 * resync removes it only when the mirror's newest heartbeat is newer than that.
 */
import { nullLogger, type Logger } from '../logger.js';
import type { Lock, LockKind, LockService } from '../trust/lock-service.js';
import type { TrustRuntime } from '../trust/trust-runtime.js';
import type { FleetHeartbeat } from './fleet-state-handlers.js';

const KINDS: readonly LockKind[] = ['identity', 'role', 'device', 'grant'];
/** `by` of the `lock.removed` event when the hub deleted the key (a KV delete carries no author). */
export const FLEET_REMOVER = 'fleet';

export interface FleetLocksOptions {
  readonly trust: Pick<TrustRuntime, 'applyFleetLock'> & { readonly locks: Pick<LockService, 'list' | 'remove'> };
  /** The newest control heartbeat this gateway knows (FleetStaleness.last()); noted on each lock as it arrives. */
  readonly newestHeartbeat?: () => FleetHeartbeat | null;
  readonly logger?: Logger;
}

export class FleetLocks {
  private readonly logger: Logger;

  constructor(private readonly opts: FleetLocksOptions) {
    this.logger = opts.logger ?? nullLogger;
  }

  /** `locks.<id>` put (`value` the parsed JSON) or deleted (`value` null). */
  lock(id: string, value: unknown): void {
    if (value === null || value === undefined) {
      this.remove(id);
      return;
    }
    const parsed = parseLock(id, value);
    if (typeof parsed === 'string') {
      this.logger.warn({ lockId: id, problem: parsed }, 'fleet: lock entry ignored (not a valid lock)');
      return;
    }
    const known = this.opts.newestHeartbeat?.() ?? null;
    const r = this.opts.trust.applyFleetLock({ ...parsed, ...(known ? { heartbeatAtReceipt: known.time } : {}) });
    if (!r.ok) this.logger.error({ lockId: id, err: r.message }, 'fleet: lock could not be applied');
    else if (r.storeError !== undefined)
      this.logger.error(
        { lockId: id, err: r.storeError },
        'fleet: lock enforced but not stored durably (a restart would lose it until the bucket delivers it again)',
      );
  }

  /**
   * After an initial sync whose newest heartbeat is `heartbeatTime` (epoch ms): fleet locks absent from the
   * bucket were deleted meanwhile — unless they arrived after that heartbeat (the mirror is older than them).
   * Local locks stay.
   */
  reconcile(present: ReadonlySet<string>, heartbeatTime: number): void {
    for (const l of this.opts.trust.locks.list()) {
      if (l.source !== 'fleet' || present.has(l.id)) continue;
      if (receivedAt(l) < heartbeatTime) this.remove(l.id);
      else
        this.logger.warn(
          { lockId: l.id, heartbeatAtReceipt: l.heartbeatAtReceipt ?? l.createdAt },
          'fleet: lock absent from a mirror older than it kept (removed once a newer mirror lacks it)',
        );
    }
  }

  private remove(id: string): void {
    const held = this.opts.trust.locks.list().find((l) => l.id === id);
    // a hub key never removes a lock made through this gateway's own admin API
    if (held?.source !== 'fleet') return;
    this.opts.trust.locks.remove(id, FLEET_REMOVER, 'fleet');
  }
}

/**
 * Where a fleet lock sits on the control's clock: the newest heartbeat known at its arrival, or its createdAt
 * when later (a lock cannot be in the bucket before it was made; the only bound when no heartbeat was known).
 * An unreadable time counts as +Infinity: never removed on an older mirror's word.
 */
function receivedAt(l: Lock): number {
  const times = [l.heartbeatAtReceipt, l.createdAt].filter((x): x is string => x !== undefined).map(Date.parse);
  return times.some((x) => Number.isNaN(x)) ? Number.POSITIVE_INFINITY : Math.max(...times);
}

/** The Lock a bucket value describes (gateway/trust/lock-service.ts shape), or what is wrong with it. */
export function parseLock(id: string, value: unknown): Lock | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const v = value as Record<string, unknown>;
  if (v.id !== id) return `id ${JSON.stringify(v.id)} does not match the key's ${JSON.stringify(id)}`;
  const target = v.target as Record<string, unknown> | null | undefined;
  if (typeof target !== 'object' || target === null) return 'no target';
  if (!KINDS.includes(target.kind as LockKind)) return `unknown target kind ${JSON.stringify(target.kind)}`;
  if (typeof target.value !== 'string' || target.value === '') return 'no target value';
  if (typeof v.by !== 'string' || v.by === '') return 'no by';
  if (typeof v.reason !== 'string' || !v.reason.trim()) return 'a reason is mandatory';
  if (typeof v.createdAt !== 'string' || !Number.isFinite(Date.parse(v.createdAt))) return 'no valid createdAt';
  if (v.expiresAt !== undefined && (typeof v.expiresAt !== 'string' || !Number.isFinite(Date.parse(v.expiresAt))))
    return 'expiresAt is not a valid time';
  return {
    id,
    target: { kind: target.kind as LockKind, value: target.value },
    by: v.by,
    reason: v.reason,
    createdAt: v.createdAt,
    ...(typeof v.expiresAt === 'string' ? { expiresAt: v.expiresAt } : {}),
  };
}
