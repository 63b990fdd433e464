/**
 * The fields of the per-request events (`request.decision`, `request.outcome`, `record.decision`,
 * `record.outcome`): who asked what of which device, the decision and why, and what the device answered. Part of
 * the public audit contract whose event names live once in audit-events.ts.
 */
import type { ReadRange, Table } from '../../protocols/modbus/types.js';
import type { Outcomes, RecordOutcome } from '../errors.js';

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
  /**
   * A WriteMultiple (index 0xE040): the writes it carries, in order, each judged by policy on its own; their
   * bytes are in `data` (or its digest). Absent for any other record and for one that does not decode.
   */
  readonly inner?: readonly RecordAddressFields[];
  readonly decision: 'allow' | 'deny';
  readonly ruleId: string | null;
  readonly reason: string;
  readonly outcome: RecordOutcome | 'pending';
  /** The device's PNIOStatus (8 hex digits) when it answered an error; `malformed-answer`: absent. */
  readonly pnioStatus?: string;
  /** `malformed-answer`: the first bytes of the answer as hex (never given to the client). */
  readonly raw?: string;
  /** The request reached (or may have reached) the device and no valid answer says how it ended (docs/reference.md). */
  readonly mayHaveExecuted?: true;
  readonly latencyMs: number;
  readonly policyVersion: string;
  readonly shadow?: readonly { readonly ruleId: string; readonly effect: 'allow' | 'deny' }[];
}

/** The address and length of one record inside a container record. */
export interface RecordAddressFields {
  readonly api: number;
  readonly slot: number;
  readonly subslot: number;
  readonly index: number;
  readonly length: number;
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
  /** As in `record.decision`: sent, and its fate is unknown (write-lost, malformed-answer, rpc-fault …). */
  readonly mayHaveExecuted?: true;
  readonly latencyMs: number;
}
