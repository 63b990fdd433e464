/**
 * The in-file `tests:` of a proposed policy: requests drawn from the observed traffic (must be allowed) and
 * near-misses just outside what a learned rule grants — the next address past a range, a value just past
 * the bound — which must be denied. Every candidate is judged by the real evaluator on the compiled proposal
 * (through `explain`, i.e. the codec, as the tests themselves will be): an allow sample that is not allowed is
 * a bug and is reported; a near-miss another rule happens to allow is dropped.
 */
import type { ClassifiedRequest, Table } from '../../protocols/modbus/types.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { reasonCode } from '../policy/compiled-policy.js';
import { explain } from '../policy/explain.js';
import type { PolicyTestSource } from '../policy/policy-source.js';
import type { ProposedRule } from './learn-rules.js';
import { parseRangeSpec, type Interval } from '../policy/ranges.js';

/** Near-miss tests per rule, at most. */
const MAX_NEAR_MISSES = 8;
/** Units tried for the unit near-miss, at most (each is one evaluation). */
const MAX_UNIT_TRIES = 8;
const READ_FC: Record<Table, number> = { coils: 1, discrete: 2, holding: 3, input: 4 };

export interface GeneratedTests {
  readonly tests: PolicyTestSource[];
  /** Observed requests the proposal does not allow (should be none). */
  readonly problems: string[];
}

export function generateTests(policy: CompiledPolicy, rules: readonly ProposedRule[]): GeneratedTests {
  const tests: PolicyTestSource[] = [];
  const problems: string[] = [];
  for (const rule of rules) {
    // one test per identity and request, not per unit too: the rule grants every unit it names alike, and with
    // 247 units behind a gateway that would be 247 copies; the unit near-miss pins the units down
    const tested = new Set<string>();
    for (const g of rule.groups) {
      for (const req of g.samples) {
        const q = sampleQuery(g.identity, rule.device, req);
        if (q === null) continue;
        const d = judge(policy, q);
        if (d === null || d.effect !== 'allow') {
          problems.push(
            `${rule.id}: observed ${describe(q)} is not allowed by the proposal (${d?.reason ?? 'cannot be built'})`,
          );
          continue;
        }
        const key = JSON.stringify({ ...q, unit: undefined });
        if (tested.has(key)) continue;
        tested.add(key);
        tests.push({
          name: `${rule.id}: observed ${describe(q)}`,
          ...q,
          expect: 'allow',
          ...(d.ruleId === rule.id ? { rule: rule.id } : {}),
        });
      }
    }
    let kept = 0;
    for (const q of nearMisses(rule, policy)) {
      if (kept >= MAX_NEAR_MISSES) break;
      const d = judge(policy, q);
      if (d === null || d.effect !== 'deny') continue;
      tests.push({ name: `${rule.id}: near-miss ${describe(q)}`, ...q, expect: 'deny', reason: reasonCode(d.reason) });
      kept++;
    }
  }
  return { tests, problems };
}

type Query = Omit<PolicyTestSource, 'expect' | 'name'>;

function judge(
  policy: CompiledPolicy,
  q: Query,
): { effect: 'allow' | 'deny'; ruleId: string | null; reason: string } | null {
  try {
    return explain(policy, q, { ignoreSchedulesWithoutAt: true }).decision;
  } catch {
    return null;
  }
}

/** A recorded request as a policy test (the register and device-id codes; others are not generated). */
export function sampleQuery(id: string, device: string, req: ClassifiedRequest): Query | null {
  const base = { id, device, fc: req.fc, ...(req.unit !== 1 ? { unit: req.unit } : {}) };
  const r = req.reads[0];
  const w = req.writes[0];
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      return r === undefined ? null : { ...base, address: r.start, count: r.count };
    case 5:
    case 6:
      return w?.values?.[0] === undefined ? null : { ...base, address: w.start, value: w.values[0] };
    case 15:
    case 16:
      return w?.values == null ? null : { ...base, address: w.start, values: [...w.values] };
    case 23:
      return w?.values == null || r === undefined
        ? null
        : { ...base, address: w.start, values: [...w.values], readAddress: r.start, readCount: r.count };
    case 43:
      return req.subFunction === 14 ? { ...base, subFunction: 14 } : null;
    default:
      return null;
  }
}

/**
 * Requests just outside what the rule grants: an observed request at a unit the rule does not name, past each
 * range, before it, in a gap, a value past the bound. The range and value near-misses go to a unit the rule
 * names: at any other unit they would be denied for the unit and prove nothing about the ranges.
 */
function* nearMisses(rule: ProposedRule, policy: CompiledPolicy): Generator<Query> {
  const named = parseRangeSpec(rule.units, 255);
  const units = named.ok ? named.value : [];
  for (const q of otherUnitQueries(rule, units))
    if (judge(policy, q)?.effect === 'deny') {
      yield q;
      break;
    }
  const unit = units[0]?.[0] ?? 1;
  const at = { id: rule.identities[0]!, device: rule.device, ...(unit !== 1 ? { unit } : {}) };
  for (const { entry } of rule.entries) {
    const tables = entry.table !== undefined ? [entry.table] : (entry.tables ?? []);
    const parsed = parseRangeSpec(entry.addresses, 65535);
    if (!parsed.ok) continue;
    const ranges = parsed.value;
    for (const table of tables) {
      if (entry.access === 'read') {
        for (const a of outside(ranges)) yield { ...at, fc: READ_FC[table], address: a, count: 1 };
        continue;
      }
      const writeFc = table === 'coils' ? 5 : 6;
      const allowed = valuesOf(entry.values, table);
      const some = allowed[0]?.[0] ?? 0;
      for (const a of outside(ranges)) yield { ...at, fc: writeFc, address: a, value: some };
      const bad = valueOutside(allowed, table === 'coils' ? 1 : 65535);
      if (bad !== null) yield { ...at, fc: writeFc, address: ranges[0]![0], value: bad };
    }
  }
}

/**
 * The rule's first observed request sent to each unicast unit id it does not name, lowest first (a few). The
 * lowest one that is denied makes the test: when another rule of the identity names that unit (the next slave
 * behind a Modbus gateway), it shows that this rule's registers do not reach it; when that other rule happens
 * to allow the request, the next unit is tried.
 */
function* otherUnitQueries(rule: ProposedRule, units: readonly Interval[]): Generator<Query> {
  const sample = firstSample(rule);
  if (sample === null) return;
  let tries = 0;
  for (let unit = 1; unit <= 255 && tries < MAX_UNIT_TRIES; unit++) {
    if (units.some(([lo, hi]) => lo <= unit && unit <= hi)) continue;
    tries++;
    yield { ...sample, unit };
  }
}

function firstSample(rule: ProposedRule): Query | null {
  for (const g of rule.groups)
    for (const req of g.samples) {
      const q = sampleQuery(g.identity, rule.device, req);
      if (q !== null) return q;
    }
  return null;
}

/** The address after each range, the one before the first, and the first of each gap (inside 0..65535). */
function outside(ranges: readonly Interval[]): number[] {
  const out: number[] = [];
  const last = ranges[ranges.length - 1];
  if (last !== undefined && last[1] < 65535) out.push(last[1] + 1);
  const first = ranges[0];
  if (first !== undefined && first[0] > 0) out.push(first[0] - 1);
  for (let i = 0; i + 1 < ranges.length; i++) out.push(ranges[i]![1] + 1);
  return out;
}

function valuesOf(spec: RegisterEntrySourceValues, table: Table): readonly Interval[] {
  if (spec === undefined) return [[0, table === 'coils' ? 1 : 65535]];
  const p = parseRangeSpec(spec, 65535);
  return p.ok ? p.value : [];
}

type RegisterEntrySourceValues = number | string | readonly (number | string)[] | undefined;

/** The smallest value above the allowed set, else the largest below it; null when every value is allowed. */
function valueOutside(allowed: readonly Interval[], top: number): number | null {
  const last = allowed[allowed.length - 1];
  if (last !== undefined && last[1] < top) return last[1] + 1;
  const first = allowed[0];
  if (first !== undefined && first[0] > 0) return first[0] - 1;
  for (let i = 0; i + 1 < allowed.length; i++) if (allowed[i]![1] + 1 < allowed[i + 1]![0]) return allowed[i]![1] + 1;
  return null;
}

function describe(q: Query): string {
  const at = q.address === undefined ? '' : ` @${q.address}`;
  const v =
    q.value !== undefined
      ? `=${q.value}`
      : q.values !== undefined
        ? `=[${q.values.slice(0, 4).join(',')}${q.values.length > 4 ? ',…' : ''}]`
        : '';
  const n = q.count !== undefined && q.count > 1 ? `×${q.count}` : '';
  const u = q.unit === undefined ? '' : ` unit ${q.unit}`;
  return `fc${q.fc}${at}${n}${v}${u}`;
}
