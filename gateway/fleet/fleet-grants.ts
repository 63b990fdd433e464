/**
 * JIT grants from the fleet hub (docs/fleet.md): the hub is the one approval authority, so `control grant
 * issue` puts `grants.<id>` (a Grant with status `active`, approvals and expiresAt) in the site bucket; the
 * leaf mirrors it and the site-state watch hands it here. The grant service imports it as active only if it
 * fits this gateway's policy (a JIT rule with its id naming the requester and device, the scope inside the
 * rule, expiry within its maxDuration); a misfit is refused and audited. A delete, a put with status
 * `revoked`, or any put that is not a well-formed active grant revokes it, and so does an update the local
 * policy refuses (the old version must not stay in force in its place). Expiry is judged locally: a grant
 * issued before a cut ends at its expiry while cut off.
 *
 * Bucket values are input from the network: checked for the Grant shape, a bad one logged (and the grant held
 * under that id, if any, revoked: never thrown). After an initial sync, fleet grants held here but absent from
 * the bucket are revoked; local grants stay.
 */
import { nullLogger, type Logger } from '../logger.js';
import type { Grant, GrantAccess, GrantService, GrantStatus, GrantTable } from '../trust/grant-service.js';

const TABLES: readonly GrantTable[] = ['holding', 'input', 'coils', 'discrete', 'records'];
const ACCESSES: readonly GrantAccess[] = ['read', 'write', 'read-write'];
const STATUSES: readonly GrantStatus[] = ['pending', 'active', 'denied', 'revoked', 'expired'];
/** `by` of the `jit.revoked` event when the hub deleted or revoked the grant. */
export const FLEET_REVOKER = 'fleet';

export interface FleetGrantsOptions {
  readonly grants: Pick<GrantService, 'importActive' | 'fleetGrantIds' | 'close'>;
  readonly logger?: Logger;
}

export class FleetGrants {
  private readonly logger: Logger;

  constructor(private readonly opts: FleetGrantsOptions) {
    this.logger = opts.logger ?? nullLogger;
  }

  /** `grants.<id>` put (`value` the parsed JSON) or deleted (`value` null). */
  grant(id: string, value: unknown): void {
    if (value === null || value === undefined) {
      this.revoke(id, 'deleted at the fleet hub');
      return;
    }
    const parsed = parseGrant(id, value);
    if (typeof parsed === 'string') {
      // whatever the hub meant by it, it is not an active grant: the one held under this id ends (fail closed)
      this.logger.warn({ grantId: id, problem: parsed }, 'fleet: grant entry is not a valid grant; revoking it');
      this.revoke(id, `unreadable grant entry at the fleet hub: ${parsed}`);
      return;
    }
    if (parsed.status !== 'active') {
      this.revoke(id, parsed.closedReason ?? `${parsed.status} at the fleet hub`);
      return;
    }
    const r = this.opts.grants.importActive(parsed);
    if (!r.ok) this.logger.warn({ grantId: id, err: r.message }, 'fleet: grant refused by the local policy');
  }

  /** After an initial sync: fleet grants absent from the bucket were revoked meanwhile. Local grants stay. */
  reconcile(present: ReadonlySet<string>): void {
    for (const id of this.opts.grants.fleetGrantIds())
      if (!present.has(id)) this.revoke(id, 'absent from the fleet bucket at resync');
  }

  private revoke(id: string, reason: string): void {
    // only grants imported from the fleet and still open; anything else is not the hub's to end
    if (!this.opts.grants.fleetGrantIds().includes(id)) return;
    this.opts.grants.close(id, FLEET_REVOKER, 'revoked', reason, 'fleet');
  }
}

/** The Grant a bucket value describes (gateway/trust/grant-service.ts shape), or what is wrong with it. */
export function parseGrant(id: string, value: unknown): Grant | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const v = value as Record<string, unknown>;
  if (v.id !== id) return `id ${JSON.stringify(v.id)} does not match the key's ${JSON.stringify(id)}`;
  const text = (k: string): string | null => (typeof v[k] === 'string' && v[k] !== '' ? v[k] : null);
  const int = (k: string): number | null => (Number.isInteger(v[k]) ? (v[k] as number) : null);
  const requester = text('requester');
  const ruleId = text('ruleId');
  const device = text('device');
  const requestedAt = text('requestedAt');
  const start = int('start');
  const end = int('end');
  const durationMs = int('durationMs');
  if (requester === null || ruleId === null || device === null) return 'requester, ruleId and device are required';
  if (start === null || end === null || durationMs === null) return 'start, end and durationMs must be integers';
  if (!TABLES.includes(v.table as GrantTable)) return `unknown table ${JSON.stringify(v.table)}`;
  if (!ACCESSES.includes(v.access as GrantAccess)) return `unknown access ${JSON.stringify(v.access)}`;
  if (!STATUSES.includes(v.status as GrantStatus)) return `unknown status ${JSON.stringify(v.status)}`;
  if (typeof v.reason !== 'string') return 'no reason';
  if (!Array.isArray(v.approvals) || !v.approvals.every((a) => typeof a === 'string')) return 'bad approvals';
  if (v.expiresAt !== undefined && typeof v.expiresAt !== 'string') return 'expiresAt is not a string';
  return {
    id,
    requester,
    ruleId,
    device,
    table: v.table as GrantTable,
    start,
    end,
    access: v.access as GrantAccess,
    durationMs,
    reason: v.reason,
    status: v.status as GrantStatus,
    approvals: [...v.approvals],
    requestedAt: requestedAt ?? new Date(0).toISOString(),
    ...(typeof v.expiresAt === 'string' ? { expiresAt: v.expiresAt } : {}),
    ...(typeof v.closedBy === 'string' ? { closedBy: v.closedBy } : {}),
    ...(typeof v.closedReason === 'string' ? { closedReason: v.closedReason } : {}),
  };
}
