#!/usr/bin/env -S MALLOC_MMAP_THRESHOLD_=65536 node --max-semi-space-size=8
/**
 * `verigate <command>`: dispatches to one module per command, loaded lazily so `verigate policy check` does
 * not pay for gRPC or TLS start-up. Exit codes: 0 ok, 1 a check failed, 2 bad usage or config.
 */
import { isGatewayError } from '../errors.js';
import { EXIT_USAGE, processIo, type CliCommand } from './cli-io.js';

const COMMANDS: Record<string, { summary: string; load: () => Promise<CliCommand> }> = {
  run: {
    summary: 'run the gateway daemon: run --config gateway.yaml',
    load: async () => (await import('./run-command.js')).runCommand,
  },
  lab: {
    summary: 'simulated PLCs + identity + gateway with the sample policy (npm start)',
    load: async () => (await import('./lab-command.js')).labCommand,
  },
  svid: {
    summary: 'dev issuer: svid mint --id spiffe://… --out DIR [--role R] [--ttl 24h]',
    load: async () => (await import('./svid-command.js')).svidCommand,
  },
  policy: {
    summary:
      'policy check FILE | explain FILE --id … --fc … | learn --audit DIR --out F | replay --audit DIR --policy F | diff A B',
    load: async () => (await import('./policy-command.js')).policyCommand,
  },
  audit: {
    summary: 'audit verify DIR [--bundle PEM]',
    load: async () => (await import('./audit-command.js')).auditCommand,
  },
  jit: {
    summary: 'jit request|approve|deny|list|revoke … (admin API, your own SVID)',
    load: async () => (await import('./admin-commands.js')).jitCommand,
  },
  sessions: {
    summary: 'sessions list|kill … (admin API)',
    load: async () => (await import('./admin-commands.js')).sessionsCommand,
  },
  lock: {
    summary: 'lock create|list|remove … (admin API)',
    load: async () => (await import('./admin-commands.js')).lockCommand,
  },
  reload: {
    summary: 'reload the policy on a running gateway (admin API)',
    load: async () => (await import('./admin-commands.js')).reloadCommand,
  },
  profinet: {
    summary: 'profinet identity|read|write --device D … (PROFINET IO records, your own SVID)',
    load: async () => (await import('./profinet-command.js')).profinetCommand,
  },
  control: {
    summary: 'fleet centre: control init|serve|policy publish|lock|grant|status|audit verify (fleet-control.yaml)',
    load: async () => (await import('./control-command.js')).controlCommand,
  },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`);
  return ['usage: verigate <command> [options]', '', 'commands:', ...lines].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const io = processIo();
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name ? 0 : EXIT_USAGE;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    io.err(`verigate: unknown command "${name}"\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await (
      await entry.load()
    )(rest, io);
  } catch (err) {
    if (isGatewayError(err)) {
      io.err(`verigate ${name}: ${err.message} [${err.code}]`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`verigate: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
