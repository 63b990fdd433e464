/**
 * `verigate control grant issue|revoke|list` — JIT grants held at the centre (docs/fleet.md). An issued grant
 * is checked against the JIT rules of the policy published to each selected site (control-grant-check.ts),
 * then the same `Grant` (gateway/trust/grant-service.ts shape, status `active`, its approvals and expiresAt)
 * is put under `grants.<id>` in every selected site bucket, with one id. Revocation puts the grant back with
 * status `revoked`, who and why, so every gateway ends it and audits the reason.
 *   control grant issue --requester ID --device D --table T (--start N --end N | --addresses LO-HI)
 *        --access read|write|read-write --duration 15m --reason "…" --approver ID… [--site S]… [--group G]…
 *   control grant revoke GRANT_ID [--reason "…"] [--site S]…      control grant list [--site S]… [--json]
 */
import { randomUUID } from 'node:crypto';
import { tryParseDuration } from '../config/duration.js';
import { errorMessage } from '../errors.js';
import { GRANT_KEY_PREFIX, KEY_POLICY, grantKey } from '../fleet/fleet-topology.js';
import type { PolicyEnvelope } from '../fleet/policy-envelope.js';
import { compilePolicyText } from '../policy/compile-policy.js';
import type { Grant, GrantAccess, GrantRequest, GrantTable } from '../trust/grant-service.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from './cli-io.js';
import {
  emit,
  list,
  sitesOf,
  loadConfigOrReport,
  need,
  parseControlArgs,
  str,
  usage,
  UsageError,
  withHub,
  type HubSession,
} from './control-cli.js';
import { checkGrant } from './control-grant-check.js';
import { getJson, isGood, listJson } from './control-kv.js';

const USAGE = [
  'usage: verigate control grant issue --requester SPIFFE_ID --device D --table coils|discrete|holding|input|records',
  '              (--start N --end N | --addresses LO-HI) --access read|write|read-write --duration 15m',
  '              --reason "…" --approver SPIFFE_ID… [--site S]… [--group G]… [--json]',
  '       verigate control grant revoke GRANT_ID [--reason "…"] [--site S]… [--json]',
  '       verigate control grant list [--site S]… [--json]',
  '  without --site/--group: every site of the config',
].join('\n');

const OPTIONS = {
  requester: { type: 'string' },
  device: { type: 'string' },
  table: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  addresses: { type: 'string' },
  access: { type: 'string' },
  duration: { type: 'string' },
  reason: { type: 'string' },
  approver: { type: 'string', multiple: true },
  site: { type: 'string', multiple: true },
  group: { type: 'string', multiple: true },
} as const;

const TABLES: readonly GrantTable[] = ['coils', 'discrete', 'holding', 'input', 'records'];
const ACCESS: readonly GrantAccess[] = ['read', 'write', 'read-write'];

export async function controlGrant(args: readonly string[], io: CliIo, now: () => number = Date.now): Promise<number> {
  const p = parseControlArgs(args, OPTIONS);
  if (typeof p === 'string') return usage(io, USAGE, p);
  if (p.values['help'] === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const [verb, ...rest] = p.positionals;
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return EXIT_USAGE;
  const json = p.values['json'] === true;
  try {
    const sites = sitesOf(config, p.values);
    if (verb === 'issue' && rest.length === 0) {
      const req = grantRequest(p.values);
      const approvers = list(p.values['approver']);
      if (approvers.length === 0) throw new UsageError('--approver is required (repeat it for each approver)');
      return await withHub(io, config, (s) => issue(s, io, json, sites, req, approvers, now()));
    }
    if (verb === 'revoke' && rest.length === 1) {
      const reason = str(p.values, 'reason') ?? 'revoked at the fleet control';
      return await withHub(io, config, (s) => revoke(s, io, json, sites, rest[0] as string, reason));
    }
    if (verb === 'list' && rest.length === 0)
      return await withHub(io, config, (s) => listGrants(s, io, json, sites, now()));
  } catch (err) {
    if (err instanceof UsageError) return usage(io, USAGE, err.message);
    throw err;
  }
  return usage(io, USAGE, null);
}

function number(text: string, what: string): number {
  const t = text.trim();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t))
    throw new UsageError(`${what}: "${text}" is not a number (decimal or 0x hex)`);
  return Number(t);
}

/** The request as the flags give it (the policy decides the rule). */
export function grantRequest(v: Record<string, unknown>): GrantRequest {
  const table = need(v, 'table') as GrantTable;
  if (!TABLES.includes(table)) throw new UsageError(`--table must be one of ${TABLES.join(', ')}`);
  const access = need(v, 'access') as GrantAccess;
  if (!ACCESS.includes(access)) throw new UsageError(`--access must be one of ${ACCESS.join(', ')}`);
  const durationMs = tryParseDuration(need(v, 'duration'));
  if (durationMs === null || durationMs === 0) throw new UsageError('--duration must be a duration such as 15m');
  let range: { start: number; end: number };
  const addresses = str(v, 'addresses');
  if (addresses !== undefined) {
    if (str(v, 'start') !== undefined || str(v, 'end') !== undefined)
      throw new UsageError('give --addresses or --start/--end, not both');
    const [lo, hi = lo] = addresses.split('-');
    range = { start: number(lo ?? '', '--addresses'), end: number(hi ?? '', '--addresses') };
  } else {
    range = { start: number(need(v, 'start'), '--start'), end: number(need(v, 'end'), '--end') };
  }
  return {
    requester: need(v, 'requester'),
    device: need(v, 'device'),
    table,
    ...range,
    access,
    durationMs,
    reason: need(v, 'reason'),
  };
}

async function issue(
  s: HubSession,
  io: CliIo,
  json: boolean,
  sites: string[],
  req: GrantRequest,
  approvers: string[],
  now: number,
): Promise<number> {
  // Judge at every site first: a grant is written everywhere or nowhere.
  const judged: { site: string; grant: Grant }[] = [];
  for (const site of sites) {
    const env = await getJson<PolicyEnvelope>(await s.hub.site(site), KEY_POLICY);
    if (env === null || !isGood(env)) {
      io.err(
        `control grant: ${site} has no readable published policy: publish one first (grants are checked against its JIT rules)`,
      );
      return EXIT_CHECK_FAILED;
    }
    let verdict;
    try {
      const policy = compilePolicyText(env.value.policy, `${site} policy revision ${env.value.revision}`);
      verdict = checkGrant(policy, req, approvers, now);
    } catch (err) {
      verdict = { ok: false as const, message: `its policy does not compile: ${errorMessage(err)}` };
    }
    if (!verdict.ok) {
      io.err(`control grant: refused for ${site}: ${verdict.message}`);
      return EXIT_CHECK_FAILED;
    }
    judged.push({ site, grant: verdict.grant });
  }
  const id = randomUUID();
  const written: string[] = [];
  const failed: { site: string; error: string }[] = [];
  await Promise.all(
    judged.map(async ({ site, grant }) => {
      try {
        await (await s.hub.site(site)).put(grantKey(id), JSON.stringify({ ...grant, id }));
        written.push(site);
      } catch (err) {
        failed.push({ site, error: errorMessage(err) });
      }
    }),
  );
  written.sort();
  const grant = { ...(judged[0]?.grant as Grant), id };
  emit(io, json, { grant, sites: written, failed }, () => [
    `issued ${grantLine(grant)}`,
    `sites: ${written.join(', ')}`,
  ]);
  for (const f of failed) io.err(`control grant: NOT written to ${f.site}: ${f.error}`);
  return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
}

async function revoke(
  s: HubSession,
  io: CliIo,
  json: boolean,
  sites: string[],
  id: string,
  reason: string,
): Promise<number> {
  const revoked: string[] = [];
  const failed: { site: string; error: string }[] = [];
  // Every site is tried: one unreachable bucket must not leave the grant in force at the others.
  for (const site of sites) {
    try {
      if (await revokeAt(s, site, id, reason)) revoked.push(site);
    } catch (err) {
      failed.push({ site, error: errorMessage(err) });
    }
  }
  if (revoked.length === 0 && failed.length === 0) {
    io.err(`control grant: no active grant ${id} in ${sites.join(', ')}`);
    return EXIT_CHECK_FAILED;
  }
  emit(io, json, { id, sites: revoked, failed }, () => [`revoked grant ${id}`, `sites: ${revoked.join(', ')}`]);
  for (const f of failed) io.err(`control grant: NOT revoked at ${f.site}: ${f.error}`);
  return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
}

/** Puts the grant back as revoked at one site; false when that site holds no active grant of this id. */
async function revokeAt(s: HubSession, site: string, id: string, reason: string): Promise<boolean> {
  const kv = await s.hub.site(site);
  const e = await getJson<Grant>(kv, grantKey(id));
  if (e === null || !isGood(e) || e.value.status !== 'active') return false;
  const closed: Grant = { ...e.value, status: 'revoked', closedBy: s.identity.spiffeId(), closedReason: reason };
  await kv.put(grantKey(id), JSON.stringify(closed));
  return true;
}

async function listGrants(s: HubSession, io: CliIo, json: boolean, sites: string[], now: number): Promise<number> {
  const byId = new Map<string, { grant: Grant; sites: string[] }>();
  for (const site of sites) {
    for (const e of await listJson<Grant>(await s.hub.site(site), GRANT_KEY_PREFIX)) {
      if (!isGood(e)) {
        io.err(`control grant: ${site} ${e.key}: ${e.bad}`);
        continue;
      }
      const entry = byId.get(e.value.id) ?? { grant: e.value, sites: [] };
      entry.sites.push(site);
      byId.set(e.value.id, entry);
    }
  }
  // An active grant past its expiry is shown as expired: that is what every gateway enforces.
  const shown = [...byId.values()].map(({ grant, sites: at }) => ({
    grant:
      grant.status === 'active' && Date.parse(grant.expiresAt ?? '') <= now
        ? { ...grant, status: 'expired' as const }
        : grant,
    sites: at,
  }));
  emit(io, json, shown, () =>
    shown.length === 0 ? ['no grants'] : shown.map((x) => `${grantLine(x.grant)} sites=${x.sites.join(',')}`),
  );
  return EXIT_OK;
}

function grantLine(g: Grant): string {
  const expires = g.expiresAt ? ` expires=${g.expiresAt}` : '';
  const scope = `${g.device} ${g.table}:${g.start}-${g.end} ${g.access}`;
  return `${g.id} ${g.status} ${g.requester} rule=${g.ruleId} ${scope}${expires} approvals=${g.approvals.join(',')} reason="${g.reason}"`;
}
