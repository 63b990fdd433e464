/**
 * `verigate.v1.Admin` handlers. The caller is the SPIFFE ID of the verified session the call arrived on,
 * never a message field. Authorization [IEC 62443-3-3 SR 1.13, SR 2.6; Teleport access requests]:
 * - sessions, locks, reload, listing grants: the policy's `admins:` for that operation (`isAdmin`);
 * - RequestGrant: any identity; the grant service checks that a JIT rule names it;
 * - ApproveGrant: the rule's approvers (grant service: no self-approval, threshold);
 * - DenyGrant: the rule's approvers or grant admins; RevokeGrant: grant admins or the requester.
 * Service refusals map to INVALID_ARGUMENT / PERMISSION_DENIED / NOT_FOUND / FAILED_PRECONDITION.
 */
import {
  status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceError,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { compileIdPattern } from '../identity/spiffe-id-pattern.js';
import type { Logger } from '../logger.js';
import { isAdmin, type CompiledPolicy } from '../policy/compiled-policy.js';
import type { AdminOp } from '../policy/policy-source.js';
import type { ReloadResult } from '../policy/policy-holder.js';
import type { GrantAccess, GrantResult, GrantTable } from '../trust/grant-service.js';
import type { TrustRuntime } from '../trust/trust-runtime.js';
import type { Lock } from '../trust/lock-service.js';
import { grantMessage, lockMessage, sessionMessage } from './grpc-admin-messages.js';
import {
  grantTableFromProto,
  type CreateLockRequest,
  type GrantDecision,
  type GrantRequestMessage,
  type KillSessionRequest,
  type RemoveLockRequest,
} from './grpc-proto.js';
import type { CallSessionLookup } from './grpc-session-map.js';
import { grpcError } from './grpc-status.js';
import type { SessionRegistry } from './session-registry.js';

export interface AdminServiceDeps {
  readonly sessionOf: CallSessionLookup;
  readonly sessions: SessionRegistry;
  readonly trust: Pick<TrustRuntime, 'trustOf' | 'lock' | 'grants' | 'locks'>;
  readonly policy: { readonly current: CompiledPolicy; reload(trigger: string): ReloadResult };
  readonly now: () => number;
  readonly logger?: Logger;
}

type Out = { ok: true; value: object } | { ok: false; error: ServiceError };

const ok = (value: object): Out => ({ ok: true, value });
const err = (code: status, details: string): Out => ({ ok: false, error: grpcError(code, details) });

const GRANT_CODES: Readonly<Record<string, status>> = {
  invalid: status.INVALID_ARGUMENT,
  forbidden: status.PERMISSION_DENIED,
  'not-found': status.NOT_FOUND,
  conflict: status.FAILED_PRECONDITION,
};
const ACCESS: ReadonlySet<string> = new Set<GrantAccess>(['read', 'write', 'read-write']);
const LOCK_KINDS: ReadonlySet<string> = new Set<Lock['target']['kind']>(['identity', 'role', 'device', 'grant']);

function fromGrant(r: GrantResult): Out {
  return r.ok ? ok(grantMessage(r.grant)) : err(GRANT_CODES[r.code] ?? status.FAILED_PRECONDITION, r.message);
}

type Method<Req> = (d: AdminServiceDeps, caller: string, req: Req) => Out;

/** One unary handler per RPC of gateway.proto's Admin service; `op` names the admins allowed (null: checked inside). */
export function adminService(deps: AdminServiceDeps): UntypedServiceImplementation {
  const rpc = <Req>(name: string, op: AdminOp | null, m: Method<Req>) => guarded(deps, name, op, m);
  return {
    ListSessions: rpc('ListSessions', 'sessions', listSessions),
    KillSession: rpc('KillSession', 'sessions', killSession),
    RequestGrant: rpc('RequestGrant', null, requestGrant),
    ApproveGrant: rpc('ApproveGrant', null, approveGrant),
    DenyGrant: rpc('DenyGrant', null, denyGrant),
    RevokeGrant: rpc('RevokeGrant', null, revokeGrant),
    ListGrants: rpc('ListGrants', 'grants', listGrants),
    CreateLock: rpc('CreateLock', 'locks', createLock),
    RemoveLock: rpc('RemoveLock', 'locks', removeLock),
    ListLocks: rpc('ListLocks', 'locks', listLocks),
    ReloadPolicy: rpc('ReloadPolicy', 'reload', reloadPolicy),
  };
}

/** The caller is the verified session's SPIFFE ID; then (when `op` is set) it must be one of the policy's admins for `op`. */
function guarded<Req>(deps: AdminServiceDeps, method: string, op: AdminOp | null, m: Method<Req>) {
  return (call: ServerUnaryCall<Req, object>, callback: sendUnaryData<object>): void => {
    const found = deps.sessionOf(call);
    if (!found.ok) return callback(found.error);
    const caller = found.session.peer.id;
    if (op && !isAdmin(deps.policy.current, caller, op)) {
      deps.logger?.warn({ caller, method, op }, 'admin call refused');
      return callback(grpcError(status.PERMISSION_DENIED, `${caller} is not an admin for "${op}"`));
    }
    const out = m(deps, caller, call.request);
    if (out.ok) deps.logger?.info({ caller, method }, 'admin call');
    callback(out.ok ? null : out.error, out.ok ? out.value : undefined);
  };
}

// ---- sessions ----

function listSessions({ sessions, trust }: AdminServiceDeps): Out {
  return ok({ sessions: sessions.list().map((s) => sessionMessage(s, trust.trustOf(s.peer.id))) });
}

function killSession({ sessions }: AdminServiceDeps, caller: string, r: KillSessionRequest): Out {
  const why = `admin-kill by ${caller}${r.reason ? `: ${r.reason}` : ''}`;
  if (r.sessionId) {
    const s = sessions.get(r.sessionId);
    if (!s?.isOpen) return err(status.NOT_FOUND, `no live session ${r.sessionId}`);
    s.end(why);
    return ok({ ended: 1 });
  }
  if (r.spiffeId) return ok({ ended: sessions.endMatching((s) => s.peer.id === r.spiffeId, why) });
  return err(status.INVALID_ARGUMENT, 'give session_id or spiffe_id');
}

// ---- JIT grants ----

function requestGrant({ trust }: AdminServiceDeps, caller: string, r: GrantRequestMessage): Out {
  const table: GrantTable | null = grantTableFromProto(r.table);
  if (!table)
    return err(
      status.INVALID_ARGUMENT,
      'table must be COILS, DISCRETE_INPUTS, HOLDING_REGISTERS, INPUT_REGISTERS or RECORDS',
    );
  if (!ACCESS.has(r.access)) return err(status.INVALID_ARGUMENT, 'access must be read, write or read-write');
  return fromGrant(
    trust.grants.request({
      requester: caller,
      device: r.device,
      table,
      start: r.start,
      end: r.end,
      access: r.access as GrantAccess,
      durationMs: r.durationS * 1000,
      reason: r.reason,
      ...(r.ruleId ? { ruleId: r.ruleId } : {}),
    }),
  );
}

function approveGrant({ trust }: AdminServiceDeps, caller: string, r: GrantDecision): Out {
  return fromGrant(trust.grants.approve(r.grantId, caller));
}

/** The rule's approvers or grant admins. */
function denyGrant(d: AdminServiceDeps, caller: string, r: GrantDecision): Out {
  const g = d.trust.grants.list().find((x) => x.id === r.grantId);
  if (!g) return err(status.NOT_FOUND, `no grant ${r.grantId}`);
  if (!isApprover(d.policy.current, g.ruleId, caller) && !isAdmin(d.policy.current, caller, 'grants')) {
    return err(status.PERMISSION_DENIED, `${caller} is not an approver of rule ${g.ruleId}`);
  }
  return fromGrant(d.trust.grants.close(g.id, caller, 'denied', r.reason || undefined));
}

/** The requester or grant admins. */
function revokeGrant(d: AdminServiceDeps, caller: string, r: GrantDecision): Out {
  const g = d.trust.grants.list().find((x) => x.id === r.grantId);
  if (!g) return err(status.NOT_FOUND, `no grant ${r.grantId}`);
  if (g.requester !== caller && !isAdmin(d.policy.current, caller, 'grants')) {
    return err(status.PERMISSION_DENIED, `only the requester or a grants admin may revoke grant ${g.id}`);
  }
  return fromGrant(d.trust.grants.close(g.id, caller, 'revoked', r.reason || undefined));
}

function listGrants({ trust }: AdminServiceDeps): Out {
  return ok({ grants: trust.grants.list().map(grantMessage) });
}

function isApprover(policy: CompiledPolicy, ruleId: string, caller: string): boolean {
  return (
    policy.rules.find((r) => r.id === ruleId)?.jit?.approvers.some((p) => compileIdPattern(p).matches(caller)) ?? false
  );
}

// ---- locks ----

function createLock({ sessions, trust, now }: AdminServiceDeps, caller: string, r: CreateLockRequest): Out {
  if (!LOCK_KINDS.has(r.kind)) return err(status.INVALID_ARGUMENT, 'kind must be identity, role, device or grant');
  if (!r.value) return err(status.INVALID_ARGUMENT, 'a lock needs a value');
  const open = [...sessions.all()].filter((s) => s.isOpen);
  const expiresAt = r.ttlS > 0 ? new Date(now() + r.ttlS * 1000) : undefined;
  const res = trust.lock({ kind: r.kind as Lock['target']['kind'], value: r.value }, caller, r.reason, expiresAt);
  if (!res.ok) return err(status.INVALID_ARGUMENT, res.message);
  // the lock ends matching sessions at once: report how many it ended
  return ok(lockMessage(res.lock, open.filter((s) => !s.isOpen).length));
}

function removeLock({ trust }: AdminServiceDeps, caller: string, r: RemoveLockRequest): Out {
  return trust.locks.remove(r.lockId, caller) ? ok({ removed: true }) : err(status.NOT_FOUND, `no lock ${r.lockId}`);
}

function listLocks({ trust }: AdminServiceDeps): Out {
  return ok({ locks: trust.locks.list().map((l) => lockMessage(l)) });
}

// ---- policy ----

function reloadPolicy({ policy }: AdminServiceDeps, caller: string): Out {
  const r = policy.reload(`admin:${caller}`);
  return ok(
    r.ok
      ? { ok: true, version: r.version, changed: r.changed, error: '' }
      : { ok: false, version: r.keptVersion, changed: false, error: r.error },
  );
}
