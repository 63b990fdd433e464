/**
 * Policy from evidence (docs/policy.md "Commissioning a plant"):
 * `verigate policy learn --audit DIR [--since T] [--until T] [--base policy.yaml] [--config gateway.yaml] --out FILE`
 * `verigate policy replay --audit DIR --policy candidate.yaml [--json] [--allow-tightening]`
 * `verigate policy diff old.yaml new.yaml [--json]`
 * The trail is verified as `audit verify` does (same --bundle/--signer/--checkpoint/--checkpoint-interval/
 * --allow-missing-checkpoints); a broken one is refused with its first bad record named (exit 1).
 * Exit codes [docs/reference.md "Exit codes"]: 0 ok, 1 a check failed (broken trail; replay: something allowed
 * would now be denied, unless --allow-tightening), 2 usage.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseExternalCheckpoints, type ExternalCheckpoint } from '../audit/external-checkpoints.js';
import { DEFAULT_CHECKPOINT_EVERY_MS } from '../audit/audit-checkpoint.js';
import { tryParseDuration } from '../config/duration.js';
import { loadGatewayConfig } from '../config/gateway-config.js';
import { configErrorDetails, formatDetail } from '../config/load-yaml.js';
import { errorMessage, isGatewayError } from '../errors.js';
import { learnPolicy } from '../evidence/learn.js';
import { DEFAULT_PROPOSAL, type ProposalOptions } from '../evidence/learn-proposal.js';
import { diffPolicies, formatDiff } from '../evidence/policy-diff.js';
import { replayTrail, type ReplayReport } from '../evidence/policy-replay.js';
import { describeBadTrail, type TrailVerify, type TrailWindow } from '../evidence/verified-trail.js';
import { compilePolicyText } from '../policy/compile-policy.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from './cli-io.js';

export const EVIDENCE_USAGE = [
  '       verigate policy learn --audit DIR --out FILE [--since T] [--until T] [--base policy.yaml] [--config gateway.yaml]',
  '              [--max-gap 4] [--max-values 5] [--value-margin 0.1] [--rate-margin 2] [--include-shadow] [trail options]',
  '       verigate policy replay --audit DIR --policy FILE [--json] [--allow-tightening] [--since T] [--until T] [trail options]',
  '       verigate policy diff OLD.yaml NEW.yaml [--json]',
  '  T: ISO 8601 time, or a duration back from now (7d, 12h)',
  '  trail options (as audit verify): --bundle PEM --signer ID --checkpoint FILE… --checkpoint-interval 60s --allow-missing-checkpoints',
].join('\n');

const OPTIONS = {
  audit: { type: 'string' },
  out: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  base: { type: 'string' },
  config: { type: 'string' },
  policy: { type: 'string' },
  json: { type: 'boolean' },
  'allow-tightening': { type: 'boolean' },
  'include-shadow': { type: 'boolean' },
  'max-gap': { type: 'string' },
  'max-values': { type: 'string' },
  'value-margin': { type: 'string' },
  'rate-margin': { type: 'string' },
  bundle: { type: 'string' },
  signer: { type: 'string' },
  checkpoint: { type: 'string', multiple: true },
  'checkpoint-interval': { type: 'string' },
  'allow-missing-checkpoints': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

class UsageError extends Error {}

export function policyEvidenceCommand(verb: 'learn' | 'replay' | 'diff', args: readonly string[], io: CliIo): number {
  try {
    const parsed = parseArgs({ args: [...args], allowPositionals: true, options: OPTIONS });
    if (parsed.values.help === true) {
      io.out(`usage:\n${EVIDENCE_USAGE}`);
      return EXIT_OK;
    }
    if (verb === 'diff') return diff(io, parsed.positionals, parsed.values.json === true);
    if (parsed.positionals.length > 0) throw new UsageError(`unexpected argument ${parsed.positionals[0]}`);
    return verb === 'learn' ? learn(io, parsed.values) : replay(io, parsed.values);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`policy ${verb}: ${errorMessage(err)}`);
      io.err(`usage:\n${EVIDENCE_USAGE}`);
      return EXIT_USAGE;
    }
    if (isGatewayError(err)) {
      const details = configErrorDetails(err);
      for (const d of details) io.err(formatDetail(d));
      io.err(`policy ${verb}: ${err.message} [${err.code}]`);
      return err.code === 'GW_ERR_USAGE' ? EXIT_USAGE : EXIT_CHECK_FAILED;
    }
    throw err;
  }
}

function learn(io: CliIo, v: Values): number {
  if (v.audit === undefined || v.out === undefined) throw new UsageError('learn needs --audit DIR and --out FILE');
  const base = v.base === undefined ? null : { text: read(io, v.base), file: v.base };
  const options: Partial<ProposalOptions> = {
    maxGap: num('max-gap', v['max-gap'], DEFAULT_PROPOSAL.maxGap, true),
    maxDistinct: num('max-values', v['max-values'], DEFAULT_PROPOSAL.maxDistinct, true),
    valueMargin: num('value-margin', v['value-margin'], DEFAULT_PROPOSAL.valueMargin, false),
    rateMargin: num('rate-margin', v['rate-margin'], DEFAULT_PROPOSAL.rateMargin, false),
    ...(v.config !== undefined ? { tags: tagsOf(io, v.config) } : {}),
  };
  const r = learnPolicy({
    dir: resolve(io.cwd, v.audit),
    verify: trailVerify(io, v),
    window: windowOf(v),
    base,
    options,
    includeShadow: v['include-shadow'] === true,
    provenance: `from ${v.audit}${v.since ? ` since ${v.since}` : ''}${v.until ? ` until ${v.until}` : ''}`,
  });
  if (!r.ok) {
    io.err(
      'trail' in r
        ? `FAIL: ${describeBadTrail(r.trail)} — the trail is not evidence; nothing proposed`
        : `policy learn: ${r.error}`,
    );
    return EXIT_CHECK_FAILED;
  }
  writeFileSync(resolve(io.cwd, v.out), r.text);
  io.out(
    `proposed ${r.rules.length} rule(s) from ${r.learned} of ${r.requests} requests (${r.events} audit events) → ${v.out}`,
  );
  for (const rule of r.rules)
    io.out(
      `  ${rule.id}: ${rule.principals.join(', ')} on ${rule.device} (${rule.entries.length} entries, rate ${rule.rate})`,
    );
  for (const [why, n] of r.skipped) io.out(`  not learned: ${n} ${why}`);
  const verdict =
    r.notAllowed === 0
      ? 'all pass'
      : `those pass, but ${r.notAllowed} observed request(s) are NOT allowed by the proposal and were left out (see the warnings)`;
  io.out(
    `tests: ${r.tests.allow} observed (allow), ${r.tests.deny} near-misses (deny) — ${verdict}; next: verigate policy replay --audit ${v.audit} --policy ${v.out}`,
  );
  for (const w of r.warnings) io.err(`warning: ${w}`);
  return EXIT_OK;
}

function replay(io: CliIo, v: Values): number {
  if (v.audit === undefined || v.policy === undefined)
    throw new UsageError('replay needs --audit DIR and --policy FILE');
  const candidate = compilePolicyText(read(io, v.policy), v.policy);
  const r = replayTrail({ dir: resolve(io.cwd, v.audit), verify: trailVerify(io, v), window: windowOf(v), candidate });
  if (!r.ok) {
    io.err(`FAIL: ${describeBadTrail(r)} — the trail is not evidence; nothing replayed`);
    return EXIT_CHECK_FAILED;
  }
  if (v.json === true) io.out(JSON.stringify({ policy: v.policy, version: candidate.version, ...r }, null, 2));
  else for (const line of formatReplay(r, v.policy, candidate.version)) io.out(line);
  if (r.tightened > 0 && v['allow-tightening'] !== true) {
    io.err(
      `policy replay: ${r.tightened} request(s) allowed in the trail would be DENIED by ${v.policy} (pass --allow-tightening to accept)`,
    );
    return EXIT_CHECK_FAILED;
  }
  return EXIT_OK;
}

export function formatReplay(r: ReplayReport, file: string, version: string): string[] {
  const out = [
    `replay of ${r.requests} recorded requests (${r.events} audit events) under ${file} (version ${version.slice(0, 12)}…)`,
  ];
  for (const dir of ['allow→deny', 'deny→allow'] as const) {
    const groups = r.groups.filter((g) => g.direction === dir);
    const total = dir === 'allow→deny' ? r.tightened : r.loosened;
    out.push(
      `${dir}: ${total} request(s)${dir === 'allow→deny' ? ' that were answered would now be DENIED' : ' that were denied would now be allowed'}`,
    );
    for (const g of groups) {
      const rule =
        dir === 'allow→deny' ? `rule ${g.rule ?? '(none)'} → ${g.reason}` : `${g.reason} → rule ${g.rule ?? '(none)'}`;
      out.push(`  ${g.count} × ${g.identity} on ${g.device}: ${rule}`);
      for (const s of g.samples)
        out.push(
          `      seq ${s.seq} ${s.time} ${s.request}: ${dir === 'allow→deny' ? s.after.reason : `was ${s.before.reason}`}`,
        );
    }
  }
  const not = Object.entries(r.notReplayed).map(([why, n]) => `${n} ${why}`);
  out.push(
    `unchanged: ${r.unchanged}; undecidable (values hashed): ${r.undecidable}${not.length > 0 ? `; not replayed: ${not.join(', ')}` : ''}`,
  );
  return out;
}

function diff(io: CliIo, positionals: readonly string[], json: boolean): number {
  const [a, b, ...extra] = positionals;
  if (a === undefined || b === undefined || extra.length > 0) throw new UsageError('diff needs OLD.yaml NEW.yaml');
  const before = compilePolicyText(read(io, a), a);
  const after = compilePolicyText(read(io, b), b);
  const d = diffPolicies(before.source, after.source);
  if (json) io.out(JSON.stringify({ ...d, changed: Object.fromEntries(d.changed) }, null, 2));
  else {
    io.out(`policy diff ${a} (${before.version.slice(0, 12)}…) → ${b} (${after.version.slice(0, 12)}…)`);
    for (const line of formatDiff(d)) io.out(line);
  }
  return EXIT_OK;
}

function read(io: CliIo, file: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

function num(name: string, text: string | undefined, fallback: number, integer: boolean): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
    throw new UsageError(`--${name} must be a ${integer ? 'whole ' : ''}number ≥ 0, got ${JSON.stringify(text)}`);
  return n;
}

/** `--since`/`--until`: an ISO 8601 instant, or a duration back from now. */
function windowOf(v: Values): TrailWindow {
  const at = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const ago = tryParseDuration(text);
    const ms = ago !== null ? Date.now() - ago : Date.parse(text);
    if (Number.isNaN(ms))
      throw new UsageError(`--${name} must be an ISO 8601 time or a duration (7d), got ${JSON.stringify(text)}`);
    return ms;
  };
  const sinceMs = at('since', v.since);
  const untilMs = at('until', v.until);
  return { ...(sinceMs !== undefined ? { sinceMs } : {}), ...(untilMs !== undefined ? { untilMs } : {}) };
}

function trailVerify(io: CliIo, v: Values): TrailVerify {
  let intervalMs = DEFAULT_CHECKPOINT_EVERY_MS;
  if (v['checkpoint-interval'] !== undefined) {
    const ms = tryParseDuration(v['checkpoint-interval']);
    if (ms === null || ms === 0)
      throw new UsageError(`--checkpoint-interval: "${v['checkpoint-interval']}" is not a duration`);
    intervalMs = ms;
  }
  const external: ExternalCheckpoint[] = [];
  for (const f of v.checkpoint ?? []) {
    const p = parseExternalCheckpoints(read(io, f), f);
    if (!p.ok) throw new UsageError(`${f}:${p.line}: ${p.error}`);
    external.push(...p.checkpoints);
  }
  return {
    checkpointIntervalMs: intervalMs,
    allowMissingCheckpoints: v['allow-missing-checkpoints'] === true,
    ...(v.bundle !== undefined ? { trustBundlePem: read(io, v.bundle) } : {}),
    ...(v.signer !== undefined ? { signer: v.signer } : {}),
    ...(external.length > 0 ? { external } : {}),
  };
}

/** Device tags from gateway.yaml, so proposed ranges name the tags they match. */
function tagsOf(io: CliIo, file: string): NonNullable<ProposalOptions['tags']> {
  const config = loadGatewayConfig(resolve(io.cwd, file));
  return Object.fromEntries(config.devices.map((d) => [d.name, d.tags]));
}
