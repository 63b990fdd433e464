/**
 * Just-in-time access [IEC 62443-3-3 SR 1.13; Teleport access requests]: a requester asks, with its own SVID,
 * for a scope (device, table, address range, access) for a duration ≤ the rule's `maxDuration`, with a
 * mandatory reason; approvers named by the rule approve (no self-approval, `threshold` distinct approvers);
 * the grant is active from the last approval until it expires or is revoked. Grants are durable
 * (durable-json.ts) so a restart loses nothing; every transition is an audit event.
 * PROFINET record services: a grant's `table` is `records` and start..end is a range of record indices
 * (any API, slot and subslot the JIT rule's entry allows); it must lie inside one `profinet:` entry of the
 * JIT rule with that access. A grant never covers a request that touches no register (grant-scope.ts `coversNeed`).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { AuditSink } from '../audit/audit-events.js';
import type { CompiledPolicy, CompiledRule } from '../policy/compiled-policy.js';
import { compileDeviceGlob } from '../policy/policy-index.js';
import { compileIdPattern } from '../identity/spiffe-id-pattern.js';
import { readDurableJson, writeDurableJson } from './durable-json.js';
import type { GrantNeed } from './runtime-gate.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import { PENDING_TTL_MS, type Grant, type GrantRequest, type GrantResult } from './grant-types.js';
import { coversNeed, sameGrant, withinRule } from './grant-scope.js';

export type { Grant, GrantAccess, GrantRequest, GrantResult, GrantStatus, GrantTable } from './grant-types.js';

export class GrantService {
  private grants = new Map<string, Grant>();
  private readonly file: string;
  /** Set when the store exists but could not be read: no grant is honoured or changed until it is repaired
   * (writing now would overwrite the grants we could not read). */
  unreadable: string | null = null;
  /**
   * A fleet member (docs/fleet.md): grants come from the hub; the local approve path accepts only a JIT rule's
   * `siteLocalApprovers` (so no new grant is issued without the hub unless the policy names them).
   */
  fleetMode = false;

  constructor(
    dir: string,
    private readonly policy: () => CompiledPolicy,
    private readonly audit: AuditSink,
    private readonly now: () => number,
  ) {
    this.file = join(dir, 'grants.json');
  }

  /** Loads the durable store; returns an error string when it exists but cannot be read. */
  load(): string | null {
    const r = readDurableJson<Grant[]>(this.file);
    if (r.kind === 'unreadable') {
      this.unreadable = r.error;
      return r.error;
    }
    this.unreadable = null;
    if (r.kind === 'ok') this.grants = new Map(r.value.map((g) => [g.id, g]));
    return null;
  }

  list(): Grant[] {
    this.expire();
    return [...this.grants.values()];
  }

  request(req: GrantRequest): GrantResult {
    if (this.unreadable) return { ok: false, code: 'conflict', message: `grant store unreadable: ${this.unreadable}` };
    if (!req.reason.trim()) return { ok: false, code: 'invalid', message: 'a reason is mandatory' };
    if (req.start > req.end || req.start < 0 || req.end > 65535)
      return { ok: false, code: 'invalid', message: 'bad address range' };
    const rule = this.findRule(req);
    if (!rule?.jit)
      return { ok: false, code: 'forbidden', message: `no JIT rule lets ${req.requester} ask for ${req.device}` };
    if (!withinRule(rule, req)) {
      return {
        ok: false,
        code: 'forbidden',
        message: `scope ${req.table} ${req.start}-${req.end} (${req.access}) is not inside what rule ${rule.id} allows`,
      };
    }
    if (req.durationMs <= 0 || req.durationMs > rule.jit.maxDurationMs) {
      return {
        ok: false,
        code: 'invalid',
        message: `duration must be > 0 and ≤ ${rule.jit.maxDurationMs} ms (rule ${rule.id})`,
      };
    }
    const grant: Grant = {
      id: randomUUID(),
      requester: req.requester,
      ruleId: rule.id,
      device: req.device,
      table: req.table,
      start: req.start,
      end: req.end,
      access: req.access,
      durationMs: req.durationMs,
      reason: req.reason,
      status: 'pending',
      approvals: [],
      requestedAt: new Date(this.now()).toISOString(),
    };
    this.grants.set(grant.id, grant);
    this.persist();
    this.audit.append({
      type: 'jit.requested',
      grantId: grant.id,
      requester: grant.requester,
      ruleId: rule.id,
      devices: [grant.device],
      reason: grant.reason,
      durationMs: grant.durationMs,
    });
    return { ok: true, grant };
  }

  approve(id: string, approver: string): GrantResult {
    if (this.unreadable) return { ok: false, code: 'conflict', message: `grant store unreadable: ${this.unreadable}` };
    const g = this.grants.get(id);
    if (!g || g.status !== 'pending') return { ok: false, code: 'not-found', message: `no pending grant ${id}` };
    if (approver === g.requester) return { ok: false, code: 'forbidden', message: 'self-approval is not allowed' };
    const jit = this.policy().rules.find((r) => r.id === g.ruleId)?.jit;
    if (!jit) return { ok: false, code: 'conflict', message: `rule ${g.ruleId} no longer requires JIT or is gone` };
    if (this.fleetMode && !(jit.siteLocalApprovers ?? []).some((p) => compileIdPattern(p).matches(approver))) {
      const message = `grants for rule ${g.ruleId} come from the fleet hub (verigate control grant issue); ${approver} is not one of its siteLocalApprovers`;
      return { ok: false, code: 'forbidden', message };
    }
    if (!this.fleetMode && !jit.approvers.some((p) => compileIdPattern(p).matches(approver)))
      return { ok: false, code: 'forbidden', message: `${approver} is not an approver of rule ${g.ruleId}` };
    if (g.approvals.includes(approver))
      return { ok: false, code: 'conflict', message: 'already approved by this identity' };
    g.approvals.push(approver);
    if (g.approvals.length >= jit.threshold) {
      g.status = 'active';
      g.expiresAt = new Date(this.now() + g.durationMs).toISOString();
      this.audit.append({ type: 'jit.approved', grantId: g.id, approver, expiresAt: g.expiresAt });
    }
    this.persist();
    return { ok: true, grant: g };
  }

  close(id: string, by: string, status: 'denied' | 'revoked', reason?: string, source?: 'fleet'): GrantResult {
    if (this.unreadable) return { ok: false, code: 'conflict', message: `grant store unreadable: ${this.unreadable}` };
    const g = this.grants.get(id);
    const open = status === 'denied' ? g?.status === 'pending' : g?.status === 'active' || g?.status === 'pending';
    if (!g || !open)
      return { ok: false, code: 'not-found', message: `no ${status === 'denied' ? 'pending' : 'open'} grant ${id}` };
    g.status = status;
    g.closedBy = by;
    if (reason) g.closedReason = reason;
    this.persist();
    const type = status === 'denied' ? 'jit.denied' : 'jit.revoked';
    this.audit.append({ type, grantId: g.id, by, ...(reason ? { reason } : {}), ...(source ? { source } : {}) });
    return { ok: true, grant: g };
  }

  /**
   * A grant issued at the fleet hub (status active, approvals and expiry decided there), imported as active
   * only if it fits this gateway's policy: a JIT rule with its id that names the requester and device, the
   * scope inside one of its entries, and the time left ≤ its maxDuration. Idempotent (the same grant again —
   * every field the hub wrote equal: `changed: false`, no event). Audited `jit.requested` + `jit.approved` with
   * `source: fleet`; a misfit is refused (`jit.denied`, by `local-policy`, with the reason). A refused UPDATE of
   * a grant in force here also closes that grant (`jit.revoked`): the hub changed it (say, narrowed its scope),
   * so the old version must not stay in force in its place. Its expiry is then judged locally.
   */
  importActive(grant: Grant): { ok: true; changed: boolean } | { ok: false; message: string } {
    if (this.unreadable) return { ok: false, message: `grant store unreadable: ${this.unreadable}` };
    const old = this.grants.get(grant.id);
    if (old && old.source !== 'fleet') return { ok: false, message: `grant ${grant.id} exists locally` };
    if (old && old.status !== 'active') return { ok: true, changed: false };
    const imported: Grant = { ...grant, approvals: [...grant.approvals], status: 'active', source: 'fleet' };
    if (old && sameGrant(old, imported)) return { ok: true, changed: false };
    const misfit = this.misfit(grant);
    if (misfit !== null) {
      this.audit.append({ type: 'jit.denied', grantId: grant.id, by: 'local-policy', reason: misfit, source: 'fleet' });
      if (old) this.close(grant.id, 'local-policy', 'revoked', `the hub's update was refused: ${misfit}`, 'fleet');
      return { ok: false, message: misfit };
    }
    this.grants.set(grant.id, imported);
    this.persist();
    this.auditImported(imported, old === undefined);
    return { ok: true, changed: true };
  }

  private auditImported(grant: Grant, first: boolean): void {
    if (first) {
      this.audit.append({
        type: 'jit.requested',
        grantId: grant.id,
        requester: grant.requester,
        ruleId: grant.ruleId,
        devices: [grant.device],
        reason: grant.reason,
        durationMs: grant.durationMs,
        source: 'fleet',
      });
    }
    const approver = grant.approvals[grant.approvals.length - 1] ?? 'fleet';
    this.audit.append({
      type: 'jit.approved',
      grantId: grant.id,
      approver,
      expiresAt: grant.expiresAt ?? '',
      source: 'fleet',
    });
  }

  /** Ids of the imported (fleet) grants still open here: what a fleet resync compares with the bucket. */
  fleetGrantIds(): string[] {
    return [...this.grants.values()]
      .filter((g) => g.source === 'fleet' && (g.status === 'active' || g.status === 'pending'))
      .map((g) => g.id);
  }

  /** Why a hub grant does not fit the local policy, or null. */
  private misfit(g: Grant): string | null {
    const expires = Date.parse(g.expiresAt ?? '');
    if (!Number.isFinite(expires)) return 'no valid expiresAt';
    if (expires <= this.now()) return `already expired at ${g.expiresAt}`;
    if (!g.reason.trim()) return 'a reason is mandatory';
    if (!(g.start >= 0 && g.start <= g.end && g.end <= 65535)) return 'bad address range';
    const rule = this.findRule({ ...g, ruleId: g.ruleId });
    if (!rule?.jit) return `no JIT rule ${g.ruleId} lets ${g.requester} ask for ${g.device}`;
    if (!withinRule(rule, g)) return `scope ${g.table} ${g.start}-${g.end} (${g.access}) is not inside rule ${rule.id}`;
    if (expires - this.now() > rule.jit.maxDurationMs)
      return `expires ${g.expiresAt}, beyond rule ${rule.id}'s maxDuration of ${rule.jit.maxDurationMs} ms from now`;
    return null;
  }

  /** The active grant of this identity and rule that covers `req` (a request, or the part of it a JIT rule granted). */
  covering(identity: string, ruleId: string, device: string, req: GrantNeed): Grant | null {
    const now = this.now();
    for (const g of this.grants.values()) {
      if (g.status !== 'active' || g.requester !== identity || g.ruleId !== ruleId || g.device !== device) continue;
      if (Date.parse(g.expiresAt ?? '') <= now) continue;
      if (coversNeed(g, req)) return g;
    }
    return null;
  }

  /** The active grant of this identity and rule on this device whose record index range holds `req.index`. */
  coveringRecord(
    identity: string,
    ruleId: string,
    device: string,
    req: Pick<RecordRequest, 'access' | 'index'>,
  ): Grant | null {
    const now = this.now();
    for (const g of this.grants.values()) {
      if (
        g.status !== 'active' ||
        g.requester !== identity ||
        g.ruleId !== ruleId ||
        g.device !== device ||
        g.table !== 'records'
      )
        continue;
      if (Date.parse(g.expiresAt ?? '') <= now) continue;
      if (g.access !== 'read-write' && g.access !== req.access) continue;
      if (g.start <= req.index && req.index <= g.end) return g;
    }
    return null;
  }

  /** Marks grants past their expiry, and requests nobody decided on within an hour (a stale request must not
   * be approvable months later); called by the runtime's timer and before listings. */
  expire(): void {
    if (this.unreadable) return;
    const now = this.now();
    let changed = false;
    for (const g of this.grants.values()) {
      const activeOver = g.status === 'active' && Date.parse(g.expiresAt ?? '') <= now;
      const pendingOver = g.status === 'pending' && Date.parse(g.requestedAt) + PENDING_TTL_MS <= now;
      if (activeOver || pendingOver) {
        g.status = 'expired';
        changed = true;
        this.audit.append({ type: 'jit.expired', grantId: g.id });
      }
    }
    if (changed) this.persist();
  }

  private findRule(req: GrantRequest): CompiledRule | undefined {
    const peer = { id: req.requester, role: null };
    return this.policy().rules.find(
      (r) =>
        r.jit !== null &&
        (req.ruleId === undefined || r.id === req.ruleId) &&
        r.matchesPrincipal(peer) &&
        r.devicePatterns.some((p) => compileDeviceGlob(p).test(req.device)),
    );
  }

  private persist(): void {
    writeDurableJson(this.file, [...this.grants.values()]);
  }
}
