/**
 * The decision index: rules by device (exact names in a map, globs aside), then per (device, peer) a view with
 * per-table sorted interval lists. A request never scans all rules: it looks up its view (cached) and
 * binary-searches the intervals it touches. Views are built on first use and cached in bounded maps; caches
 * never change a result, so evaluation stays observably pure.
 */
import type { Table } from '../../protocols/modbus/types.js';
import type {
  CompiledEntry,
  CompiledRule,
  PeerRef,
  PeerView,
  PolicyIndex,
  RuleSetView,
  Segment,
  Segments,
  TableIndex,
} from './compiled-policy.js';

const TABLES: readonly Table[] = ['coils', 'discrete', 'holding', 'input'];
const MAX_CACHED = 10_000;

/** `tank-*`, `line?-plc`: `*` any run of characters, `?` one character; everything else literal. */
export function compileDeviceGlob(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export function isDeviceGlob(name: string): boolean {
  return name.includes('*') || name.includes('?');
}

export function createPolicyIndex(rules: readonly CompiledRule[]): PolicyIndex {
  const exact = new Map<string, CompiledRule[]>();
  const globs: { re: RegExp; rule: CompiledRule }[] = [];
  for (const rule of rules) {
    for (const d of new Set(rule.devicePatterns)) {
      if (isDeviceGlob(d)) globs.push({ re: compileDeviceGlob(d), rule });
      else {
        const list = exact.get(d);
        if (list === undefined) exact.set(d, [rule]);
        else list.push(rule);
      }
    }
  }
  const deviceCache = new Map<string, readonly CompiledRule[]>();
  // device → peer id → views by role claim ('' = none). Nested maps: no key string built per request.
  const viewCache = new Map<string, Map<string, Map<string, PeerView>>>();
  let cachedViews = 0;

  const rulesForDevice = (device: string): readonly CompiledRule[] => {
    let list = deviceCache.get(device);
    if (list === undefined) {
      const set = new Set(exact.get(device) ?? []);
      for (const g of globs) if (g.re.test(device)) set.add(g.rule);
      list = [...set].sort((a, b) => a.index - b.index);
      if (deviceCache.size >= MAX_CACHED) deviceCache.clear();
      deviceCache.set(device, list);
    }
    return list;
  };

  return {
    viewFor(device: string, peer: PeerRef): PeerView {
      const role = peer.role ?? '';
      const cached = viewCache.get(device)?.get(peer.id)?.get(role);
      if (cached !== undefined) return cached;
      const view = buildPeerView(rulesForDevice(device).filter((r) => r.matchesPrincipal(peer)));
      // Bounded: a flood of distinct identities or device names must not grow memory without limit.
      if (cachedViews >= MAX_CACHED) {
        viewCache.clear();
        cachedViews = 0;
      }
      let byId = viewCache.get(device);
      if (byId === undefined) viewCache.set(device, (byId = new Map<string, Map<string, PeerView>>()));
      let byRole = byId.get(peer.id);
      if (byRole === undefined) byId.set(peer.id, (byRole = new Map<string, PeerView>()));
      byRole.set(role, view);
      cachedViews++;
      return view;
    },
  };
}

export function buildPeerView(rules: readonly CompiledRule[]): PeerView {
  const enforce = rules.filter((r) => r.mode === 'enforce');
  return Object.freeze({
    allow: buildRuleSetView(enforce.filter((r) => r.effect === 'allow')),
    deny: buildRuleSetView(enforce.filter((r) => r.effect === 'deny')),
    shadow: Object.freeze(
      rules.filter((r) => r.mode === 'shadow').map((rule) => Object.freeze({ rule, view: buildRuleSetView([rule]) })),
    ),
  });
}

/** Preferred first: rules that need no JIT grant, then file order. */
function preference(a: CompiledRule, b: CompiledRule): number {
  return (a.jit ? 1 : 0) - (b.jit ? 1 : 0) || a.index - b.index;
}

export function buildRuleSetView(rules: readonly CompiledRule[]): RuleSetView {
  const sorted = [...rules].sort(preference);
  const entries = sorted.flatMap((r) => r.entries);
  const functions = new Map<number, CompiledRule[]>();
  for (const r of sorted) for (const fc of r.functions.keys()) functions.set(fc, [...(functions.get(fc) ?? []), r]);
  return Object.freeze({
    // Rules with Modbus content only: a peer whose rules on a device are all PROFINET gets `no-rule` for Modbus.
    rules: Object.freeze(rules.filter(hasModbusContent).sort((a, b) => a.index - b.index)),
    read: tableIndex(entries.filter((e) => e.read)),
    write: tableIndex(entries.filter((e) => e.write)),
    functions,
    all: Object.freeze(sorted.filter((r) => r.denyAll)),
    records: Object.freeze(sorted.flatMap((r) => r.profinet)),
  });
}

/** A rule that grants or denies Modbus requests (register entries, functions, or deny-everything). */
function hasModbusContent(r: CompiledRule): boolean {
  return r.entries.length > 0 || r.functions.size > 0 || r.denyAll;
}

function tableIndex(entries: readonly CompiledEntry[]): TableIndex {
  const out = {} as Record<Table, Segments | null>;
  for (const t of TABLES) out[t] = buildSegments(entries.filter((e) => e.tables.includes(t)));
  return Object.freeze(out);
}

/**
 * An entry with no condition: once one covers an interval, later candidates are never chosen — except those
 * naming unit 0, which alone may grant broadcast writes (a rule without units does not).
 */
function unconditional(e: CompiledEntry): boolean {
  return e.values === null && e.rule.units === null && e.rule.schedule === null;
}

function namesBroadcast(e: CompiledEntry): boolean {
  return e.rule.units !== null && e.rule.units[0] === 1;
}

/** Elementary segments from all breakpoints; entries (already in preference order) appended to each. */
export function buildSegments(entries: readonly CompiledEntry[]): Segments | null {
  if (entries.length === 0) return null;
  const points = new Set<number>();
  for (const e of entries) for (const [lo, hi] of e.addresses) points.add(lo).add(hi + 1);
  const starts = [...points].sort((a, b) => a - b);
  const covering: CompiledEntry[][] = starts.map(() => []);
  const closed = new Uint8Array(starts.length);
  for (const e of entries) {
    for (const [lo, hi] of e.addresses) {
      for (let i = lowerBound(starts, lo); i < starts.length && (starts[i] as number) <= hi; i++) {
        if (closed[i] === 1 && !namesBroadcast(e)) continue;
        (covering[i] as CompiledEntry[]).push(e);
        if (unconditional(e)) closed[i] = 1;
      }
    }
  }
  const segments: Segment[] = [];
  for (let i = 0; i + 1 < starts.length; i++) {
    const [first, ...rest] = covering[i] ?? [];
    if (first === undefined) continue; // a gap: nothing covers it
    segments.push(
      Object.freeze({
        lo: starts[i] as number,
        hi: (starts[i + 1] as number) - 1,
        entries: Object.freeze([first, ...rest] as const),
      }),
    );
  }
  return Object.freeze(segments);
}

function lowerBound(arr: readonly number[], v: number): number {
  let a = 0;
  let b = arr.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if ((arr[m] as number) < v) a = m + 1;
    else b = m;
  }
  return a;
}

/** Index of the last segment that starts at or before `addr`, or -1 (binary search). */
export function findSegment(segments: Segments, addr: number): number {
  let a = 0;
  let b = segments.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    const s = segments[m];
    if (s !== undefined && s.lo <= addr) a = m + 1;
    else b = m;
  }
  return a - 1;
}
