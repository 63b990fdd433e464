/**
 * fleet-control.yaml: load (schema + file:line errors via config/load-yaml.ts), apply defaults, check what the
 * schema cannot (one identity source, unique sites, groups naming configured sites, positive intervals), then
 * freeze. Paths resolve against the file's directory, as gateway.yaml's do.
 */
import { dirname, resolve } from 'node:path';
import { tryParseDuration } from '../config/duration.js';
import {
  configError,
  deepFreeze,
  loadYamlDocument,
  type ConfigErrorDetail,
  type YamlDocument,
} from '../config/load-yaml.js';
import { fleetControlSchema, type FleetControlYaml } from './fleet-control-schema.js';
import { fleetIds } from './fleet-topology.js';

export interface FleetControlConfig {
  readonly file: string;
  readonly hub: { readonly urls: readonly string[]; readonly caFile: string | null; readonly connectTimeoutMs: number };
  readonly identity:
    | { readonly source: 'files'; readonly cert: string; readonly key: string; readonly bundle: string }
    | { readonly source: 'workload-api'; readonly socket: string | null; readonly startupTimeoutMs: number };
  readonly sites: readonly string[];
  readonly groups: Readonly<Record<string, readonly string[]>>;
  readonly heartbeatEveryMs: number;
  /** Gateway names per site that status and audit collection keep (more are ignored). */
  readonly maxGatewaysPerSite: number;
  readonly audit: {
    readonly dir: string;
    readonly checkpointEveryMs: number;
    /** SPIFFE ID template of a gateway's checkpoint signer ({trustDomain}, {site}, {gateway}); null: any SVID. */
    readonly checkpointSigner: string | null;
    readonly syslog: {
      readonly host: string;
      readonly port: number;
      readonly format: 'rfc5424' | 'cef';
      readonly caFile: string | null;
      readonly spoolDir: string;
      readonly spoolMaxBytes: number;
    } | null;
  };
  readonly logLevel: string;
}

export const DEFAULT_HEARTBEAT_EVERY_MS = 1000;
export const DEFAULT_MAX_GATEWAYS_PER_SITE = 256;
/** The fleet convention (the user a site's leaf maps a gateway to): fleetIds.gateway as a template. */
export const DEFAULT_CHECKPOINT_SIGNER = fleetIds.gateway('{trustDomain}', '{site}', '{gateway}');
const SIGNER_PLACEHOLDER = /\{([^}]*)\}/g;
const SIGNER_FIELDS = new Set(['trustDomain', 'site', 'gateway']);

export function loadFleetControlConfig(path: string): FleetControlConfig {
  const file = resolve(path);
  const doc = loadYamlDocument<FleetControlYaml>(file, fleetControlSchema, { module: 'fleet-control' });
  const problems = semanticProblems(doc);
  if (problems.length > 0) throw configError('GW_ERR_CONFIG_INVALID', 'fleet-control', `${file} is invalid`, problems);
  return deepFreeze(build(doc.value, file));
}

const ms = (text: string | undefined, fallback: number): number =>
  text === undefined ? fallback : (tryParseDuration(text) ?? fallback);

function build(raw: FleetControlYaml, file: string): FleetControlConfig {
  const at = (p: string): string => resolve(dirname(file), p);
  const id = raw.identity;
  const a = raw.audit ?? {};
  const syslog = a.syslog;
  const port = syslog ? syslog.address.slice(syslog.address.lastIndexOf(':') + 1) : '';
  return {
    file,
    hub: {
      urls: [...raw.hub.urls],
      caFile: raw.hub.caFile ? at(raw.hub.caFile) : null,
      connectTimeoutMs: ms(raw.hub.connectTimeout, 10_000),
    },
    identity: id.files
      ? { source: 'files', cert: at(id.files.cert), key: at(id.files.key), bundle: at(id.files.bundle) }
      : { source: 'workload-api', socket: id.socket ?? null, startupTimeoutMs: ms(id.startupTimeout, 30_000) },
    sites: [...raw.sites],
    groups: Object.fromEntries(Object.entries(raw.groups ?? {}).map(([g, s]) => [g, [...s]])),
    heartbeatEveryMs: ms(raw.heartbeatEvery, DEFAULT_HEARTBEAT_EVERY_MS),
    maxGatewaysPerSite: raw.maxGatewaysPerSite ?? DEFAULT_MAX_GATEWAYS_PER_SITE,
    audit: {
      dir: at(a.dir ?? 'fleet-audit'),
      checkpointEveryMs: ms(a.checkpointEvery, 60_000),
      checkpointSigner: a.checkpointSigner === 'any' ? null : (a.checkpointSigner ?? DEFAULT_CHECKPOINT_SIGNER),
      syslog: syslog
        ? {
            host: syslog.address.slice(0, syslog.address.lastIndexOf(':')),
            port: Number(port),
            format: syslog.format ?? 'rfc5424',
            caFile: syslog.caFile ? at(syslog.caFile) : null,
            spoolDir: at(syslog.spoolDir ?? 'syslog-spool'),
            spoolMaxBytes: syslog.spoolMaxBytes ?? 64 * 1024 * 1024,
          }
        : null,
    },
    logLevel: raw.logging?.level ?? 'info',
  };
}

function semanticProblems(doc: YamlDocument<FleetControlYaml>): ConfigErrorDetail[] {
  const raw = doc.value;
  const problems: ConfigErrorDetail[] = [];
  const id = raw.identity;
  const source = id.source ?? (id.files ? 'files' : 'workload-api');
  if (source === 'files' && !id.files)
    problems.push(doc.problemAt(['identity'], 'identity.source is "files" but identity.files is missing'));
  if (source === 'workload-api' && id.files)
    problems.push(doc.problemAt(['identity', 'files'], 'identity.files does not go with source "workload-api"'));
  if (id.files && (id.socket !== undefined || id.startupTimeout !== undefined))
    problems.push(
      doc.problemAt(['identity', 'socket'], 'identity.socket/startupTimeout do not go with identity.files'),
    );
  const seen = new Set<string>();
  raw.sites.forEach((s, i) => {
    if (seen.has(s)) problems.push(doc.problemAt(['sites', i], `site "${s}" is listed twice`));
    seen.add(s);
  });
  for (const [group, sites] of Object.entries(raw.groups ?? {})) {
    sites.forEach((s, i) => {
      if (!seen.has(s)) problems.push(doc.problemAt(['groups', group, i], `group "${group}": "${s}" is not a site`));
    });
  }
  for (const m of (raw.audit?.checkpointSigner ?? '').matchAll(SIGNER_PLACEHOLDER))
    if (!SIGNER_FIELDS.has(m[1] ?? ''))
      problems.push(
        doc.problemAt(
          ['audit', 'checkpointSigner'],
          `unknown placeholder ${m[0]} (use {trustDomain}, {site}, {gateway})`,
        ),
      );
  for (const path of [['heartbeatEvery'], ['hub', 'connectTimeout'], ['audit', 'checkpointEvery']] as const) {
    const text = lookup(raw, path);
    if (typeof text === 'string' && tryParseDuration(text) === 0)
      problems.push(doc.problemAt(path, `${path.join('.')} must be longer than 0`));
  }
  return problems;
}

function lookup(value: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>(
    (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
    value,
  );
}

/** The sites one command addresses: `--site` names and the members of `--group` names, each checked. */
export function selectSites(
  config: FleetControlConfig,
  sel: { readonly sites?: readonly string[]; readonly groups?: readonly string[] },
): { ok: true; sites: string[]; group: string | null } | { ok: false; message: string } {
  const out = new Set<string>();
  for (const s of sel.sites ?? []) {
    if (!config.sites.includes(s)) return { ok: false, message: `"${s}" is not a site of ${config.file}` };
    out.add(s);
  }
  for (const g of sel.groups ?? []) {
    const members = config.groups[g];
    if (!members) return { ok: false, message: `"${g}" is not a group of ${config.file}` };
    for (const s of members) out.add(s);
  }
  const groups = sel.groups ?? [];
  return {
    ok: true,
    sites: [...out],
    group: groups.length === 1 && (sel.sites ?? []).length === 0 ? (groups[0] ?? null) : null,
  };
}

/**
 * The SPIFFE ID a gateway's checkpoints must be signed by (the collector and `control audit verify` refuse
 * others), from `audit.checkpointSigner` and the control's trust domain; undefined: any SVID of the bundle.
 */
export function checkpointSignerFor(
  config: FleetControlConfig,
  trustDomain: string,
): (site: string, gateway: string) => string | undefined {
  const template = config.audit.checkpointSigner;
  if (template === null) return () => undefined;
  return (site, gateway) => {
    const fields: Record<string, string> = { trustDomain, site, gateway };
    return template.replace(SIGNER_PLACEHOLDER, (whole, name: string) => fields[name] ?? whole);
  };
}
