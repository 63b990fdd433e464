/**
 * What a grant may cover, as pure functions of the grant, the request and the JIT rule (grant-service.ts):
 * a grant lies inside one entry of its rule, and covers a request only within its own table and range.
 */
import type { Table } from '../../protocols/modbus/types.js';
import type { CompiledRule } from '../policy/compiled-policy.js';
import type { Grant, GrantRequest } from './grant-types.js';
import type { GrantNeed } from './runtime-gate.js';

/** The same grant as the hub wrote it: every field compared, keys in any order. */
export function sameGrant(a: Grant, b: Grant): boolean {
  const canonical = (g: Grant): string =>
    JSON.stringify(
      Object.entries(g)
        .filter(([, v]) => v !== undefined)
        .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
    );
  return canonical(a) === canonical(b);
}

/**
 * Does grant `g` cover every range of `need`, within its access? A grant names registers (or record indices),
 * never functions: a need with no range — FC8 diagnostics, FC43, FC20/21 file records, user-defined and unknown
 * codes, which touch no register — is covered by no grant (`[].every(…)` would let a one-register read grant
 * cover an FC8 restart). Such a function under a `jit` rule stays `jit-required` (docs/zero-trust.md).
 */
export function coversNeed(g: Grant, need: GrantNeed): boolean {
  if (need.reads.length === 0 && need.writes.length === 0) return false;
  return (
    need.reads.every((r) => g.access !== 'write' && covers(g, r)) &&
    need.writes.every((w) => g.access !== 'read' && covers(g, w))
  );
}

function covers(g: Grant, r: { table: Table; start: number; count: number }): boolean {
  // a `records` grant never equals a Modbus table: it covers no register
  return r.table === g.table && r.start >= g.start && r.start + r.count - 1 <= g.end;
}

/** A grant may only ask for what one entry of its JIT rule allows: same table, access and address span.
 * Then a request covered by the grant is also wholly inside that rule (no borrowing another rule's range). */
export function withinRule(rule: CompiledRule, req: GrantRequest): boolean {
  if (req.table === 'records') return withinRecordEntries(rule, req);
  return rule.entries.some(
    (e) =>
      e.tables.includes(req.table as Table) &&
      (req.access !== 'write' || e.write) &&
      (req.access !== 'read' || e.read) &&
      (req.access !== 'read-write' || (e.read && e.write)) &&
      e.addresses.some(([lo, hi]) => lo <= req.start && req.end <= hi),
  );
}

/** A `records` grant: each access it asks for lies inside one `profinet:` entry of that access (index range). */
function withinRecordEntries(rule: CompiledRule, req: GrantRequest): boolean {
  const accesses: readonly ('read' | 'write')[] = req.access === 'read-write' ? ['read', 'write'] : [req.access];
  return accesses.every((access) =>
    rule.profinet.some((e) => e.access === access && e.indices.some(([lo, hi]) => lo <= req.start && req.end <= hi)),
  );
}
