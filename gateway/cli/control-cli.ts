/**
 * What every `verigate control …` subcommand shares: the common flags (`--config`, `--json`, `--help`),
 * loading fleet-control.yaml with every error as file:line:col, and a hub session (identity + connection)
 * that is always closed. Exit codes [docs/reference.md "Exit codes"]: 0 ok, 1 the operation failed (hub
 * unreachable, a refusal), 2 bad usage or config.
 */
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { configErrorDetails, formatDetail } from '../config/load-yaml.js';
import { errorMessage, isGatewayError } from '../errors.js';
import { loadFleetControlConfig, selectSites, type FleetControlConfig } from '../fleet/fleet-control-config.js';
import { nullLogger, type Logger } from '../logger.js';
import { EXIT_CHECK_FAILED, EXIT_USAGE, type CliIo } from './cli-io.js';
import { connectHub, type Hub } from './control-hub.js';
import { openControlIdentity, type ControlIdentity, type IdentityRefresh } from './control-identity.js';

export const DEFAULT_CONFIG = 'fleet-control.yaml';

export const COMMON_OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with the common flags; a string is the usage error to print. */
export function parseControlArgs<O extends Options>(
  args: readonly string[],
  options: O,
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } | string {
  try {
    const r = parseArgs({ args: [...args], allowPositionals: true, options: { ...COMMON_OPTIONS, ...options } });
    const values: Record<string, string | boolean | string[] | undefined> = r.values;
    return { values, positionals: r.positionals };
  } catch (err) {
    return errorMessage(err);
  }
}

export function usage(io: CliIo, text: string, message: string | null): number {
  if (message !== null) io.err(`control: ${message}`);
  io.err(text);
  return EXIT_USAGE;
}

/** `--config`, else $VERIGATE_FLEET_CONFIG, else ./fleet-control.yaml. */
export function configPathOf(values: Record<string, unknown>, io: CliIo): string {
  const given = typeof values['config'] === 'string' ? values['config'] : io.env['VERIGATE_FLEET_CONFIG'];
  return resolve(io.cwd, given || DEFAULT_CONFIG);
}

/** The config, or null after printing every located error (exit 2). */
export function loadConfigOrReport(io: CliIo, values: Record<string, unknown>): FleetControlConfig | null {
  try {
    return loadFleetControlConfig(configPathOf(values, io));
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    const details = configErrorDetails(err);
    if (details.length === 0) io.err(err.message);
    else for (const d of details) io.err(formatDetail(d));
    io.err(`control: ${details.length > 0 ? `${details.length} error(s) in the config` : 'bad config'} [${err.code}]`);
    return null;
  }
}

export interface HubSession {
  readonly config: FleetControlConfig;
  readonly identity: ControlIdentity;
  readonly hub: Hub;
  readonly logger: Logger;
}

/**
 * Runs `fn` with an identity and a hub connection, closing both afterwards. A failure to obtain the identity
 * or to reach the hub is printed and exits 1 (the command could not be carried out).
 */
export async function withHub(
  io: CliIo,
  config: FleetControlConfig,
  fn: (s: HubSession) => Promise<number>,
  logger: Logger = nullLogger,
  refresh: IdentityRefresh = {},
): Promise<number> {
  let identity: ControlIdentity;
  try {
    identity = await openControlIdentity(config, logger, refresh);
  } catch (err) {
    io.err(`control: no identity: ${errorMessage(err)}`);
    return EXIT_CHECK_FAILED;
  }
  let hub: Hub;
  try {
    hub = await connectHub(config, identity);
  } catch (err) {
    identity.close();
    io.err(errorMessage(err));
    return EXIT_CHECK_FAILED;
  }
  try {
    return await fn({ config, identity, hub, logger });
  } finally {
    await hub.close();
    identity.close();
  }
}

/** Repeatable string flags as a list (parseArgs gives string[] for `multiple: true`). */
export function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

/** The sites `--site`/`--group` name; neither given means every site of the config. */
export function sitesOf(config: FleetControlConfig, v: Record<string, unknown>): string[] {
  const none = list(v['site']).length + list(v['group']).length === 0;
  const r = selectSites(config, none ? { sites: config.sites } : { sites: list(v['site']), groups: list(v['group']) });
  if (!r.ok) throw new UsageError(r.message);
  return r.sites;
}

export function str(v: Record<string, unknown>, name: string): string | undefined {
  const x = v[name];
  return typeof x === 'string' ? x : undefined;
}

export function need(v: Record<string, unknown>, name: string): string {
  const x = str(v, name);
  if (x === undefined || x.trim() === '') throw new UsageError(`--${name} is required`);
  return x;
}

/** A JSON line for `--json`, or the text lines. */
export function emit(io: CliIo, json: boolean, value: unknown, lines: () => string[]): void {
  if (json) io.out(JSON.stringify(value));
  else for (const l of lines()) io.out(l);
}
