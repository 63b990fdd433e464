/**
 * `verigate run --config gateway.yaml`: the daemon. SIGHUP reloads the policy (a failing policy keeps the old
 * one and says why); SIGINT/SIGTERM stop cleanly. A bad config exits 2 with every error as file:line.
 */
import { parseArgs } from 'node:util';
import { errorMessage } from '../errors.js';
import { loadGatewayConfig } from '../config/gateway-config.js';
import { startGateway } from '../main.js';
import { EXIT_OK, EXIT_USAGE, type CliCommand } from './cli-io.js';

export const runCommand: CliCommand = async (args, io) => {
  let config: string | undefined;
  try {
    ({
      values: { config },
    } = parseArgs({ args: [...args], options: { config: { type: 'string', short: 'c' } } }));
  } catch (err) {
    io.err(`verigate run: ${errorMessage(err)}`);
    return EXIT_USAGE;
  }
  if (!config) {
    io.err('verigate run: --config FILE is required (see README "gateway.yaml reference")');
    return EXIT_USAGE;
  }
  const gateway = await startGateway(loadGatewayConfig(config));
  const onHup = (): void => {
    gateway.policy.reload('SIGHUP');
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.off('SIGHUP', onHup);
  await gateway.stop();
  return EXIT_OK;
};
