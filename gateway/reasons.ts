/**
 * Why a request was refused, as values: a stable code from one table and a detail (what exactly: the
 * register, the value, the function, the rule …). The audit event field `reason` is a public contract
 * (docs/reference.md, docs/policy.md "Semantics"): it is the text `<code> <detail>` (or the code alone), made
 * only by `reasonText()`; code that holds a decision reads `code` and `detail`, never the text.
 * `reasonCode()` is the inverse, for the text of an audit event (the audit throttle, `policy learn`).
 * Importable from every layer (docs/architecture.md "What may import what").
 */

/** Every reason code the policy gives; the runtime gates add their own (docs/reference.md). */
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
  'shadow-mode',
] as const;

export type PolicyReasonCode = (typeof POLICY_REASON_CODES)[number];

/** A deny reason: `detail` is '' when the code says it all (`no-rule`, `broadcast-not-allowed`). */
export interface PolicyReason {
  readonly code: PolicyReasonCode;
  readonly detail: string;
}

const CODES: ReadonlySet<string> = new Set(POLICY_REASON_CODES);

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
