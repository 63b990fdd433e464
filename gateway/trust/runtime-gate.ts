/**
 * The contract between the front doors and the zero-trust runtime [docs/architecture.md "Request path" 7]. Hard
 * criteria (valid SVID, policy allow, JIT scope, locks) are gates before any score [NIST SP 800-207 3.3.1]; the score
 * only ever takes rights away (read-only or terminate), never grants them.
 */
import type { ClassifiedRequest, Table } from '../../protocols/modbus/types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';
import type { GateReasonCode } from '../reasons.js';

/** Register ranges a JIT grant must cover (a ClassifiedRequest is one: all its ranges). */
export interface GrantNeed {
  readonly reads: readonly RangeNeed[];
  readonly writes: readonly RangeNeed[];
}
interface RangeNeed {
  readonly table: Table;
  readonly start: number;
  readonly count: number;
}
/** A granting rule's `rate`: one token per request from the identity × rule bucket (rate-limiter.ts). */
export interface RateNeed {
  readonly ruleId: string;
  readonly perSecond: number;
}

/** A verified peer as the runtime sees it (built by the front doors from identity's PeerIdentity). */
export interface SessionPeer {
  /** SPIFFE ID as a string (`spiffe://td/path`). */
  readonly id: string;
  /** Modbus/TCP Security role from the certificate, or null [MB-TCP-SEC R-21]. */
  readonly role: string | null;
  readonly notAfter: Date;
  /** When the SVID began (its age feeds the trust score); absent when unknown. */
  readonly notBefore?: Date;
  readonly fingerprint256: string;
}

/** What the runtime needs to know of a session; implemented by frontdoor/Session. */
export interface GateSession {
  readonly id: string;
  readonly peer: SessionPeer;
  /** Writes refused by the read-only downgrade; changed only through setReadOnly. */
  readonly readOnly: boolean;
  setReadOnly(readOnly: boolean): void;
  end(reason: string): void;
}

/** The policy verdict as the runtime sees it (a subset of policy's Decision). */
export interface PolicyVerdict {
  readonly effect: 'allow' | 'deny';
  readonly ruleId: string | null;
  readonly reason: string;
  readonly obligations?: {
    readonly jit?: {
      readonly ruleId: string;
      readonly approvers: readonly string[];
      readonly maxDurationMs: number;
      readonly threshold: number;
      /** The registers the grant must cover when other rules grant the rest (FC23 halves); absent = all. */
      readonly scope?: GrantNeed;
    };
    readonly rate?: RateNeed;
    /** Several rate-limited rules granted parts: every one's rate (`rate` first); a token of each, or none. */
    readonly rates?: readonly RateNeed[];
    /**
     * `lockMode: strict`: writes refused (`fleet-stale`) once the fleet view is older than maxStalenessMs (null:
     * the gateway's default) — or than the default too, when `defaultRuleId` is set (the tighter binds).
     */
    readonly strict?: {
      readonly ruleId: string;
      readonly maxStalenessMs: number | null;
      readonly defaultRuleId?: string;
    };
  };
  /**
   * Every granting rule is `essential: true`: a trust downgrade (read-only, session end by score) never blocks
   * this request; locks, JIT and rate still do [IEC 62443-3-3 SR 1.1 guidance].
   */
  readonly essential?: boolean;
}

/**
 * A gate's answer. A refusal is a value with a code from the one table (`GATE_REASON_CODES`, gateway/reasons.ts)
 * and a detail ('' when the code says it all); its audit text is `reasonText(code, detail)`.
 */
export type GateResult =
  | { readonly effect: 'allow'; readonly grantId?: string }
  | { readonly effect: 'deny'; readonly code: GateReasonCode; readonly detail: string; readonly grantId?: string };

/** Admission at the handshake: a refusal's code is the `handshake.rejected` code. */
export type AdmitResult =
  { readonly ok: true } | { readonly ok: false; readonly code: GateReasonCode; readonly detail: string };

export interface RuntimeGate {
  /** At handshake: locks, terminate-on-breach, max concurrent sessions per identity. */
  admit(peer: SessionPeer, now: number): AdmitResult;
  /** Per request, after the policy allowed it: JIT grants, rate limits, read-only downgrade, locks. */
  check(session: GateSession, device: string, req: ClassifiedRequest, verdict: PolicyVerdict, now: number): GateResult;
  /** Feeds behaviour baselines with what happened (never while the identity is in breach). */
  observe(session: GateSession, device: string, req: ClassifiedRequest, denied: boolean, now: number): void;
}

/**
 * The same gates for PROFINET record services (read/write one record): locks (identity, role, device),
 * the read-only downgrade refusing writes unless the verdict is essential, rate obligations, JIT grants with
 * `table: 'records'` covering the record index. `observeRecord` feeds the same baselines (rate, writes,
 * denials, novelty by record). The request object given to `checkRecord` must be the one given to
 * `observeRecord` (what check learned about it is kept by identity, not by key).
 */
export interface RecordGate {
  checkRecord(
    session: GateSession,
    device: string,
    req: RecordRequest,
    verdict: PolicyVerdict,
    now: number,
  ): GateResult;
  observeRecord(session: GateSession, device: string, req: RecordRequest, denied: boolean, now: number): void;
}

/** The live sessions as the runtime acts on them; implemented by frontdoor/SessionRegistry. */
export interface SessionView {
  all(): Iterable<GateSession>;
  countFor(identity: string): number;
  endMatching(predicate: (s: GateSession) => boolean, reason: string): number;
}
