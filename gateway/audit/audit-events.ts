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
import type { ReadRange, Table } from '../../protocols/modbus/types.js';
import type { Outcomes, RecordOutcome } from '../errors.js';

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

/** The audit flag of a request outcome, from the one table in gateway/errors.ts. */
export type AuditOutcome = (typeof Outcomes)[keyof typeof Outcomes]['audit'];

/** A write range as given by the producer: values as classified (null = unknowable, FC22). */
export interface AuditWriteRangeInput {
  readonly table: Table;
  readonly start: number;
  readonly count: number;
  readonly values: readonly number[] | null;
}

/** A write range as stored: values included, or their SHA-256 (hex of canonical JSON) per `values` config. */
export interface AuditWriteRange {
  readonly table: Table;
  readonly start: number;
  readonly count: number;
  readonly values?: readonly number[] | null;
  readonly valuesSha256?: string;
}

export interface RequestDecisionFields<W = AuditWriteRangeInput> {
  readonly session?: string;
  /** SPIFFE ID of the peer. */
  readonly identity: string;
  /** Modbus/TCP Security role, when the SVID carries one. */
  readonly role?: string;
  readonly device: string;
  readonly unit: number;
  readonly fc: number;
  readonly subFunction?: number;
  readonly transactionId?: number;
  readonly reads: readonly ReadRange[];
  readonly writes: readonly W[];
  /** `learn`: allowed by commissioning mode though the policy denies it (`ruleId`/`reason` say what it would do). */
  readonly decision: 'allow' | 'deny' | 'learn';
  readonly ruleId: string | null;
  readonly reason: string;
  /**
   * How the request ended; `pending` on the write-ahead decision of an allowed request that may change a
   * device (written BEFORE it is forwarded): its outcome follows as a `request.outcome` naming this seq.
   */
  readonly outcome: AuditOutcome | 'pending';
  /** PLC exception code when outcome is plc-exception. */
  readonly exception?: number;
  /** From receipt to this event: the answer for reads and denials, the decision for a write-ahead event. */
  readonly latencyMs: number;
  readonly policyVersion: string;
  /** Verdicts of shadow rules and of a candidate shadow policy, evaluated beside the enforced one (never
   * enforced): the before/after impact of a policy change, read from the trail. */
  readonly shadow?: readonly { readonly ruleId: string; readonly effect: 'allow' | 'deny' }[];
}

/**
 * The outcome of a request whose decision was written ahead (`request.decision` with outcome `pending`):
 * appended once the PLC answered, the request timed out, or it was dropped unsent. A decision without its
 * outcome means the gateway stopped (or its audit failed) while the request was in the hands of the PLC.
 */
export interface RequestOutcomeFields {
  /** seq of the write-ahead `request.decision` this completes. */
  readonly decisionSeq: number;
  readonly session?: string;
  readonly identity: string;
  readonly device: string;
  readonly unit: number;
  readonly fc: number;
  readonly transactionId?: number;
  readonly outcome: AuditOutcome;
  /** PLC exception code when outcome is plc-exception. */
  readonly exception?: number;
  /** From receipt to the answer, queue wait included. */
  readonly latencyMs: number;
}

/**
 * The decision on one PROFINET record service (read/write one record by API, slot, subslot, index)
 * [IEC 62443-3-3 SR 2.8]. Like `request.decision`: reads and denials are one event after the answer; an
 * allowed write is written ahead (`outcome: pending`, BEFORE it is queued) and its `request.outcome`
 * (record variant, naming this seq) follows.
 */
export interface RecordDecisionFields {
  readonly session?: string;
  readonly identity: string;
  readonly role?: string;
  readonly device: string;
  readonly access: 'read' | 'write';
  readonly api: number;
  readonly slot: number;
  readonly subslot: number;
  readonly index: number;
  /** read: the most bytes asked for; write: the data length. */
  readonly length: number;
  /** write: the record bytes as hex (audit.values include); the stored event carries `dataSha256` instead with `hash`. */
  readonly data?: string;
  readonly dataSha256?: string;
  readonly decision: 'allow' | 'deny';
  readonly ruleId: string | null;
  readonly reason: string;
  readonly outcome: RecordOutcome | 'pending';
  /** The device's PNIOStatus (8 hex digits) when it answered an error; `malformed-answer`: absent. */
  readonly pnioStatus?: string;
  /** `malformed-answer`: the first bytes of the answer as hex (never given to the client). */
  readonly raw?: string;
  readonly latencyMs: number;
  readonly policyVersion: string;
  readonly shadow?: readonly { readonly ruleId: string; readonly effect: 'allow' | 'deny' }[];
}

/** `request.outcome` of a record write written ahead (`record.decision` with outcome `pending`). */
export interface RecordOutcomeFields {
  readonly decisionSeq: number;
  readonly session?: string;
  readonly identity: string;
  readonly device: string;
  readonly access: 'read' | 'write';
  readonly api: number;
  readonly slot: number;
  readonly subslot: number;
  readonly index: number;
  readonly outcome: RecordOutcome;
  readonly pnioStatus?: string;
  readonly raw?: string;
  readonly latencyMs: number;
}

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
