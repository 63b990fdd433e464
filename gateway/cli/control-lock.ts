/**
 * `verigate control lock create|remove|list` — the fleet's one lock authority (docs/fleet.md "How a lock
 * travels"). A lock's id is made here, once, and the same `Lock` (gateway/trust/lock-service.ts shape) is put
 * under `locks.<id>` in every selected site bucket at the hub; each leaf mirrors it and every gateway of the
 * site ends the matching sessions. Removal is a KV delete of that key in every bucket that holds it.
 *   control lock create (--identity P | --role R | --device D | --grant G) --reason R [--until T] [--site S]… [--group G]…
 *   control lock remove LOCK_ID [--site S]…       control lock list [--site S]… [--json]
 */
import { randomUUID } from 'node:crypto';
import { tryParseDuration } from '../config/duration.js';
import { errorMessage } from '../errors.js';
import { LOCK_KEY_PREFIX, lockKey } from '../fleet/fleet-topology.js';
import { compileIdPattern } from '../identity/spiffe-id-pattern.js';
import type { Lock, LockKind } from '../trust/lock-service.js';
import { EXIT_CHECK_FAILED, EXIT_OK, type CliIo } from './cli-io.js';
import {
  emit,
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
import { isGood, listJson } from './control-kv.js';

const USAGE = [
  'usage: verigate control lock create (--identity PATTERN | --role ROLE | --device NAME | --grant ID) --reason "…"',
  '                                    [--until ISO_TIME|DURATION] [--site S]… [--group G]… [--json]',
  '       verigate control lock remove LOCK_ID [--site S]… [--json]',
  '       verigate control lock list [--site S]… [--json]',
  '  without --site/--group a lock goes to (and remove/list look at) every site of the config',
].join('\n');

const OPTIONS = {
  identity: { type: 'string' },
  role: { type: 'string' },
  device: { type: 'string' },
  grant: { type: 'string' },
  reason: { type: 'string' },
  until: { type: 'string' },
  site: { type: 'string', multiple: true },
  group: { type: 'string', multiple: true },
} as const;

export async function controlLock(args: readonly string[], io: CliIo, now: () => number = Date.now): Promise<number> {
  const p = parseControlArgs(args, OPTIONS);
  if (typeof p === 'string') return usage(io, USAGE, p);
  const [verb, ...rest] = p.positionals;
  if (p.values['help'] === true) {
    io.out(USAGE);
    return EXIT_OK;
  }
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return 2;
  try {
    const sites = sitesOf(config, p.values);
    const json = p.values['json'] === true;
    if (verb === 'create' && rest.length === 0) {
      const draft = draftLock(p.values, now);
      return await withHub(io, config, (s) => create(s, io, json, sites, draft));
    }
    if (verb === 'remove' && rest.length === 1)
      return await withHub(io, config, (s) => remove(s, io, json, sites, rest[0] as string));
    if (verb === 'list' && rest.length === 0)
      return await withHub(io, config, (s) => listLocks(s, io, json, sites, now));
  } catch (err) {
    if (err instanceof UsageError) return usage(io, USAGE, err.message);
    throw err;
  }
  return usage(io, USAGE, null);
}

type Draft = Omit<Lock, 'id' | 'by'>;

/** The lock as asked, checked before anything is written. */
export function draftLock(v: Record<string, unknown>, now: () => number): Draft {
  const kinds = (['identity', 'role', 'device', 'grant'] as const).filter((k) => str(v, k) !== undefined);
  if (kinds.length !== 1) throw new UsageError('give exactly one of --identity, --role, --device or --grant');
  const kind = kinds[0] as LockKind;
  const value = str(v, kind) as string;
  if (value.trim() === '') throw new UsageError(`--${kind} must not be empty`);
  if (kind === 'identity') {
    try {
      compileIdPattern(value);
    } catch (err) {
      throw new UsageError(`--identity: ${errorMessage(err)}`);
    }
  }
  const reason = need(v, 'reason');
  const until = str(v, 'until');
  const at = now();
  let expiresAt: string | undefined;
  if (until !== undefined) {
    const ms = tryParseDuration(until);
    const t = ms !== null ? at + ms : Date.parse(until);
    if (Number.isNaN(t)) throw new UsageError(`--until: "${until}" is neither an ISO 8601 time nor a duration`);
    if (t <= at) throw new UsageError(`--until ${new Date(t).toISOString()} is not in the future`);
    expiresAt = new Date(t).toISOString();
  }
  return {
    target: { kind, value },
    reason,
    createdAt: new Date(at).toISOString(),
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

async function create(s: HubSession, io: CliIo, json: boolean, sites: string[], draft: Draft): Promise<number> {
  const lock: Lock = { id: randomUUID(), ...draft, by: s.identity.spiffeId() };
  const data = JSON.stringify(lock);
  const done: string[] = [];
  const failed: { site: string; error: string }[] = [];
  // All sites at once: a lock is an incident response, its latency is the slowest bucket's, not the sum.
  await Promise.all(
    sites.map(async (site) => {
      try {
        await (await s.hub.site(site)).put(lockKey(lock.id), data);
        done.push(site);
      } catch (err) {
        failed.push({ site, error: errorMessage(err) });
      }
    }),
  );
  done.sort();
  emit(io, json, { lock, sites: done, failed }, () => [
    `locked ${lockLine(lock)}`,
    `sites: ${done.join(', ') || '(none)'}`,
  ]);
  for (const f of failed) io.err(`control lock: NOT written to ${f.site}: ${f.error} (run the same create again)`);
  return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
}

async function remove(s: HubSession, io: CliIo, json: boolean, sites: string[], id: string): Promise<number> {
  const removed: string[] = [];
  const failed: { site: string; error: string }[] = [];
  for (const site of sites) {
    try {
      const kv = await s.hub.site(site);
      if ((await kv.get(lockKey(id)))?.operation !== 'PUT') continue;
      await kv.delete(lockKey(id));
      removed.push(site);
    } catch (err) {
      failed.push({ site, error: errorMessage(err) });
    }
  }
  emit(io, json, { id, sites: removed, failed }, () =>
    removed.length > 0 ? [`removed lock ${id}`, `sites: ${removed.join(', ')}`] : [],
  );
  for (const f of failed) io.err(`control lock: could not remove from ${f.site}: ${f.error}`);
  if (removed.length === 0 && failed.length === 0) {
    io.err(`control lock: no lock ${id} in ${sites.join(', ')}`);
    return EXIT_CHECK_FAILED;
  }
  return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
}

async function listLocks(s: HubSession, io: CliIo, json: boolean, sites: string[], now: () => number): Promise<number> {
  const byId = new Map<string, { lock: Lock; sites: string[] }>();
  for (const site of sites) {
    for (const e of await listJson<Lock>(await s.hub.site(site), LOCK_KEY_PREFIX)) {
      if (!isGood(e)) {
        io.err(`control lock: ${site} ${e.key}: ${e.bad}`);
        continue;
      }
      const entry = byId.get(e.value.id) ?? { lock: e.value, sites: [] };
      entry.sites.push(site);
      byId.set(e.value.id, entry);
    }
  }
  const locks = [...byId.values()].sort((a, b) => a.lock.createdAt.localeCompare(b.lock.createdAt));
  const at = now();
  const expired = (l: Lock): boolean => l.expiresAt !== undefined && Date.parse(l.expiresAt) <= at;
  emit(
    io,
    json,
    locks.map((x) => ({ ...x, expired: expired(x.lock) })),
    () =>
      locks.length === 0
        ? ['no locks']
        : locks.map((x) => `${lockLine(x.lock)}${expired(x.lock) ? ' (expired)' : ''} sites=${x.sites.join(',')}`),
  );
  return EXIT_OK;
}

function lockLine(l: Lock): string {
  const expires = l.expiresAt ? ` until=${l.expiresAt}` : '';
  return `${l.id} ${l.target.kind}=${l.target.value} by ${l.by}${expires} reason="${l.reason}"`;
}
