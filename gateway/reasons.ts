/**
 * Why a request was refused, as values: a stable code from one table and a detail (what exactly: the
 * register, the value, the function, the rule …). The audit event field `reason` is a public contract
 * (docs/reference.md, docs/policy.md "Semantics"): it is the text `<code> <detail>` (or the code alone), made
 * only by `reasonText()`; code that holds a decision reads `code` and `detail`, never the text.
 * `reasonCode()` is the inverse, for the text of an audit event (the audit throttle, `policy learn`).
 * Importable from every layer (docs/architecture.md "What may import what").
 */

/** Every reason code the policy gives; the runtime gates add theirs (`GATE_REASON_CODES` below). */
export const POLICY_REASON_CODES = [
  'allowed',
  'no-rule',
  'explicit-deny',
  'address-not-allowed',
  'value-not-allowed',
  'function-not-allowed',
  'broadcast-not-allowed',
  'unit-not-allowed',
  'outside-schedule',
  'malformed-request',
  'index-not-allowed',
  'length-not-allowed',
  /** PROFINET: a write to a container record (WriteMultiple, CombinedObjectContainer) whose contents cannot be judged. */
  'container-not-judged',
  'shadow-mode',
] as const;

export type PolicyReasonCode = (typeof POLICY_REASON_CODES)[number];

/** A deny reason: `detail` is '' when the code says it all (`no-rule`, `broadcast-not-allowed`). */
export interface PolicyReason {
  readonly code: PolicyReasonCode;
  readonly detail: string;
}

const CODES: ReadonlySet<string> = new Set(POLICY_REASON_CODES);

/**
 * Every reason code the runtime gates give (gateway/trust/runtime-gate.ts: `check`, `checkRecord` after the
 * policy allowed a request; `admit` at the handshake, where the code is the `handshake.rejected` code and the
 * metric's `reason` label). The detail each one carries is in docs/reference.md.
 */
export const GATE_REASON_CODES = [
  /** A lock matches the identity, role or device (request: detail the lock id; admission: ''). */
  'locked',
  /** The lock store cannot be read: fail closed, everything refused. */
  'lock-store-unavailable',
  /** The identity's trust is downgraded (or the session set read-only): writes refused unless `essential`. */
  'trust-read-only',
  /** The rule's rate obligation has no token left; detail the rule id. */
  'rate-limited',
  /** The rule needs a JIT grant and none covers the request; detail the rule id. */
  'jit-required',
  /** The covering grant is locked; detail the grant id. */
  'grant-locked',
  /** A JIT rule applies and the grant store cannot be read. */
  'grant-store-unavailable',
  /** A write under a `lockMode: strict` rule while the box's view of the fleet hub is older than its maxStaleness; detail the rule id. */
  'fleet-stale',
  /** Admission: the identity's trust ended (terminate on breach). */
  'trust-breach',
  /** Admission: `session.maxPerIdentity` reached. */
  'too-many-sessions',
] as const;

export type GateReasonCode = (typeof GATE_REASON_CODES)[number];

export function isPolicyReasonCode(s: string): s is PolicyReasonCode {
  return CODES.has(s);
}

/** The audit text of a reason: `<code> <detail>`, or the code alone. The one place it is made. */
export function reasonText(code: string, detail: string): string {
  return detail === '' ? code : `${code} ${detail}`;
}

/** The code of an audit `reason` text (its first word): for text read back, not for a Decision (use `.code`). */
export function reasonCode(text: string): string {
  const i = text.indexOf(' ');
  return i < 0 ? text : text.slice(0, i);
}

/**
 * Why a live session ended: the `session.close` event's `reason` (docs/zero-trust.md "Session lifecycle"). Two more
 * carry a detail and are built where they happen: `admin-kill by <caller>: <reason>` and `malformed-frame:<reason>`.
 */
export const SESSION_END_REASONS = [
  /** The client closed the connection. */
  'peer-closed',
  /** The peer SVID's NotAfter came (frontdoor/session-expiry.ts). */
  'svid-expired',
  /** A trust bundle change: the peer's chain no longer verifies (frontdoor/live-chains.ts). */
  'bundle-revoked',
  'idle-timeout',
  'revalidation-failed',
  'locked',
  'trust-breach',
  'policy-revoked',
  /** The audit rate bound's denial-flood hold-off (audit/rate-bounded-audit.ts). */
  'denial-flood',
  'gateway-shutdown',
] as const;

export type SessionEndReason = (typeof SESSION_END_REASONS)[number];
