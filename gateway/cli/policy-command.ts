/**
 * `verigate policy check FILE` — schema + compile + the policy's own tests; every error as file:line:col.
 * `verigate policy explain FILE --id … --device … --fc … [--address …] [--count N] [--value V] [--values a,b]
 *   [--role R] [--unit U] [--at ISO] [--sub N] [--read-address A] [--read-count N]` — decision, rule, reason.
 * `verigate policy explain FILE --id … --device … --profinet read|write [--api N] --slot N --subslot N
 *   --index N [--length N] [--data HEX] [--role R] [--at ISO]` — the same for a PROFINET record request.
 * `verigate policy learn|replay|diff …` — policy from evidence, in policy-evidence-command.ts.
 * Exit codes [docs/reference.md "Exit codes"]: 0 ok (explain: whatever the decision), 1 check failed, 2 usage.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatDuration } from '../config/duration.js';
import { configErrorDetails, formatDetail } from '../config/load-yaml.js';
import { isGatewayError, errorMessage } from '../errors.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { compilePolicyText } from '../policy/compile-policy.js';
import type { CompiledPolicy, Decision, StrictObligation } from '../policy/compiled-policy.js';
import { explain, type ExplainQuery } from '../policy/explain.js';
import { describeRecordRequest, explainRecord } from '../policy/explain-record.js';
import type { PolicyRecordSpec } from '../policy/policy-source.js';
import { runPolicyTests } from '../policy/policy-tests.js';
import { policyWarnings } from '../policy/policy-warnings.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './cli-io.js';

const USAGE = [
  'usage: verigate policy check FILE',
  '       verigate policy explain FILE --id SPIFFE_ID --device NAME --fc N [--address A] [--count N]',
  '              [--value V | --values V1,V2,…] [--role ROLE] [--unit U] [--at ISO_TIME] [--sub N]',
  '              [--read-address A] [--read-count N]',
  '       verigate policy explain FILE --id SPIFFE_ID --device NAME --profinet read|write [--api N]',
  '              --slot N --subslot N --index N [--length N] [--data HEX] [--role ROLE] [--at ISO_TIME]',
  '       verigate policy learn|replay|diff … (policy from evidence: verigate policy learn --help)',
].join('\n');

const OPTIONS = {
  id: { type: 'string' },
  device: { type: 'string' },
  fc: { type: 'string' },
  address: { type: 'string' },
  count: { type: 'string' },
  value: { type: 'string' },
  values: { type: 'string' },
  role: { type: 'string' },
  unit: { type: 'string' },
  at: { type: 'string' },
  sub: { type: 'string' },
  'read-address': { type: 'string' },
  'read-count': { type: 'string' },
  profinet: { type: 'string' },
  api: { type: 'string' },
  slot: { type: 'string' },
  subslot: { type: 'string' },
  index: { type: 'string' },
  length: { type: 'string' },
  data: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

export const policyCommand: CliCommand = async (args, io) => {
  const first = args[0];
  if (first === 'learn' || first === 'replay' || first === 'diff') {
    return (await import('./policy-evidence-command.js')).policyEvidenceCommand(first, args.slice(1), io);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], allowPositionals: true, options: OPTIONS });
  } catch (err) {
    return usageError(io, errorMessage(err));
  }
  if (parsed.values.help === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const [verb, file, ...extra] = parsed.positionals;
  if ((verb !== 'check' && verb !== 'explain') || file === undefined || extra.length > 0) return usageError(io, null);
  const text = readPolicy(io, file);
  if (text === null) return EXIT_USAGE;
  if (verb === 'check') return check(io, text, file);
  let query: ExplainQuery | PolicyRecordSpec;
  try {
    query = parsed.values.profinet !== undefined ? toRecordQuery(parsed.values) : toQuery(parsed.values);
  } catch (err) {
    if (err instanceof UsageError) return usageError(io, err.message);
    throw err;
  }
  return explainCommand(io, text, file, query);
};

function usageError(io: CliIo, message: string | null): number {
  if (message !== null) io.err(`policy: ${message}`);
  io.err(USAGE);
  return EXIT_USAGE;
}

function readPolicy(io: CliIo, file: string): string | null {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    io.err(`policy: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    return null;
  }
}

/** Compile, printing every located error on failure. */
function compileOrReport(io: CliIo, text: string, file: string): CompiledPolicy | null {
  try {
    return compilePolicyText(text, file);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    reportError(io, err);
    return null;
  }
}

function reportError(io: CliIo, err: Error & { code: string }): void {
  const details = configErrorDetails(err);
  if (details.length === 0) io.err(err.message);
  else for (const d of details) io.err(formatDetail(d));
  io.err(`policy: ${details.length > 0 ? `${details.length} error(s)` : 'failed'} [${err.code}]`);
}

function check(io: CliIo, text: string, file: string): number {
  const policy = compileOrReport(io, text, file);
  if (policy === null) return EXIT_CHECK_FAILED;
  const report = runPolicyTests(policy);
  if (report.failures.length > 0) {
    for (const d of report.failures) io.err(formatDetail(d));
    io.err(`policy: ${report.failures.length} of ${policy.tests.length} test(s) failed [GW_ERR_POLICY_TEST_FAILED]`);
    return EXIT_CHECK_FAILED;
  }
  for (const w of policyWarnings(policy)) io.out(`warning: ${w}`);
  io.out(`ok: ${policy.rules.length} rules, ${report.passed} tests passed, version ${policy.version}`);
  return EXIT_OK;
}

function explainCommand(io: CliIo, text: string, file: string, query: ExplainQuery | PolicyRecordSpec): number {
  const policy = compileOrReport(io, text, file);
  if (policy === null) return EXIT_CHECK_FAILED;
  let lines: string[];
  try {
    if ('profinet' in query) {
      const r = explainRecord(policy, query);
      lines = describe(r.decision, `request: ${describeRecordRequest(r.request)}`);
    } else {
      const r = explain(policy, query);
      lines = describe(r.decision, `request: ${describeRequest(r.request)}`);
    }
  } catch (err) {
    if (isGatewayError(err) && err.code === 'GW_ERR_USAGE')
      return usageError(io, err.message.replace(/^policy: explain: /, ''));
    throw err;
  }
  for (const line of lines) io.out(line);
  io.out(`policy: ${policy.version}`);
  return EXIT_OK;
}

function describe(d: Decision, request: string): string[] {
  const lines = [
    `decision: ${d.effect}`,
    `rule: ${d.ruleId ?? '(none: default deny)'}`,
    `reason: ${d.reason}`,
    request,
  ];
  const jit = d.obligations?.jit;
  if (jit) {
    lines.push(
      `requires jit grant: rule ${jit.ruleId}, approvers ${jit.approvers.join(', ')}, threshold ${jit.threshold}, max ${formatDuration(jit.maxDurationMs)}`,
    );
    if (jit.scope) {
      const spans = [
        ...jit.scope.writes.map((w) => ({ ...w, access: 'write' })),
        ...jit.scope.reads.map((r) => ({ ...r, access: 'read' })),
      ];
      lines.push(
        `grant must cover: ${spans.map((x) => `${x.access} ${x.table} ${x.start}-${x.start + x.count - 1}`).join(', ')} (other rules allow the rest)`,
      );
    }
  }
  for (const rate of d.obligations?.rates ?? (d.obligations?.rate ? [d.obligations.rate] : []))
    lines.push(`rate limit: rule ${rate.ruleId}, ${rate.perSecond}/s`);
  const strict = d.obligations?.strict;
  if (strict) lines.push(describeStrict(strict));
  if (d.essential === true)
    lines.push('essential: a trust downgrade does not block it (locks, JIT, rate and value limits still do)');
  for (const s of d.shadow ?? []) lines.push(`shadow: ${s.ruleId} would ${s.effect}`);
  return lines;
}

/** `lockMode: strict`: which limit applies (several strict rules granting one request: the tighter one). */
function describeStrict(s: StrictObligation): string {
  const byDefault = "the gateway's fleet.maxStaleness (default 60s)";
  const own = s.maxStalenessMs === null ? byDefault : formatDuration(s.maxStalenessMs);
  const limit =
    s.defaultRuleId === undefined
      ? `rule ${s.ruleId}, maxStaleness ${own}`
      : `rules ${s.ruleId} (maxStaleness ${own}) and ${s.defaultRuleId} (${byDefault}), the tighter applies`;
  return `lockMode strict: ${limit}: on a fleet member, writes are refused (fleet-stale) while its hub view is older; reads are still served`;
}

function describeRequest(req: ClassifiedRequest): string {
  const parts = [
    `fc${req.fc}${req.subFunction === undefined ? '' : `/${req.subFunction}`} unit ${req.unit} (${req.kind})`,
  ];
  for (const w of req.writes) {
    const values = w.values === null ? '? (unknown)' : w.values.join(',');
    parts.push(`writes ${w.table} ${w.start}-${w.start + w.count - 1} = ${values}`);
  }
  for (const r of req.reads) parts.push(`reads ${r.table} ${r.start}-${r.start + r.count - 1}`);
  return parts.join('; ');
}

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

function int(name: string, text: string | undefined, max: number): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(t) ? Number(t) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new UsageError(`--${name} must be an integer 0..${max}, got ${JSON.stringify(text)}`);
  return n;
}

const MODBUS_FLAGS = [
  'fc',
  'address',
  'count',
  'value',
  'values',
  'unit',
  'sub',
  'read-address',
  'read-count',
] as const;
const PROFINET_FLAGS = ['api', 'slot', 'subslot', 'index', 'length', 'data'] as const;

/** `--profinet read|write …`: a PROFINET record request (the Modbus flags do not mix in). */
function toRecordQuery(v: Values): PolicyRecordSpec {
  const access = v.profinet;
  if (access !== 'read' && access !== 'write')
    throw new UsageError(`--profinet must be read or write, got ${JSON.stringify(access)}`);
  for (const f of MODBUS_FLAGS)
    if (v[f] !== undefined) throw new UsageError(`--${f} is a Modbus flag; it does not mix with --profinet`);
  if (v.id === undefined || v.device === undefined) throw new UsageError('explain needs --id and --device');
  if (v.slot === undefined || v.subslot === undefined || v.index === undefined)
    throw new UsageError('--profinet needs --slot, --subslot and --index');
  const opt = <K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } =>
    (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
  return {
    id: v.id,
    device: v.device,
    ...opt('role', v.role),
    ...opt('at', v.at),
    profinet: {
      access,
      ...opt('api', int('api', v.api, 0xffffffff)),
      slot: int('slot', v.slot, 0xffff) as number,
      subslot: int('subslot', v.subslot, 0xffff) as number,
      index: int('index', v.index, 0xffff) as number,
      ...opt('length', int('length', v.length, 65535)),
      ...opt('data', v.data),
    },
  };
}

function toQuery(v: Values): ExplainQuery {
  for (const f of PROFINET_FLAGS) if (v[f] !== undefined) throw new UsageError(`--${f} needs --profinet read|write`);
  if (v.id === undefined || v.device === undefined || v.fc === undefined)
    throw new UsageError('explain needs --id, --device and --fc (or --profinet)');
  const values = v.values?.split(',').map((s) => int('values', s, 65535) as number);
  const opt = <K extends string, T>(key: K, value: T | undefined): { [P in K]?: T } =>
    (value === undefined ? {} : { [key]: value }) as { [P in K]?: T };
  return {
    id: v.id,
    device: v.device,
    fc: int('fc', v.fc, 127) as number,
    ...opt('address', int('address', v.address, 65535)),
    ...opt('count', int('count', v.count, 2000)),
    ...opt('value', int('value', v.value, 65535)),
    ...opt('values', values),
    ...opt('role', v.role),
    ...opt('unit', int('unit', v.unit, 255)),
    ...opt('at', v.at),
    ...opt('subFunction', int('sub', v.sub, 65535)),
    ...opt('readAddress', int('read-address', v['read-address'], 65535)),
    ...opt('readCount', int('read-count', v['read-count'], 125)),
  };
}
