/**
 * One rule of policy.yaml → a `CompiledRule`. Semantic problems are collected (never thrown one by one) with
 * the YAML path of the offending node, so `policy check` lists every mistake at once with file:line.
 */
import { tryCompileIdPattern, type IdPattern } from '../identity/spiffe-id-pattern.js';
import { tryParseDuration } from '../config/duration.js';
import type { SourcePosition, YamlPath } from '../config/load-yaml.js';
import type { Table } from '../../protocols/modbus/types.js';
import type {
  CompiledEntry,
  CompiledRule,
  JitObligation,
  PeerRef,
  RateObligation,
  StrictObligation,
} from './compiled-policy.js';
import type { FunctionEntrySource, RegisterEntrySource, RuleSource } from './policy-source.js';
import { parseRangeSpec, parseRate, unitTable, type Interval } from './ranges.js';
import { compileSchedule, type Schedule } from './schedule.js';
import { compileRecordEntry } from './compile-record-entry.js';

const MAX_ADDRESS = 65535;
const MAX_UNIT = 255;
const MAX_VALUE = 65535;
/** FCs governed by register entries (access read/write), never by `functions`. */
const REGISTER_FCS = new Set([1, 2, 3, 4, 5, 6, 15, 16, 22, 23]);
/** FCs whose `sub` means something: FC8 sub-function, FC43 MEI type. */
const SUB_FCS = new Set([8, 43]);
const READ_ONLY_TABLES: readonly Table[] = ['input', 'discrete'];

export interface CompileContext {
  readonly trustDomain: string;
  readonly roles: ReadonlyMap<string, readonly IdPattern[]>;
  readonly problem: (path: YamlPath, message: string) => void;
  readonly positionOf: (path: YamlPath) => SourcePosition;
}

/** Compile `spiffe://` patterns of one list, reporting each bad one at its own line. */
export function compilePatterns(
  list: readonly string[],
  path: YamlPath,
  ctx: Pick<CompileContext, 'trustDomain' | 'problem'>,
): IdPattern[] {
  return list.flatMap((p, j) => compilePattern(p, [...path, j], ctx) ?? []);
}

function compilePattern(
  p: string,
  path: YamlPath,
  ctx: Pick<CompileContext, 'trustDomain' | 'problem'>,
): IdPattern | null {
  const r = tryCompileIdPattern(p);
  if (!r.ok) {
    ctx.problem(path, `invalid SPIFFE ID pattern ${JSON.stringify(p)}: ${r.reason}`);
    return null;
  }
  if (r.pattern.trustDomain !== ctx.trustDomain) {
    // Federated principals are not supported yet; this mostly catches typos in the trust domain.
    ctx.problem(path, `${JSON.stringify(p)} is outside trustDomain ${ctx.trustDomain}`);
    return null;
  }
  return r.pattern;
}

export function compileRule(src: RuleSource, index: number, ctx: CompileContext): CompiledRule {
  const at: YamlPath = ['rules', index];
  const effect = src.effect ?? 'allow';
  const matchesPrincipal = compilePrincipals(src, at, ctx);
  const units = src.units === undefined ? null : ranges(src.units, MAX_UNIT, [...at, 'units'], ctx);
  checkShape(src, effect, at, ctx);
  const entrySources = (effect === 'allow' ? src.allow : src.deny) ?? [];
  const entryKey = effect === 'allow' ? 'allow' : 'deny';
  const rule: { -readonly [K in keyof CompiledRule]: CompiledRule[K] } = {
    id: src.id,
    index,
    effect,
    mode: src.mode ?? 'enforce',
    matchesPrincipal,
    devicePatterns: Object.freeze([...src.devices]),
    units: units === null ? null : unitTable(units),
    schedule: src.schedule === undefined ? null : schedule(src.schedule, [...at, 'schedule'], ctx),
    entries: [],
    profinet: [],
    functions: compileFunctions(src.functions ?? [], [...at, 'functions'], ctx),
    denyAll:
      effect === 'deny' &&
      entrySources.length === 0 &&
      (src.functions ?? []).length === 0 &&
      (src.profinet ?? []).length === 0,
    jit: src.jit === undefined ? null : compileJit(src, [...at, 'jit'], ctx),
    rate: src.rate === undefined ? null : compileRate(src, [...at, 'rate'], ctx),
    strict: compileStrict(src, at, ctx),
    essential: src.essential === true,
    position: ctx.positionOf(at),
    allowDecision: { effect: 'allow', ruleId: src.id, code: 'allowed', detail: '', reason: 'allowed' },
  };
  rule.entries = Object.freeze(entrySources.map((e, j) => compileEntry(e, rule, [...at, entryKey, j], ctx)));
  rule.profinet = Object.freeze(
    (src.profinet ?? []).map((e, j) => compileRecordEntry(e, rule, [...at, 'profinet', j], ctx.problem)),
  );
  const obligations = {
    ...(rule.jit ? { jit: rule.jit } : {}),
    ...(rule.rate ? { rate: rule.rate } : {}),
    ...(rule.strict ? { strict: rule.strict } : {}),
  };
  const hasObligations = rule.jit !== null || rule.rate !== null || rule.strict !== null;
  rule.allowDecision = Object.freeze({
    effect: 'allow',
    ruleId: src.id,
    code: 'allowed',
    detail: '',
    reason: 'allowed',
    ...(hasObligations ? { obligations: Object.freeze(obligations) } : {}),
    ...(rule.essential ? { essential: true as const } : {}),
  });
  return Object.freeze(rule);
}

function checkShape(src: RuleSource, effect: 'allow' | 'deny', at: YamlPath, ctx: CompileContext): void {
  if (effect === 'allow' && src.deny !== undefined)
    ctx.problem([...at, 'deny'], `rule ${src.id}: an allow rule lists grants under "allow", not "deny"`);
  if (effect === 'deny' && src.allow !== undefined)
    ctx.problem([...at, 'allow'], `rule ${src.id}: a deny rule lists what it denies under "deny", not "allow"`);
  if (effect === 'allow' && src.allow === undefined && src.functions === undefined && src.profinet === undefined) {
    ctx.problem(at, `rule ${src.id}: grants nothing (add "allow" entries, "functions" or "profinet" entries)`);
  }
  if (effect === 'deny' && src.jit !== undefined)
    ctx.problem([...at, 'jit'], `rule ${src.id}: jit only applies to allow rules`);
  if (effect === 'deny' && src.rate !== undefined)
    ctx.problem([...at, 'rate'], `rule ${src.id}: rate only applies to allow rules`);
  if (effect === 'deny' && src.essential === true)
    ctx.problem([...at, 'essential'], `rule ${src.id}: essential only applies to allow rules`);
  if (effect === 'deny' && src.lockMode !== undefined)
    ctx.problem([...at, 'lockMode'], `rule ${src.id}: lockMode only applies to allow rules`);
}

/** SPIFFE ID patterns, or `role:NAME`: the peer carries mbaps role NAME and its ID is one allowed to hold it. */
function compilePrincipals(src: RuleSource, at: YamlPath, ctx: CompileContext): (peer: PeerRef) => boolean {
  const patterns: IdPattern[] = [];
  const roleChecks: { name: string; holders: readonly IdPattern[] }[] = [];
  src.principals.forEach((p, j) => {
    if (p.startsWith('role:')) {
      const name = p.slice('role:'.length);
      const holders = ctx.roles.get(name);
      if (holders === undefined)
        ctx.problem([...at, 'principals', j], `unknown role ${JSON.stringify(name)} (declare it under "roles")`);
      else roleChecks.push({ name, holders });
    } else {
      const pattern = compilePattern(p, [...at, 'principals', j], ctx);
      if (pattern !== null) patterns.push(pattern);
    }
  });
  return (peer) =>
    patterns.some((p) => p.matches(peer.id)) ||
    roleChecks.some((r) => r.name === peer.role && r.holders.some((h) => h.matches(peer.id)));
}

function ranges(
  spec: RuleSource['units'] & {},
  max: number,
  path: YamlPath,
  ctx: CompileContext,
): readonly Interval[] | null {
  const r = parseRangeSpec(spec, max);
  if (r.ok) return r.value;
  ctx.problem(r.index === null ? path : [...path, r.index], r.error);
  return null;
}

function compileEntry(
  src: RegisterEntrySource,
  rule: CompiledRule,
  path: YamlPath,
  ctx: CompileContext,
): CompiledEntry {
  const tables: Table[] = src.tables ? [...src.tables] : src.table ? [src.table] : [];
  if (src.table !== undefined && src.tables !== undefined)
    ctx.problem(path, 'write either "table" or "tables", not both');
  if (tables.length === 0) ctx.problem(path, 'missing "table" or "tables"');
  const write = src.access !== 'read';
  const read = src.access !== 'write';
  if (write) {
    for (const t of tables.filter((x) => READ_ONLY_TABLES.includes(x))) {
      ctx.problem(path, `${t} is read-only in Modbus: access ${src.access} cannot apply to it [MB-APP 4.3]`);
    }
  }
  if (!write && src.values !== undefined) ctx.problem([...path, 'values'], '"values" only applies to write access');
  const addresses = ranges(src.addresses, MAX_ADDRESS, [...path, 'addresses'], ctx) ?? [];
  const values = src.values === undefined ? null : ranges(src.values, MAX_VALUE, [...path, 'values'], ctx);
  return Object.freeze({ rule, read, write, tables: Object.freeze(tables), addresses, values });
}

function compileFunctions(
  list: readonly FunctionEntrySource[],
  path: YamlPath,
  ctx: CompileContext,
): Map<number, readonly number[] | null> {
  const out = new Map<number, readonly number[] | null>();
  list.forEach((f, j) => {
    const fc = typeof f === 'number' ? f : f.fc;
    const sub = typeof f === 'number' ? undefined : f.sub;
    if (REGISTER_FCS.has(fc)) {
      ctx.problem([...path, j], `FC${fc} is governed by register entries (access read/write), not "functions"`);
      return;
    }
    if (sub !== undefined && !SUB_FCS.has(fc))
      ctx.problem([...path, j], `"sub" only applies to FC8 (sub-function) and FC43 (MEI type), not FC${fc}`);
    const prev = out.get(fc);
    // Two entries for one FC: the union of what they allow (no sub list = every sub-function).
    const merged = prev === null || sub === undefined ? null : [...new Set([...(prev ?? []), ...sub])];
    out.set(fc, merged);
  });
  return out;
}

function schedule(src: NonNullable<RuleSource['schedule']>, path: YamlPath, ctx: CompileContext): Schedule | null {
  const r = compileSchedule(src);
  if (r.ok) return r.value;
  ctx.problem(src[r.field] === undefined ? path : [...path, r.field], r.error);
  return null;
}

function compileRate(src: RuleSource, path: YamlPath, ctx: CompileContext): RateObligation | null {
  const r = parseRate(src.rate ?? '');
  if (!r.ok) {
    ctx.problem(path, r.error);
    return null;
  }
  return Object.freeze({ ruleId: src.id, perSecond: r.value });
}

/** `lockMode: strict` → the obligation the runtime checks against the fleet staleness; `maxStaleness` needs it. */
function compileStrict(src: RuleSource, at: YamlPath, ctx: CompileContext): StrictObligation | null {
  const path: YamlPath = [...at, 'maxStaleness'];
  if (src.maxStaleness !== undefined && src.lockMode !== 'strict')
    ctx.problem(path, `rule ${src.id}: maxStaleness only applies with lockMode: strict`);
  if (src.lockMode !== 'strict') return null;
  if (src.maxStaleness === undefined) return Object.freeze({ ruleId: src.id, maxStalenessMs: null });
  const ms = tryParseDuration(src.maxStaleness);
  if (ms === null || ms <= 0) ctx.problem(path, `bad duration ${JSON.stringify(src.maxStaleness)} (e.g. 10s, 2m)`);
  return Object.freeze({ ruleId: src.id, maxStalenessMs: ms ?? 0 });
}

function compileJit(src: RuleSource, path: YamlPath, ctx: CompileContext): JitObligation | null {
  const jit = src.jit;
  if (jit === undefined) return null;
  const approvers = compilePatterns(jit.approvers, [...path, 'approvers'], ctx);
  const siteLocal =
    jit.siteLocalApprovers === undefined
      ? null
      : compilePatterns(jit.siteLocalApprovers, [...path, 'siteLocalApprovers'], ctx);
  const ms = tryParseDuration(jit.maxDuration);
  if (ms === null || ms <= 0)
    ctx.problem([...path, 'maxDuration'], `bad duration ${JSON.stringify(jit.maxDuration)} (e.g. 5m, 1h)`);
  return Object.freeze({
    ruleId: src.id,
    approvers: Object.freeze(approvers.map((a) => a.source)),
    maxDurationMs: ms ?? 0,
    threshold: jit.threshold ?? 1,
    ...(siteLocal === null ? {} : { siteLocalApprovers: Object.freeze(siteLocal.map((a) => a.source)) }),
  });
}
