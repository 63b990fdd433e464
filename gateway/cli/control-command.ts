/**
 * `verigate control <subcommand>` — the fleet's centre (docs/fleet.md "The commands"): dispatches to one
 * module per job, loaded lazily. Every subcommand reads fleet-control.yaml (`--config`, $VERIGATE_FLEET_CONFIG,
 * or ./fleet-control.yaml). Exit codes: 0 ok, 1 the operation failed or was refused, 2 bad usage or config.
 */
import { EXIT_OK, EXIT_USAGE, type CliCommand, type CliIo } from './cli-io.js';
import { loadConfigOrReport, parseControlArgs, usage } from './control-cli.js';

const SUBCOMMANDS: Record<string, { summary: string; run: (args: readonly string[], io: CliIo) => Promise<number> }> = {
  check: {
    summary: 'validate fleet-control.yaml (every error as file:line:col)',
    run: (a, io) => Promise.resolve(check(a, io)),
  },
  init: {
    summary: 'create the hub buckets and the hub AUDIT stream sources of every site',
    run: async (a, io) => (await import('./control-init.js')).controlInit(a, io),
  },
  serve: {
    summary: 'heartbeat, audit collection + verification + SIEM export, status cache (until SIGTERM)',
    run: async (a, io) => (await import('./control-serve.js')).controlServe(a, io),
  },
  policy: {
    summary: 'policy publish (--site S | --group G) --file policy.yaml',
    run: async (a, io) => (await import('./control-policy.js')).controlPolicy(a, io),
  },
  lock: {
    summary: 'lock create (--identity|--role|--device X) --reason R [--until T] [--site S]… | remove ID | list',
    run: async (a, io) => (await import('./control-lock.js')).controlLock(a, io),
  },
  grant: {
    summary: 'grant issue --requester … --approver … | revoke ID | list',
    run: async (a, io) => (await import('./control-grant.js')).controlGrant(a, io),
  },
  audit: {
    summary: 'audit verify: the collected per-gateway trails (chains, checkpoints, no gap)',
    run: async (a, io) => (await import('./control-audit.js')).controlAudit(a, io),
  },
  status: {
    summary: 'per gateway: policy revision, staleness, sessions, audit lag',
    run: async (a, io) => (await import('./control-status.js')).controlStatus(a, io),
  },
};

function overview(): string {
  const lines = Object.entries(SUBCOMMANDS).map(([n, s]) => `  ${n.padEnd(7)} ${s.summary}`);
  return [
    'usage: verigate control <subcommand> [--config fleet-control.yaml] [options]',
    '',
    ...lines,
    '',
    "'verigate control <subcommand> --help' for its options",
  ].join('\n');
}

export const controlCommand: CliCommand = async (args, io) => {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(overview());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) {
    io.err(`control: unknown subcommand "${name}"\n${overview()}`);
    return EXIT_USAGE;
  }
  return sub.run(rest, io);
};

function check(args: readonly string[], io: CliIo): number {
  const text = 'usage: verigate control check [--config fleet-control.yaml]';
  const p = parseControlArgs(args, {});
  if (typeof p === 'string' || p.positionals.length > 0)
    return usage(io, text, typeof p === 'string' ? p : `unexpected ${p.positionals.join(' ')}`);
  const config = loadConfigOrReport(io, p.values);
  if (config === null) return EXIT_USAGE;
  const groups = Object.keys(config.groups);
  io.out(
    `ok: ${config.file}: ${config.sites.length} site(s) (${config.sites.join(', ')}), ${groups.length} group(s), ` +
      `heartbeat every ${config.heartbeatEveryMs} ms, identity from ${config.identity.source}`,
  );
  return EXIT_OK;
}
