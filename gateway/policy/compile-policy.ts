/**
 * policy.yaml (schema-valid, with positions) → a frozen `CompiledPolicy`. All semantic problems are collected
 * and thrown together as GW_ERR_POLICY_INVALID with file:line:col each. Running the policy's own tests is a
 * separate step (policy-tests.ts) because it needs the codec to build requests.
 */
import { createHash } from 'node:crypto';
import type { IdPattern } from '../identity/spiffe-id-pattern.js';
import { tryParseDuration } from '../config/duration.js';
import {
  configError,
  parseYamlDocument,
  type ConfigErrorDetail,
  type YamlDocument,
  type YamlPath,
} from '../config/load-yaml.js';
import type {
  CompiledPolicy,
  CompiledPolicyTest,
  CompiledRule,
  SessionSettings,
  TrustSettings,
} from './compiled-policy.js';
import { policySchema } from './policy-schema.js';
import { ADMIN_OPS, isRecordTest, type AdminOp, type AnyPolicyTestSource, type PolicySource } from './policy-source.js';
import { compilePatterns, compileRule, type CompileContext } from './compile-rule.js';
import { createPolicyIndex } from './policy-index.js';

/** Parse + schema-check + compile policy text (no tests run). Throws GW_ERR_POLICY_INVALID. */
export function compilePolicyText(text: string, sourceName: string): CompiledPolicy {
  return compilePolicy(parsePolicyDocument(text, sourceName));
}

export function parsePolicyDocument(text: string, sourceName: string): YamlDocument<PolicySource> {
  return parseYamlDocument<PolicySource>(text, sourceName, policySchema, {
    code: 'GW_ERR_POLICY_INVALID',
    unreadableCode: 'GW_ERR_POLICY_INVALID',
    module: 'policy',
  });
}

export function compilePolicy(doc: YamlDocument<PolicySource>): CompiledPolicy {
  const src = doc.value;
  const problems: ConfigErrorDetail[] = [];
  const problem = (path: YamlPath, message: string): void => void problems.push(doc.problemAt(path, message));
  const base = { trustDomain: src.trustDomain, problem };
  const roles = compileRoles(src, base);
  const ctx: CompileContext = { ...base, roles, positionOf: doc.positionOf };
  const rules = src.rules.map((r, i) => compileRule(r, i, ctx));
  checkDuplicateIds(rules, problem);
  const admins = compileAdmins(src, base);
  const session = compileSession(src, problem);
  const tests = compileTests(src, doc, new Set(rules.map((r) => r.id)), problem);
  if (problems.length > 0) {
    throw configError('GW_ERR_POLICY_INVALID', 'policy', `${doc.sourceName}: ${problems.length} error(s)`, problems);
  }
  return Object.freeze({
    version: createHash('sha256').update(doc.source).digest('hex'),
    sourceName: doc.sourceName,
    trustDomain: src.trustDomain,
    mode: src.mode ?? 'enforce',
    rules: Object.freeze(rules),
    roles,
    admins,
    trust: compileTrust(src),
    session,
    tests,
    source: src,
    index: createPolicyIndex(rules),
  });
}

function compileRoles(
  src: PolicySource,
  ctx: Pick<CompileContext, 'trustDomain' | 'problem'>,
): ReadonlyMap<string, readonly IdPattern[]> {
  const roles = new Map<string, readonly IdPattern[]>();
  for (const [name, patterns] of Object.entries(src.roles ?? {})) {
    roles.set(name, Object.freeze(compilePatterns(patterns, ['roles', name], ctx)));
  }
  return roles;
}

/** `admins: [ids…]` grants every admin op; `admins: { sessions: [...], … }` grants per op. */
function compileAdmins(
  src: PolicySource,
  ctx: Pick<CompileContext, 'trustDomain' | 'problem'>,
): Readonly<Record<AdminOp, readonly IdPattern[]>> {
  const out = {} as Record<AdminOp, readonly IdPattern[]>;
  const admins = src.admins;
  if (isList(admins)) {
    const all = Object.freeze(compilePatterns(admins, ['admins'], ctx));
    for (const op of ADMIN_OPS) out[op] = all;
  } else {
    for (const op of ADMIN_OPS) {
      const list = admins?.[op];
      out[op] = Object.freeze(list === undefined ? [] : compilePatterns(list, ['admins', op], ctx));
    }
  }
  return Object.freeze(out);
}

function isList(v: PolicySource['admins']): v is readonly string[] {
  return Array.isArray(v);
}

function checkDuplicateIds(rules: readonly CompiledRule[], problem: (path: YamlPath, message: string) => void): void {
  const seen = new Map<string, number>();
  for (const r of rules) {
    const first = seen.get(r.id);
    if (first !== undefined)
      problem(['rules', r.index, 'id'], `duplicate rule id ${JSON.stringify(r.id)} (first at rules[${first}])`);
    else seen.set(r.id, r.index);
  }
}

function compileTrust(src: PolicySource): TrustSettings | null {
  if (src.trust === undefined) return null;
  return Object.freeze({
    threshold: src.trust.threshold,
    onBreach: src.trust.onBreach ?? 'read-only',
    weights: Object.freeze({ ...(src.trust.weights ?? {}) }),
  });
}

function compileSession(src: PolicySource, problem: (path: YamlPath, message: string) => void): SessionSettings {
  const ms = (key: 'idleTimeout' | 'revalidate'): number | null => {
    const text = src.session?.[key];
    if (text === undefined) return null;
    const v = tryParseDuration(text);
    if (v === null || v <= 0) problem(['session', key], `bad duration ${JSON.stringify(text)}`);
    return v;
  };
  return Object.freeze({
    maxPerIdentity: src.session?.maxPerIdentity ?? null,
    idleTimeoutMs: ms('idleTimeout'),
    revalidateMs: ms('revalidate'),
  });
}

function compileTests(
  src: PolicySource,
  doc: YamlDocument<PolicySource>,
  ruleIds: ReadonlySet<string>,
  problem: (path: YamlPath, message: string) => void,
): readonly CompiledPolicyTest[] {
  return Object.freeze(
    (src.tests ?? []).map((test, i) => {
      const at: YamlPath = ['tests', i];
      if (test.rule !== undefined && test.rule !== null && !ruleIds.has(test.rule)) {
        problem([...at, 'rule'], `unknown rule id ${JSON.stringify(test.rule)}`);
      }
      if (test.at !== undefined && Number.isNaN(Date.parse(test.at))) {
        problem([...at, 'at'], `bad time ${JSON.stringify(test.at)} (ISO 8601, e.g. 2026-03-02T10:00:00+01:00)`);
      }
      checkTestKind(test, at, problem);
      return Object.freeze({ test, position: doc.positionOf(at), label: test.name ?? `tests[${i}]` });
    }),
  );
}

/** Modbus keys a PROFINET test must not carry (they would be silently ignored). */
const MODBUS_TEST_KEYS = [
  'address',
  'count',
  'value',
  'values',
  'readAddress',
  'readCount',
  'subFunction',
  'unit',
] as const;

/** A test is Modbus (`fc`) or PROFINET (`profinet`), never both or neither. */
function checkTestKind(
  test: AnyPolicyTestSource,
  at: YamlPath,
  problem: (path: YamlPath, message: string) => void,
): void {
  const t = test as unknown as Partial<Record<string, unknown>>;
  if (isRecordTest(test)) {
    if (t['fc'] !== undefined) problem(at, 'a test is either Modbus ("fc") or PROFINET ("profinet"), not both');
    for (const k of MODBUS_TEST_KEYS)
      if (t[k] !== undefined) problem([...at, k], `"${k}" does not apply to a PROFINET test`);
    const p = test.profinet;
    if (p.access === 'read' && p.data !== undefined) problem([...at, 'profinet', 'data'], 'a read carries no data');
    if (p.access === 'write' && p.data === undefined && p.length === undefined)
      problem([...at, 'profinet'], 'a write test needs "data" (hex) or "length"');
    return;
  }
  if (t['fc'] === undefined) problem(at, 'a test needs "fc" (Modbus) or "profinet" (a PROFINET record request)');
  if (test.value !== undefined && test.values !== undefined) problem(at, 'write either "value" or "values", not both');
}
