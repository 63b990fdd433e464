/**
 * What every `verigate` command that calls the gRPC API shares (the admin verbs and `profinet`): the common
 * options (`--server`, `--lab DIR --as NAME`, `--cert/--key/--bundle`, `--gateway-id` pin, `--json`,
 * `--timeout`), target resolution through admin-client.ts, subcommand dispatch, and the exit codes
 * [docs/reference.md "Exit codes"]: 0 ok, 1 the call failed or was refused (also: the server is not the
 * pinned gateway), 2 bad usage (including no gateway ID to pin).
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { tryParseDuration } from '../config/duration.js';
import { authorizeId } from '../identity/authorizers.js';
import { resolveAdminTarget, VerigateClient, type CallOutcome, type VerigateService } from './admin-client.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './cli-io.js';

export const COMMON_USAGE = [
  'common options:',
  '  --server HOST:PORT     gateway gRPC address (default: $VERIGATE_GRPC, or lab.json of --lab)',
  '  --cert svid.pem --key key.pem --bundle bundle.pem    your own X.509-SVID and trust bundle',
  "  --gateway-id ID        the gateway's own SPIFFE ID; any other server SVID is refused (default:",
  '                         $VERIGATE_GATEWAY_ID, or lab.json of --lab; required)',
  '  --lab DIR --as NAME    take the address, the gateway ID and the SVID of client NAME from DIR/lab.json',
  '  --json                 machine-readable output',
  '  --timeout 10s          call deadline',
].join('\n');

const COMMON = {
  server: { type: 'string' },
  lab: { type: 'string' },
  as: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  bundle: { type: 'string' },
  'gateway-id': { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  reason: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = Record<string, string | boolean | undefined>;
export type Sub = (v: Values, pos: readonly string[], c: Caller) => Promise<number>;

export interface Caller {
  readonly io: CliIo;
  call<T>(method: string, req: object): Promise<CallOutcome<T>>;
  /**
   * Prints the result (human lines, or JSON: `json(value)` when given, else the value) and returns the exit
   * code; a failed call prints its status, details and trailing metadata (with --json as one object).
   */
  report<T>(
    r: CallOutcome<T>,
    human: (v: T) => string[],
    failed?: (v: T) => string | null,
    json?: (v: T) => unknown,
  ): number;
}

/** Thrown by a subcommand for bad usage: exit 2 with the usage text. */
export class UsageError extends Error {}

export const need = (v: Values, name: string): string => {
  const x = v[name];
  if (typeof x !== 'string' || x === '') throw new UsageError(`--${name} is required`);
  return x;
};
export const intArg = (v: Values, name: string): number => {
  const s = need(v, name);
  if (!/^[0-9]+$/.test(s)) throw new UsageError(`--${name} must be a non-negative integer, got "${s}"`);
  return Number(s);
};
export const seconds = (text: string, name: string): number => {
  const ms = tryParseDuration(text);
  if (ms === null || ms <= 0) throw new UsageError(`--${name} must be a duration like 30s, 5m, 2h (got "${text}")`);
  return Math.ceil(ms / 1000);
};
export const onlyArg = (pos: readonly string[], what: string): string => {
  if (pos.length !== 1 || !pos[0]) throw new UsageError(`give exactly one ${what}`);
  return pos[0];
};
export const reasonOf = (v: Values): string => (typeof v['reason'] === 'string' ? v['reason'] : '');

export interface CommandSpec {
  readonly name: string;
  readonly usage: string;
  /** The verigate.v1 service the subcommands call (default Admin). */
  readonly service?: VerigateService;
  readonly options: Record<string, { type: 'string' | 'boolean'; short?: string }>;
  readonly subs: Record<string, Sub>;
}

export function makeCommand(spec: CommandSpec): CliCommand {
  const usage = `${spec.usage}\n${COMMON_USAGE}`;
  return async (args, io) => {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...args],
        allowPositionals: true,
        strict: true,
        options: { ...COMMON, ...spec.options },
      });
    } catch (e) {
      io.err(`verigate ${spec.name}: ${errorMessage(e)}\n${usage}`);
      return EXIT_USAGE;
    }
    const v = parsed.values as Values;
    if (v['help'] === true) {
      io.out(usage);
      return EXIT_OK;
    }
    const direct = spec.subs[''] !== undefined;
    const subName = direct ? '' : (parsed.positionals[0] ?? '');
    const sub = spec.subs[subName];
    const pos = direct ? parsed.positionals : parsed.positionals.slice(1);
    if (!sub || (direct && pos.length > 0)) {
      io.err(
        `verigate ${spec.name}: ${subName ? `unknown subcommand "${subName}"` : 'unexpected arguments'}\n${usage}`,
      );
      return EXIT_USAGE;
    }
    return run(spec, usage, v, pos, sub, io);
  };
}

async function run(
  spec: CommandSpec,
  usage: string,
  v: Values,
  pos: readonly string[],
  sub: Sub,
  io: CliIo,
): Promise<number> {
  const name = spec.name;
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);
  const opts = {
    server: str('server'),
    lab: str('lab'),
    as: str('as'),
    cert: str('cert'),
    key: str('key'),
    bundle: str('bundle'),
    gatewayId: str('gateway-id'),
  };
  const target = resolveAdminTarget(opts, io.env, io.cwd);
  if (typeof target === 'string') {
    io.err(`verigate ${name}: ${target}\n${usage}`);
    return EXIT_USAGE;
  }
  let timeoutMs = 10_000;
  let client: VerigateClient | null = null;
  try {
    if (str('timeout') !== undefined) timeoutMs = seconds(str('timeout') ?? '', 'timeout') * 1000;
    client = new VerigateClient(spec.service ?? 'Admin', target.server, target.pems, {
      authorize: authorizeId(target.gatewayId),
    });
    const c = client;
    const json = v['json'] === true;
    return await sub(v, pos, {
      io,
      call: (method, req) => c.call(method, req, timeoutMs),
      report: (r, human, failed, toJson) => {
        if (!r.ok) {
          if (json) io.out(JSON.stringify({ ok: false, code: r.codeName, details: r.details, metadata: r.metadata }));
          io.err(`verigate ${name}: ${r.codeName}: ${r.details}`);
          return EXIT_CHECK_FAILED;
        }
        if (json) io.out(JSON.stringify(toJson ? toJson(r.value) : r.value, null, 2));
        else for (const line of human(r.value)) io.out(line);
        return failed?.(r.value) ? EXIT_CHECK_FAILED : EXIT_OK;
      },
    });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.err(`verigate ${name}: ${e.message}\n${usage}`);
    return EXIT_USAGE;
  } finally {
    client?.close();
  }
}
