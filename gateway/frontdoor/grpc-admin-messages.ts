/** Runtime objects (sessions, JIT grants, locks) as verigate.v1 admin messages. */
import type { Grant } from '../trust/grant-service.js';
import type { Lock } from '../trust/lock-service.js';
import { grantTableToProto, type GrantMessage, type LockMessage, type SessionMessage } from './grpc-proto.js';
import type { SessionSnapshot } from './session.js';

export function sessionMessage(s: SessionSnapshot, trust: { score: number; state: string }): SessionMessage {
  return {
    id: s.id,
    transport: s.transport,
    spiffeId: s.peer.id,
    role: s.peer.role ?? '',
    remote: s.remote,
    openedAt: s.openedAt,
    lastActivityAt: s.lastActivityAt,
    requests: s.requests,
    denied: s.denied,
    writes: s.writes,
    readOnly: s.readOnly,
    devices: { ...s.devices },
    trustScore: Math.round(trust.score * 1000) / 1000,
    trustState: trust.state,
    svidNotAfter: s.peer.notAfter,
  };
}

export function grantMessage(g: Grant): GrantMessage {
  return {
    id: g.id,
    requester: g.requester,
    ruleId: g.ruleId,
    device: g.device,
    table: grantTableToProto(g.table),
    start: g.start,
    end: g.end,
    access: g.access,
    durationS: Math.round(g.durationMs / 1000),
    reason: g.reason,
    status: g.status,
    approvals: [...g.approvals],
    requestedAt: g.requestedAt,
    expiresAt: g.expiresAt ?? '',
  };
}

export function lockMessage(l: Lock, sessionsEnded = 0): LockMessage {
  return {
    id: l.id,
    kind: l.target.kind,
    value: l.target.value,
    by: l.by,
    reason: l.reason,
    createdAt: l.createdAt,
    expiresAt: l.expiresAt ?? '',
    sessionsEnded,
  };
}
