/**
 * Learned rules from the evidence groups (one per identity × device × unit, learn-evidence.ts), each group's
 * grants computed by learn-proposal.ts. Groups merge only where every principal × unit × grant of the merged
 * rule was itself observed (within the merge slack of learn-proposal.ts), in two exact steps:
 * 1. one identity's unicast units on a device whose grants (entries + functions) are identical share a rule
 *    that names them all (`units: [1-2]`);
 * 2. identities whose step-1 rules have the same device, units and grants share one rule, named by their SPIFFE
 *    ID pattern when that pattern covers no other identity seen in the trail.
 * Pooling registers across units instead would, behind a Modbus gateway whose units are different slaves on a
 * serial line, grant writes to one slave that were only seen at another. Unit 0 never merges with unicast units:
 * naming 0 grants broadcast writes, which must cover only what was broadcast. `units` lists the unit ids,
 * consecutive ones as a range ("3-5"): a rule without units would apply to every unit.
 */
import type { FunctionEntrySource } from '../policy/policy-source.js';
import type { GroupEvidence, LearnEvidence } from './learn-evidence.js';
import {
  entriesOf,
  functionsOf,
  mergeRuns,
  rangeText,
  type ProposalOptions,
  type ProposedEntry,
} from './learn-proposal.js';

export interface ProposedRule {
  readonly id: string;
  readonly principals: readonly string[];
  /** The observed identities behind the principals (tests use them). */
  readonly identities: readonly string[];
  readonly device: string;
  /** The unit ids seen, as the rule's `units:` (ranges compacted). */
  readonly units: readonly (number | string)[];
  readonly entries: readonly ProposedEntry[];
  readonly functions: readonly FunctionEntrySource[];
  readonly rate: string;
  /** The evidence, one line: requests, function codes, first/last seen, busiest second. */
  readonly evidence: string;
  /** The evidence groups behind the rule: one per identity × unit. */
  readonly groups: readonly GroupEvidence[];
}

/** Step 1: one identity's groups on one device that are granted alike. */
interface Alike {
  readonly identity: string;
  readonly device: string;
  readonly groups: GroupEvidence[];
  readonly entries: ProposedEntry[];
  readonly functions: FunctionEntrySource[];
  /** device, entries (with their notes) and functions as JSON: equal keys, equal grants. */
  readonly grants: string;
}

export function proposeRules(
  ev: LearnEvidence,
  seenIdentities: ReadonlySet<string>,
  takenIds: ReadonlySet<string>,
  o: ProposalOptions,
): ProposedRule[] {
  const perIdentity = alikeUnits(ev, o);
  const alike = new Map<string, Alike[]>();
  for (const a of perIdentity) {
    const key = `${JSON.stringify(unitsOf(a.groups))}\u0000${a.grants}`;
    alike.set(key, [...(alike.get(key) ?? []), a]);
  }
  const split = splitIdentities(perIdentity);
  const ids = new Set(takenIds);
  const out = [...alike.values()].map((as) => ruleOf(as, { ev, seenIdentities, split, ids, o }));
  return out.sort((a, b) => a.id.localeCompare(b.id));
}

/** Step 1: per identity × device, the units whose grants are identical (unit 0 apart from unicast ones). */
function alikeUnits(ev: LearnEvidence, o: ProposalOptions): Alike[] {
  const out = new Map<string, Alike>();
  for (const g of ev.groups.values()) {
    const entries = entriesOf(g, o);
    const functions = functionsOf(g);
    const grants = JSON.stringify([g.device, entries, functions]);
    const key = `${g.identity}\u0000${g.unit === 0 ? 'broadcast' : 'unicast'}\u0000${grants}`;
    const a = out.get(key);
    if (a !== undefined) a.groups.push(g);
    else out.set(key, { identity: g.identity, device: g.device, groups: [g], entries, functions, grants });
  }
  return [...out.values()];
}

/** identity × device keys whose unicast traffic was learned as more than one rule (their ids name a unit). */
function splitIdentities(perIdentity: readonly Alike[]): Set<string> {
  const seen = new Set<string>();
  const split = new Set<string>();
  for (const a of perIdentity) {
    if (a.groups[0]!.unit === 0) continue;
    const key = `${a.identity}\u0000${a.device}`;
    if (seen.has(key)) split.add(key);
    seen.add(key);
  }
  return split;
}

interface RuleContext {
  readonly ev: LearnEvidence;
  readonly seenIdentities: ReadonlySet<string>;
  readonly split: ReadonlySet<string>;
  readonly ids: Set<string>;
  readonly o: ProposalOptions;
}

/** Step 2: identities alike in device, units and grants as one rule. */
function ruleOf(as: readonly Alike[], c: RuleContext): ProposedRule {
  const first = as[0]!;
  const identities = as.map((a) => a.identity).sort();
  const principals = principalsFor(identities, c.seenIdentities);
  const groups = as.flatMap((a) => a.groups);
  const units = unitsOf(first.groups);
  const who = slug(
    principals.length === 1 && principals[0]!.endsWith('/*') ? principals[0]!.slice(0, -2) : identities[0]!,
  );
  // unit 0 is a rule of its own; an identity whose unicast units got several rules gets one per lowest unit
  const lowest = Math.min(...first.groups.map((g) => g.unit));
  const several = as.some((a) => c.split.has(`${a.identity}\u0000${a.device}`));
  const suffix = lowest === 0 ? '-unit0' : several ? `-u${lowest}` : '';
  const busiest = busiestOf(as, c.ev);
  return {
    id: uniqueId(`learned-${who}-${first.device}${suffix}`, c.ids),
    principals,
    identities,
    device: first.device,
    units,
    groups,
    entries: first.entries,
    functions: first.functions,
    rate: `${Math.max(1, Math.ceil(busiest.peak * c.o.rateMargin))}/s`,
    evidence: evidenceLine(groups, busiest, c.o.rateMargin),
  };
}

/**
 * The busiest second a rule's rate must let through. The runtime's bucket is per identity × rule (policy.md
 * `rate`), so it is the largest over the rule's identities of that identity's busiest second at the rule's
 * units together. One unit: that group's own (exact). All the identity's unicast units: its busiest second at
 * any unicast unit (exact). Some of them: the lesser of that and the sum of the units' own busiest seconds —
 * never below the true value, so replaying the trail is never rate-limited, but possibly above it (the
 * evidence line then says `≤`): per-unit seconds are not kept, which keeps memory bounded.
 */
function busiestOf(as: readonly Alike[], ev: LearnEvidence): { peak: number; exact: boolean } {
  let peak = 0;
  let exact = true;
  for (const a of as) {
    const own = a.groups.reduce((n, g) => n + g.peakPerSecond, 0);
    const all = ev.unicast.get(`${a.identity}\u0000${a.device}`);
    const one = a.groups.length === 1 || all === undefined;
    const p = one ? own : Math.min(own, all.peakPerSecond);
    const e = one || all.units.size === a.groups.length;
    // the largest decides; of equal ones, an exact one makes it exact
    if (p > peak) exact = e;
    else if (p === peak) exact ||= e;
    peak = Math.max(peak, p);
  }
  return { peak, exact };
}

/**
 * The principals of a group of alike identities: `…/parent/*` when there are several, all one segment below
 * the same parent, and no identity seen in the trail outside the group lives there; else the IDs themselves.
 */
export function principalsFor(identities: readonly string[], seen: ReadonlySet<string>): string[] {
  if (identities.length < 2) return [...identities];
  const parent = (id: string): string => id.slice(0, id.lastIndexOf('/'));
  const p = parent(identities[0]!);
  const samePlace = identities.every((id) => parent(id) === p && /^spiffe:\/\/[^/]+\/.+$/.test(p));
  const intruder = [...seen].some((id) => parent(id) === p && !identities.includes(id));
  return samePlace && !intruder ? [`${p}/*`] : [...identities];
}

/** The unit ids of the groups, ascending, consecutive ones compacted into "lo-hi" (policy.md `units`). */
function unitsOf(groups: readonly GroupEvidence[]): (number | string)[] {
  const runs = [...new Set(groups.map((g) => g.unit))].sort((a, b) => a - b).map((u): [number, number] => [u, u]);
  return mergeRuns(runs, 0).map(([lo, hi]) => rangeText(lo, hi));
}

function evidenceLine(
  groups: readonly GroupEvidence[],
  busiest: { peak: number; exact: boolean },
  rateMargin: number,
): string {
  const count = groups.reduce((n, g) => n + g.count, 0);
  const first = Math.min(...groups.map((g) => g.firstMs));
  const last = Math.max(...groups.map((g) => g.lastMs));
  const fcs = new Map<number, number>();
  for (const g of groups) for (const [fc, n] of g.fcs) fcs.set(fc, (fcs.get(fc) ?? 0) + n);
  const fcText = [...fcs.entries()]
    .sort(([a], [b]) => a - b)
    .map(([fc, n]) => `fc${fc}×${n}`)
    .join(' ');
  const peak = `${busiest.exact ? '' : '≤'}${busiest.peak}`;
  return `evidence: ${count} requests (${fcText}), first ${new Date(first).toISOString()}, last ${new Date(last).toISOString()}, busiest second ${peak} → rate ×${rateMargin}`;
}

function slug(id: string): string {
  return (
    id
      .replace(/^spiffe:\/\/[^/]+\//, '')
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'id'
  );
}

function uniqueId(base: string, taken: Set<string>): string {
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  taken.add(id);
  return id;
}
