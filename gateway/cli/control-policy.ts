/**
 * `verigate control policy publish (--site S | --group G)… --file policy.yaml` — signed policy rollout
 * (docs/fleet.md "Policy signing and rollout"). The file must pass what `verigate policy check` checks
 * (schema, compile, the policy's own tests) or nothing is published. Per site: revision = the revision in
 * that bucket + 1, the envelope signed with the control SVID (gateway/fleet/policy-envelope.ts), and written
 * with a compare-and-set on the entry read, so two publishers racing cannot both claim one revision.
 *
 * Revisions never restart: gateways refuse a revision at or below the one they applied. After the `policy`
 * key was deleted, the next revision follows the highest one the key's history still holds; when it holds
 * none (purged), publish refuses unless `--revision N` names one above what the gateways applied (`control
 * status`) — also the way out after a bucket was recreated.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KV } from '@nats-io/kv';
import { configErrorDetails, formatDetail } from '../config/load-yaml.js';
import { errorMessage, isGatewayError } from '../errors.js';
import { selectSites } from '../fleet/fleet-control-config.js';
import { KEY_POLICY } from '../fleet/fleet-topology.js';
import { signPolicyEnvelope, type PolicyEnvelope } from '../fleet/policy-envelope.js';
import { compilePolicyText } from '../policy/compile-policy.js';
import type { CompiledPolicy } from '../policy/compiled-policy.js';
import { runPolicyTests } from '../policy/policy-tests.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from './cli-io.js';
import {
  emit,
  list,
  loadConfigOrReport,
  parseControlArgs,
  str,
  usage,
  withHub,
  type HubSession,
} from './control-cli.js';
import { getJson, isGood } from './control-kv.js';

const USAGE = [
  'usage: verigate control policy publish (--site S | --group G)… --file policy.yaml [--revision N] [--json]',
  '  the file must pass `verigate policy check` (schema, compile, its own tests); each site gets its next revision',
  '  --revision N: publish exactly revision N (above every revision the gateways applied: `control status`), for a',
  '  site whose policy key history was purged or whose bucket was recreated',
].join('\n');

const OPTIONS = {
  site: { type: 'string', multiple: true },
  group: { type: 'string', multiple: true },
  file: { type: 'string', short: 'f' },
  revision: { type: 'string' },
} as const;

/** CAS retries when another publisher wrote between our read and our write. */
const MAX_ATTEMPTS = 3;

export async function controlPolicy(
  args: readonly string[],
  io: CliIo,
  now: () => Date = () => new Date(),
): Promise<number> {
  const p = parseControlArgs(args, OPTIONS);
  if (typeof p === 'string') return usage(io, USAGE, p);
  if (p.values['help'] === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const file = str(p.values, 'file');
  const sitesGiven = list(p.values['site']);
  const groups = list(p.values['group']);
  if (p.positionals.join(' ') !== 'publish' || file === undefined || sitesGiven.length + groups.length === 0)
    return usage(io, USAGE, p.positionals[0] === 'publish' ? 'publish needs --file and --site or --group' : null);
  const revisionArg = str(p.values, 'revision');
  const revision = revisionArg === undefined ? null : Number(revisionArg);
  if (revision !== null && !(Number.isSafeInteger(revision) && revision >= 1))
    return usage(io, USAGE, `--revision must be a positive integer, not ${JSON.stringify(revisionArg)}`);
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return EXIT_USAGE;
  const sel = selectSites(config, { sites: sitesGiven, groups });
  if (!sel.ok) return usage(io, USAGE, sel.message);
  let text: string;
  try {
    text = readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (err) {
    io.err(`control policy: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    return EXIT_USAGE;
  }
  const policy = checkPolicy(io, text, file);
  if (policy === null) {
    io.err('control policy: not published (fix the policy: `verigate policy check` shows the same errors)');
    return EXIT_CHECK_FAILED;
  }
  const json = p.values['json'] === true;
  return withHub(io, config, (s) =>
    publish(s, io, json, { text, version: policy.version, sites: sel.sites, group: sel.group, now, revision }),
  );
}

/** Schema, compile and in-file tests, reported as `verigate policy check` does; null when any fails. */
export function checkPolicy(io: CliIo, text: string, file: string): CompiledPolicy | null {
  let policy: CompiledPolicy;
  try {
    policy = compilePolicyText(text, file);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    const details = configErrorDetails(err);
    if (details.length === 0) io.err(err.message);
    else for (const d of details) io.err(formatDetail(d));
    io.err(`control policy: ${details.length || 1} error(s) [${err.code}]`);
    return null;
  }
  const report = runPolicyTests(policy);
  if (report.failures.length > 0) {
    for (const d of report.failures) io.err(formatDetail(d));
    io.err(
      `control policy: ${report.failures.length} of ${policy.tests.length} test(s) failed [GW_ERR_POLICY_TEST_FAILED]`,
    );
    return null;
  }
  return policy;
}

interface Publication {
  readonly text: string;
  readonly version: string;
  readonly sites: readonly string[];
  readonly group: string | null;
  readonly now: () => Date;
  /** `--revision`: exactly this one (null: the bucket's next). */
  readonly revision: number | null;
}

interface Published {
  readonly site: string;
  readonly revision: number;
}

async function publish(s: HubSession, io: CliIo, json: boolean, pub: Publication): Promise<number> {
  const done: Published[] = [];
  const failed: { site: string; error: string }[] = [];
  for (const site of pub.sites) {
    try {
      done.push({ site, revision: await publishTo(s, await s.hub.site(site), site, pub) });
    } catch (err) {
      failed.push({ site, error: errorMessage(err) });
    }
  }
  emit(io, json, { version: pub.version, published: done, failed }, () => [
    ...done.map((d) => `published revision ${d.revision} to ${d.site}`),
    `policy version ${pub.version}; sites: ${done.map((d) => d.site).join(', ') || '(none)'}`,
  ]);
  for (const f of failed) io.err(`control policy: NOT published to ${f.site}: ${f.error}`);
  return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
}

async function publishTo(s: HubSession, kv: KV, site: string, pub: Publication): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const prev = await kv.get(KEY_POLICY);
    const live = prev !== null && prev.operation === 'PUT';
    const current = live ? await getJson<PolicyEnvelope>(kv, KEY_POLICY) : null;
    if (current !== null && !isGood(current))
      throw new Error(`the policy entry in ${site} is unreadable: ${current.bad}`);
    const liveRevision = current?.value.revision;
    if (current !== null && !(Number.isSafeInteger(liveRevision) && (liveRevision as number) >= 0))
      throw new Error(`the policy entry in ${site} has no usable revision (${JSON.stringify(liveRevision)})`);
    // a deleted key: its history (-1: none left); never written (or a new bucket): 0
    const previous = current !== null ? current.value.revision : prev === null ? 0 : await historyRevision(kv);
    const revision = nextRevision(site, previous, pub.revision);
    const envelope = signPolicyEnvelope(
      { site, group: pub.group, revision, policy: pub.text, signedAt: pub.now() },
      s.identity.svid(),
    );
    const data = JSON.stringify(envelope);
    try {
      // Compare-and-set against what we read: a deleted key's marker still has a sequence to update from.
      if (prev === null) await kv.create(KEY_POLICY, data);
      else await kv.update(KEY_POLICY, data, prev.revision);
      return envelope.revision;
    } catch (err) {
      if (attempt >= MAX_ATTEMPTS) throw err;
    }
  }
}

/**
 * The `policy` key was deleted: the highest revision its history still holds (gateways applied up to it at
 * least, and refuse anything not above it), or -1 when none is left (purged). An entry that does not parse is
 * passed over: at worst the next revision is too low, and every gateway refuses it (stale-revision, audited).
 */
async function historyRevision(kv: KV): Promise<number> {
  let max = -1;
  for await (const e of await kv.history({ key: KEY_POLICY })) {
    if (e.operation !== 'PUT') continue;
    const r = revisionIn(e.string());
    if (r > max) max = r;
  }
  return max;
}

function revisionIn(text: string): number {
  try {
    const r = (JSON.parse(text) as { revision?: unknown } | null)?.revision;
    return typeof r === 'number' && Number.isSafeInteger(r) ? r : -1;
  } catch {
    return -1;
  }
}

/** `previous` + 1, or `--revision` when given and above `previous`; -1 (history lost) needs `--revision`. */
function nextRevision(site: string, previous: number, given: number | null): number {
  if (given !== null) {
    if (given <= previous)
      throw new Error(`--revision ${given} is not above revision ${previous} in ${site}: gateways would refuse it`);
    return given;
  }
  if (previous < 0)
    throw new Error(
      `the policy key in ${site} was deleted and its history holds no revision: gateways refuse a revision at or ` +
        'below the one they applied, so a restart at 1 would be refused everywhere; publish with --revision N ' +
        'above the revision `verigate control status` shows for the site',
    );
  return previous + 1;
}
