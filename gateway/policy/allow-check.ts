/**
 * The allow side of a decision: default deny, and no partial grants. Every register the request touches must
 * be granted by an active allow entry, else the WHOLE request is denied with the first refusal; a function
 * code that is not a read or a write must be named by an active rule (with its sub-function when the rule
 * lists them). What granted what is recorded in `Grants`.
 */
import type { CompiledEntry, RuleSetView, Segment, Segments } from './compiled-policy.js';
import type { Grants } from './grants.js';
import {
  coversSubFunction,
  functionLabel,
  inactiveReason,
  isActive,
  isRegisterAccess,
  type JudgedRequest,
  type Refusal,
  type Target,
} from './judged-request.js';
import { findSegment } from './policy-index.js';
import { inIntervals } from './ranges.js';

const NO_REGISTERS: Refusal = Object.freeze({ code: 'malformed-request', detail: 'no registers' });

/** Null when `view`'s allow rules grant the whole request (recorded in `grants`), else the first refusal. */
export function allowCheck(view: RuleSetView, r: JudgedRequest, grants: Grants): Refusal | null {
  if (isRegisterAccess(r.req)) {
    if (r.targets.length === 0) return NO_REGISTERS;
  } else {
    const refused = grantFunction(view, r, grants);
    if (refused !== null) return refused;
  }
  for (const t of r.targets) {
    const refused = grantTarget((t.access === 'read' ? view.read : view.write)[t.table], t, r, grants);
    if (refused !== null) return refused;
  }
  return null;
}

/** Diagnostics, device id, file records, FIFO, user-defined, unknown codes: only a rule naming them grants. */
function grantFunction(view: RuleSetView, r: JudgedRequest, grants: Grants): Refusal | null {
  const naming = (view.functions.get(r.req.fc) ?? []).filter((rule) => coversSubFunction(rule, r.req));
  const rule = naming.find((n) => isActive(n, r, true));
  if (rule !== undefined) {
    grants.grantFunction(rule);
    return null;
  }
  const inactive = naming[0];
  return inactive !== undefined
    ? inactiveReason(inactive, r)
    : { code: 'function-not-allowed', detail: functionLabel(r.req) };
}

/** Walks the segments over `t`, address by address from its start: a gap is a refusal. */
function grantTarget(segments: Segments | null, t: Target, r: JudgedRequest, grants: Grants): Refusal | null {
  if (segments === null) return addressNotAllowed(t, t.start);
  let i = findSegment(segments, t.start);
  for (let addr = t.start; addr <= t.end; i++) {
    const seg = segments[i];
    if (seg === undefined || seg.lo > addr || seg.hi < addr) return addressNotAllowed(t, addr);
    const refused = grantPiece(seg, t, r, grants);
    if (refused !== null) return refused;
    addr = seg.hi + 1;
  }
  return null;
}

/**
 * The part of `t` inside `seg`. Preference order (rules needing no JIT grant first, then file order): the
 * first active entry that allows the whole part — any value, or every written value — grants it. Otherwise
 * each address takes the first active entry allowing its own value.
 */
function grantPiece(seg: Segment, t: Target, r: JudgedRequest, grants: Grants): Refusal | null {
  const from = Math.max(seg.lo, t.start);
  const to = Math.min(seg.hi, t.end);
  let anyActive = false;
  for (const e of seg.entries) {
    if (!isActive(e.rule, r, true)) continue;
    anyActive = true;
    if (allowsValues(e, t, from, to)) {
      grants.grantRegisters(e.rule, t, from, to);
      return null;
    }
  }
  if (!anyActive) return inactiveReason(seg.entries[0].rule, r);
  // Only writes get here (a read is allowed by any active entry); an unknown value (FC22) needs `any`.
  if (t.values === null || t.values === undefined) return { code: 'value-not-allowed', detail: `${t.table}:${from}=?` };
  for (let a = from; a <= to; a++) {
    const v = t.values[a - t.start] ?? Number.NaN;
    const e = seg.entries.find((c) => (c.values === null || inIntervals(c.values, v)) && isActive(c.rule, r, true));
    if (e === undefined) return { code: 'value-not-allowed', detail: `${t.table}:${a}=${v}` };
    grants.grantRegisters(e.rule, t, a, a);
  }
  return null;
}

function addressNotAllowed(t: Target, addr: number): Refusal {
  return { code: 'address-not-allowed', detail: `${t.access} ${t.table}:${addr}` };
}

/** Does `e` allow what `t` writes at [from, to]: a read, any value, or every written value in its ranges? */
function allowsValues(e: CompiledEntry, t: Target, from: number, to: number): boolean {
  if (t.values === undefined || e.values === null) return true;
  if (t.values === null) return false; // unknown result (FC22): only an entry allowing any value
  for (let a = from; a <= to; a++) if (!inIntervals(e.values, t.values[a - t.start] ?? Number.NaN)) return false;
  return true;
}
