/**
 * The public audit contract: every event type name is defined ONCE here (`AUDIT_EVENT_TYPES`), with the
 * fields each type carries (`AuditEventFields`). Producers (frontdoor, trust, policy reload, main) append
 * `AuditEventInput` values to an `AuditSink`; the log adds `seq`, `time`, `prev` and `hash`.
 * IEC 62443-3-3 SR 2.8 (auditable events): who, what, when, where, outcome.
 *
 * Why `append` is synchronous and returns a value: it runs on the request path [docs/architecture.md "Request path"
 * 8, 11] and a write failure is an expected runtime outcome (disk full), not an exception. See audit-log.ts for the
 * cost.
 */
import type {
  RequestDecisionFields,
  RequestOutcomeFields,
  RecordDecisionFields,
  RecordOutcomeFields,
} from './request-event-fields.js';

export const AUDIT_EVENT_TYPES = [
  'audit.started',
  'audit.recovered',
  'audit.gap',
  'audit.suppressed',
  'audit.capacity-warning',
  'session.open',
  'session.close',
  'handshake.rejected',
  'request.decision',
  'request.outcome',
  'record.decision',
  'jit.requested',
  'jit.approved',
  'jit.denied',
  'jit.revoked',
  'jit.expired',
  'lock.created',
  'lock.removed',
  'trust.changed',
  'policy.reloaded',
  'policy.reload-failed',
  'learn.started',
  'learn.ended',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** MSGIDs the SIEM exporter sends that are not chain events (they describe the chain or the export). */
export const SIEM_CHECKPOINT_TYPE = 'audit.checkpoint';
export const SIEM_EXPORT_LOSS_TYPE = 'audit.export-loss';

/**
 * Classes of events an identity without rights can cause at will, rate-bounded by audit-throttle.ts:
 * `pre-auth` = handshake.rejected (key: source address), `denial` = request.decision or record.decision with decision deny
 * (key: identity), `zero-right` = session.open/close of an identity the policy grants nothing (key: identity).
 */
export type ThrottleClass = 'pre-auth' | 'denial' | 'zero-right';

export interface SuppressedClassCount {
  readonly class: ThrottleClass;
  /** Written individually during the interval. */
  readonly recorded: number;
  /** Counted in this summary; = sum of `counts` of this class = sum of `causes`. */
  readonly suppressed: number;
  /** Why: over the per-key bound, over the class-wide bound, store past capacity − reserve, event too large. */
  readonly causes: {
    readonly perKey: number;
    readonly perClass: number;
    readonly reserve: number;
    readonly oversize: number;
  };
}

export interface SuppressedCount {
  readonly class: ThrottleClass;
  /** Source address or identity; `other` once too many distinct keys or entries were seen. */
  readonly key: string;
  /** handshake code, denial outcome/reason, or session event type; `other` on overflow. */
  readonly reason: string;
  readonly count: number;
}

/** Fields per event type. Keys must equal AUDIT_EVENT_TYPES (checked below). */
export interface AuditEventFields {
  'audit.started': {
    readonly pid: number;
    readonly fsync: string;
    readonly values: 'include' | 'hash';
    readonly segmentBytes: number;
    readonly version?: string;
  };
  /** A torn last line (crash mid-write) was cut away on open; its bytes are kept as a digest. */
  'audit.recovered': {
    readonly file: string;
    readonly truncatedBytes: number;
    readonly discardedSha256: string;
    readonly lastGoodSeq: number;
    readonly reason: 'torn-tail' | 'unparsable-tail' | 'bad-hash-tail';
  };
  /** Events that could not be written while the log was failing [IEC 62443-3-3 SR 2.10]. */
  'audit.gap': { readonly lost: number; readonly since: string; readonly error: string };
  /**
   * Rate-bounded events counted instead of written one by one during [from, to) [IEC 62443-3-3 SR 2.9,
   * SR 7.1]: per class how many were written individually and how many are counted here (by cause), and the
   * counts by key (source address / identity) and reason. Nothing is dropped: the counts add up.
   */
  'audit.suppressed': {
    readonly from: string;
    readonly to: string;
    readonly classes: readonly SuppressedClassCount[];
    readonly counts: readonly SuppressedCount[];
  };
  /** The audit store crossed its warning threshold of `audit.capacityBytes` [IEC 62443-3-3 SR 2.9]. */
  'audit.capacity-warning': {
    readonly usedBytes: number;
    readonly warnBytes: number;
    readonly capacityBytes: number;
    readonly reserveBytes: number;
  };
  'session.open': {
    readonly session: string;
    readonly identity: string;
    readonly role?: string;
    readonly peer: string;
    readonly transport: 'mbaps' | 'grpc';
    readonly svidNotAfter?: string;
  };
  'session.close': {
    readonly session: string;
    readonly identity: string;
    readonly reason: string;
    readonly requests?: number;
    readonly durationMs?: number;
  };
  'handshake.rejected': {
    /** `address:port` of the client, captured at TCP accept (also for refusals inside OpenSSL). */
    readonly peer: string;
    readonly code: string;
    readonly detail?: string;
    /** SPIFFE ID of the presented leaf: verified when `idVerified`, otherwise only what the client claimed. */
    readonly spiffeId?: string;
    readonly idVerified?: boolean;
    /** SHA-256 of the presented leaf certificate (colon-separated upper-case hex), when one was presented. */
    readonly fingerprint?: string;
    readonly transport?: 'mbaps' | 'grpc';
  };
  'request.decision': RequestDecisionFields;
  /** Modbus (unit, fc) or PROFINET record (access, api, slot, subslot, index) variant. */
  'request.outcome': RequestOutcomeFields | RecordOutcomeFields;
  'record.decision': RecordDecisionFields;
  'jit.requested': {
    readonly grantId: string;
    readonly requester: string;
    readonly ruleId?: string;
    readonly devices?: readonly string[];
    readonly reason: string;
    readonly durationMs: number;
    /** `fleet`: a grant issued at the fleet hub, imported from the site bucket (also on the events below). */
    readonly source?: 'fleet';
  };
  'jit.approved': {
    readonly grantId: string;
    readonly approver: string;
    readonly expiresAt: string;
    readonly source?: 'fleet';
  };
  'jit.denied': { readonly grantId: string; readonly by: string; readonly reason?: string; readonly source?: 'fleet' };
  'jit.revoked': { readonly grantId: string; readonly by: string; readonly reason?: string; readonly source?: 'fleet' };
  'jit.expired': { readonly grantId: string };
  'lock.created': {
    readonly lockId: string;
    readonly target: { readonly kind: 'identity' | 'role' | 'device' | 'grant'; readonly value: string };
    readonly by: string;
    readonly reason: string;
    readonly expiresAt?: string;
    /** `fleet`: applied from the fleet hub's site bucket; absent: made through this gateway. */
    readonly source?: 'fleet';
  };
  'lock.removed': {
    readonly lockId: string;
    readonly by?: string;
    readonly reason?: string;
    readonly source?: 'fleet';
  };
  'trust.changed': {
    readonly identity: string;
    readonly from: number;
    readonly to: number;
    readonly state: 'normal' | 'read-only' | 'ended';
    readonly reasons?: readonly string[];
  };
  'policy.reloaded': {
    readonly policyVersion: string;
    readonly previousVersion?: string;
    readonly file?: string;
    readonly rules?: number;
    /** `fleet`: a signed policy envelope from the site bucket (its `revision`); absent: the policy file. */
    readonly source?: 'fleet';
    readonly revision?: number;
  };
  'policy.reload-failed': {
    readonly file?: string;
    readonly error: string;
    readonly keptVersion?: string;
    /** `fleet`: a signed policy envelope refused (`code`: gateway/fleet/policy-envelope.ts ENVELOPE_REFUSALS, or `policy-invalid` / `policy-test-failed`). */
    readonly source?: 'fleet';
    readonly revision?: number;
    readonly code?: string;
  };
  /** Commissioning mode opened on a device: the listed identities' learnable denials are allowed until `until`. */
  'learn.started': { readonly device: string; readonly until: string; readonly principals: readonly string[] };
  /** Commissioning mode closed (`until` reached, or the gateway stopped); `learned` requests were allowed by it. */
  'learn.ended': {
    readonly device: string;
    readonly reason: 'until' | 'stopped';
    readonly until: string;
    readonly learned: number;
  };
}

// Compile-time proof that the field map and the name list agree (both directions).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const namesMatchFields: Same<keyof AuditEventFields, AuditEventType> = true;
void namesMatchFields;

/** What producers append: `{ type, ...fields }`. */
export type AuditEventInput = { [K in AuditEventType]: { readonly type: K } & AuditEventFields[K] }[AuditEventType];

/** Fields the log adds; producers cannot set them. */
export interface ChainFields {
  readonly seq: number;
  /** RFC 3339 UTC with milliseconds. */
  readonly time: string;
  /** SHA-256 hex of the previous event's canonical JSON (64 zeros for seq 1). */
  readonly prev: string;
  /** SHA-256 hex of this event's canonical JSON without `hash`. */
  readonly hash: string;
}

/** An event as stored in a segment line and handed to exporters. */
export type AuditRecord = ChainFields & { readonly type: AuditEventType } & Record<string, unknown>;

/** What the log itself answers: the event is in the file with `seq`, or it is NOT in the log. */
export type WriteResult = { readonly ok: true; readonly seq: number } | { readonly ok: false; readonly error: string };

/**
 * What a sink answers: a WriteResult, or `summarized` — a rate-bounded event was counted for the next
 * `audit.suppressed` summary instead of being written (audit-throttle.ts); it has no seq of its own.
 */
export type AppendResult = WriteResult | { readonly ok: true; readonly seq: null; readonly summarized: true };

/** The small interface the data path receives [docs/architecture.md "What may import what"]. */
export interface AuditSink {
  append(e: AuditEventInput): AppendResult;
}

export const GENESIS_HASH = '0'.repeat(64);

export function isAuditEventType(s: string): s is AuditEventType {
  return (AUDIT_EVENT_TYPES as readonly string[]).includes(s);
}
