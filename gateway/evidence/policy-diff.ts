/**
 * `verigate policy diff old.yaml new.yaml`: what changed between two policies, in plain words — rules added
 * and removed (by id), and per kept rule: principals and devices added/removed, register ranges and written
 * values widened or narrowed (computed on the address space, not on the text: `0-9` + `10-19` equals `0-19`),
 * function codes, rate, JIT, schedule, effect, mode; and the top-level settings. The review a shift lead signs.
 * Units (compared as sets; unit 0 = broadcast), rate, JIT and schedule say which way they move the policy too: a
 * rule that now names unit 0, or loses its JIT, schedule or rate, or gets a higher rate, applies more.
 *
 * Widened / narrowed speak of what the POLICY lets through, not of the rule's text: growing a deny rule (more
 * registers, values, principals, devices or functions) narrows the policy, shrinking it widens the policy. In
 * the summary an added allow rule and a removed deny rule count as widening, a removed allow rule and an added
 * deny rule as narrowing (shadow rules enforce nothing and count as neither).
 */
import type { Table } from '../../protocols/modbus/types.js';
import type { FunctionEntrySource, PolicySource, RuleSource } from '../policy/policy-source.js';
import { parseRangeSpec, parseRate, type Interval } from '../policy/ranges.js';

const TABLES: readonly Table[] = ['holding', 'input', 'coils', 'discrete'];

export interface PolicyDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** rule id → what changed, one line each. */
  readonly changed: ReadonlyMap<string, readonly string[]>;
  readonly topLevel: readonly string[];
  /** Counts of widening and narrowing statements (a grant that grew / shrank). */
  readonly widened: number;
  readonly narrowed: number;
}

export function diffPolicies(a: PolicySource, b: PolicySource): PolicyDiff {
  const before = new Map(a.rules.map((r) => [r.id, r]));
  const after = new Map(b.rules.map((r) => [r.id, r]));
  const added = b.rules.filter((r) => !before.has(r.id)).map(describeRule);
  const removed = a.rules.filter((r) => !after.has(r.id)).map(describeRule);
  const changed = new Map<string, string[]>();
  const tally = { widened: 0, narrowed: 0 };
  for (const r of b.rules) if (!before.has(r.id)) countRule(r, 'added', tally);
  for (const r of a.rules) if (!after.has(r.id)) countRule(r, 'removed', tally);
  for (const r of a.rules) {
    const n = after.get(r.id);
    if (n === undefined) continue;
    const lines = ruleChanges(r, n, tally);
    if (lines.length > 0) changed.set(r.id, lines);
  }
  return { added, removed, changed, topLevel: topLevelChanges(a, b), ...tally };
}

type Tally = { widened: number; narrowed: number };

/** An added allow / removed deny rule widens the policy; a removed allow / added deny rule narrows it. */
function countRule(r: RuleSource, how: 'added' | 'removed', tally: Tally): void {
  if (r.mode === 'shadow') return;
  if (((r.effect ?? 'allow') === 'allow') === (how === 'added')) tally.widened++;
  else tally.narrowed++;
}

/** The policy-level word for a change of a rule's grant: inverted for a deny rule. */
function direction(grew: boolean, deny: boolean): 'widened' | 'narrowed' {
  return grew !== deny ? 'widened' : 'narrowed';
}

export function formatDiff(d: PolicyDiff): string[] {
  const out: string[] = [];
  if (d.added.length > 0) out.push(`rules added (${d.added.length}):`, ...d.added.map((s) => `  + ${s}`));
  if (d.removed.length > 0) out.push(`rules removed (${d.removed.length}):`, ...d.removed.map((s) => `  - ${s}`));
  if (d.changed.size > 0) {
    out.push(`rules changed (${d.changed.size}):`);
    for (const [id, lines] of d.changed) out.push(`  ~ ${id}:`, ...lines.map((l) => `      ${l}`));
  }
  if (d.topLevel.length > 0) out.push('policy settings:', ...d.topLevel.map((l) => `  ~ ${l}`));
  if (out.length === 0) out.push('no difference in rules or settings');
  out.push(
    `summary: ${d.added.length} added, ${d.removed.length} removed, ${d.changed.size} changed; ${d.widened} widening and ${d.narrowed} narrowing statement(s)`,
  );
  return out;
}

/** `allow spiffe://…/hmi/line1 on turbine-1: write holding 100-109 (values 0..3600); read holding 0-99` */
function describeRule(r: RuleSource): string {
  const effect = r.effect ?? 'allow';
  const entries = (effect === 'allow' ? r.allow : r.deny) ?? [];
  const grants = entries.map(
    (e) =>
      `${e.access} ${tablesOf(e).join('+')} ${spec(e.addresses)}${e.values !== undefined ? ` (values ${spec(e.values)})` : ''}`,
  );
  if (r.functions) grants.push(`functions ${r.functions.map(fnText).join(', ')}`);
  if (r.profinet) grants.push(`${r.profinet.length} PROFINET record entr${r.profinet.length === 1 ? 'y' : 'ies'}`);
  const extras = [
    r.rate ? `rate ${r.rate}` : '',
    r.jit ? 'JIT' : '',
    r.schedule ? 'scheduled' : '',
    r.mode === 'shadow' ? 'SHADOW' : '',
  ].filter((x) => x !== '');
  const what = grants.length > 0 ? grants.join('; ') : effect === 'deny' ? 'everything' : 'nothing';
  return `${r.id}: ${effect} ${r.principals.join(', ')} on ${r.devices.join(', ')}: ${what}${extras.length > 0 ? ` [${extras.join(', ')}]` : ''}`;
}

function ruleChanges(a: RuleSource, b: RuleSource, tally: Tally): string[] {
  const out: string[] = [];
  const effectA = a.effect ?? 'allow';
  const effectB = b.effect ?? 'allow';
  // a rule that changes effect: that line is the verdict; its content lines are not counted again
  const counted = effectA === effectB && (b.mode ?? 'enforce') === 'enforce';
  const deny = effectB === 'deny';
  const count = (w: 'widened' | 'narrowed', n: number): void => {
    if (counted) tally[w] += n;
  };
  const list = (what: string, x: readonly string[], y: readonly string[]): void => {
    const add = y.filter((v) => !x.includes(v));
    const del = x.filter((v) => !y.includes(v));
    if (add.length > 0) out.push(`${what} added: ${add.join(', ')} — ${direction(true, deny)}`);
    if (del.length > 0) out.push(`${what} removed: ${del.join(', ')} — ${direction(false, deny)}`);
    count(direction(true, deny), add.length);
    count(direction(false, deny), del.length);
  };
  const scalar = (what: string, x: unknown, y: unknown): void => {
    const s = (v: unknown): string => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));
    if (s(x) !== s(y)) out.push(`${what}: ${s(x)} → ${s(y)}`);
  };
  scalar('effect', effectA, effectB);
  if (effectA !== effectB && (b.mode ?? 'enforce') === 'enforce') tally[direction(effectB === 'allow', false)]++;
  scalar('mode', a.mode ?? 'enforce', b.mode ?? 'enforce');
  list('principals', a.principals, b.principals);
  list('devices', a.devices, b.devices);
  // where and when the rule applies: a scalar line with the direction it moves the policy, when it has one
  const scoped = (what: string, x: unknown, y: unknown, grew: 'grew' | 'shrank' | 'changed'): void => {
    const before = out.length;
    scalar(what, x, y);
    if (out.length === before || grew === 'changed') return;
    const word = direction(grew === 'grew', deny);
    out[before] += ` — ${word}`;
    count(word, 1);
  };
  scoped('units', a.units, b.units, unitsChange(a, b));
  out.push(...registerChanges(a, b, deny, count));
  list('functions', (a.functions ?? []).map(fnText), (b.functions ?? []).map(fnText));
  scalar('PROFINET record entries', a.profinet, b.profinet);
  scoped('rate', a.rate, b.rate, rateChange(a.rate, b.rate));
  scoped('jit', a.jit, b.jit, presenceChange(a.jit, b.jit));
  scoped('schedule', a.schedule, b.schedule, presenceChange(a.schedule, b.schedule));
  scalar('essential', a.essential ?? false, b.essential ?? false);
  return out;
}

/**
 * The units a rule applies to, as a write sees it (judged-request.ts `isActive`): the named ones, else every
 * server — but broadcast (unit 0) only for a deny rule: an allow rule grants a broadcast only by naming unit 0.
 */
function unitsOf(r: RuleSource): readonly Interval[] | null {
  if (r.units === undefined) return (r.effect ?? 'allow') === 'deny' ? [[0, 255]] : [[1, 255]];
  const u = parseRangeSpec(r.units, 255);
  return u.ok ? u.value : null;
}

function unitsChange(a: RuleSource, b: RuleSource): 'grew' | 'shrank' | 'changed' {
  const x = unitsOf(a);
  const y = unitsOf(b);
  return x === null || y === null ? 'changed' : wider(x, y);
}

/** A limit (jit, schedule) the rule loses lets it apply more; one it gains, less; one that changes, neither. */
function presenceChange(before: unknown, after: unknown): 'grew' | 'shrank' | 'changed' {
  if (before !== undefined && after === undefined) return 'grew';
  if (before === undefined && after !== undefined) return 'shrank';
  return 'changed';
}

/** No rate is no limit; a higher rate lets more through. */
function rateChange(x: string | undefined, y: string | undefined): 'grew' | 'shrank' | 'changed' {
  const perSecond = (r: string | undefined): number => {
    if (r === undefined) return Infinity;
    const p = parseRate(r);
    return p.ok ? p.value : Number.NaN;
  };
  const [px, py] = [perSecond(x), perSecond(y)];
  return py > px ? 'grew' : py < px ? 'shrank' : 'changed';
}

/**
 * Per access and table: addresses now covered / no longer covered, and written values widened/narrowed — for
 * a deny rule (`deny`), covering more narrows the policy.
 */
function registerChanges(
  a: RuleSource,
  b: RuleSource,
  deny: boolean,
  count: (w: 'widened' | 'narrowed', n: number) => void,
): string[] {
  const verb = deny ? 'denied' : 'allowed';
  const out: string[] = [];
  for (const access of ['write', 'read'] as const) {
    for (const table of TABLES) {
      const x = coverage(a, access, table);
      const y = coverage(b, access, table);
      for (const piece of compare(x, y)) {
        const where = `${access} ${table} ${piece.lo === piece.hi ? piece.lo : `${piece.lo}-${piece.hi}`}`;
        const grew =
          piece.before === undefined ? 'grew' : piece.after === undefined ? 'shrank' : wider(piece.before, piece.after);
        const word = grew === 'changed' ? 'changed' : direction(grew === 'grew', deny);
        if (piece.before === undefined)
          out.push(
            `${where} now ${verb}${access === 'write' ? ` (values ${valuesText(piece.after ?? null)})` : ''} — ${word}`,
          );
        else if (piece.after === undefined) out.push(`${where} no longer ${verb} — ${word}`);
        else out.push(`${where} values ${valuesText(piece.before)} → ${valuesText(piece.after)} — ${word}`);
        // a change that is neither (values moved) counts as narrowing: some values are lost
        count(word === 'changed' ? 'narrowed' : word, 1);
      }
    }
  }
  return out;
}

/** Written values over an address piece: null = any value; undefined = not covered. */
type Values = readonly Interval[] | null;
interface Covered {
  readonly lo: number;
  readonly hi: number;
  readonly values: Values;
}

function coverage(r: RuleSource, access: 'read' | 'write', table: Table): Covered[] {
  const entries = ((r.effect ?? 'allow') === 'allow' ? r.allow : r.deny) ?? [];
  const out: Covered[] = [];
  for (const e of entries) {
    if (!(e.access === access || e.access === 'read-write') || !tablesOf(e).includes(table)) continue;
    const addrs = parseRangeSpec(e.addresses, 65535);
    const vals = access === 'write' && e.values !== undefined ? parseRangeSpec(e.values, 65535) : null;
    if (!addrs.ok) continue;
    for (const [lo, hi] of addrs.value)
      out.push({ lo, hi, values: vals === null ? null : vals.ok ? vals.value : null });
  }
  return out;
}

interface Piece {
  lo: number;
  hi: number;
  before: Values | undefined;
  after: Values | undefined;
}

/** Elementary address pieces where coverage differs, adjacent equal changes merged. */
function compare(x: readonly Covered[], y: readonly Covered[]): Piece[] {
  const cuts = new Set<number>();
  for (const c of [...x, ...y]) {
    cuts.add(c.lo);
    cuts.add(c.hi + 1);
  }
  const points = [...cuts].sort((p, q) => p - q);
  const out: Piece[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const lo = points[i]!;
    const hi = points[i + 1]! - 1;
    const before = valuesAt(x, lo);
    const after = valuesAt(y, lo);
    if (key(before) === key(after)) continue;
    const last = out[out.length - 1];
    if (last !== undefined && last.hi + 1 === lo && key(last.before) === key(before) && key(last.after) === key(after))
      last.hi = hi;
    else out.push({ lo, hi, before, after });
  }
  return out;
}

/** Union of the values of the entries covering `a` (null if any allows every value); undefined if none. */
function valuesAt(list: readonly Covered[], a: number): Values | undefined {
  let found = false;
  const acc: Interval[] = [];
  for (const c of list) {
    if (a < c.lo || a > c.hi) continue;
    if (c.values === null) return null;
    found = true;
    acc.push(...c.values);
  }
  return found ? merge(acc) : undefined;
}

function merge(list: readonly Interval[]): Interval[] {
  const sorted = [...list].sort((p, q) => p[0] - q[0]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function key(v: Values | undefined): string {
  return v === undefined ? 'none' : v === null ? 'any' : JSON.stringify(v);
}

function valuesText(v: Values): string {
  return v === null ? 'any' : v.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}..${hi}`)).join(', ');
}

/** Is `b` a superset (grew), a subset (shrank), or neither (changed) of `a`? */
function wider(a: Values, b: Values): 'grew' | 'shrank' | 'changed' {
  if (b === null) return 'grew';
  if (a === null) return 'shrank';
  const within = (x: readonly Interval[], y: readonly Interval[]): boolean =>
    x.every(([lo, hi]) => y.some(([l, h]) => l <= lo && hi <= h));
  if (within(a, b)) return 'grew';
  if (within(b, a)) return 'shrank';
  return 'changed';
}

function tablesOf(e: { table?: Table; tables?: readonly Table[] }): readonly Table[] {
  return e.table !== undefined ? [e.table] : (e.tables ?? []);
}

function spec(s: number | string | readonly (number | string)[]): string {
  return Array.isArray(s) ? s.join(', ') : String(s);
}

function fnText(f: FunctionEntrySource): string {
  return typeof f === 'number' ? `${f}` : f.sub ? `${f.fc}/${f.sub.join('+')}` : `${f.fc}`;
}

function topLevelChanges(a: PolicySource, b: PolicySource): string[] {
  const out: string[] = [];
  const s = (v: unknown): string => (v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));
  const pairs: [string, unknown, unknown][] = [
    ['trustDomain', a.trustDomain, b.trustDomain],
    ['mode', a.mode ?? 'enforce', b.mode ?? 'enforce'],
    ['roles', a.roles, b.roles],
    ['admins', a.admins, b.admins],
    ['trust', a.trust, b.trust],
    ['session', a.session, b.session],
  ];
  for (const [what, x, y] of pairs) if (s(x) !== s(y)) out.push(`${what}: ${s(x)} → ${s(y)}`);
  const ta = a.tests?.length ?? 0;
  const tb = b.tests?.length ?? 0;
  if (ta !== tb) out.push(`tests: ${ta} → ${tb}`);
  return out;
}
