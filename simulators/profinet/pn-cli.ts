/**
 * The PROFINET half of the sim CLI (simulators/cli.ts picks it when the scenario says `protocol: profinet`):
 * maps the CLI flags to `startProfinetSimulator` options. UDP port default 34964 [IEC 61158-6-10].
 */
import type { SimLogger } from '../sim-logger.js';
import { PNIO_CM_UDP_PORT, startProfinetSimulator, type ProfinetSimulator } from './profinet-simulator.js';

export const PROFINET_USAGE =
  'PROFINET scenarios (protocol: profinet): [--port 34964] [--answer-byte-order big|echo] [--fragment-size 1392] [--max-ars N] [--ar-timeout ms] [--exit-on-user-index-read] (--scan-delay = answer delay, default 0)';

export const PROFINET_CLI_OPTIONS = {
  'answer-byte-order': { type: 'string' },
  'fragment-size': { type: 'string' },
  'max-ars': { type: 'string' },
  'ar-timeout': { type: 'string' },
  'exit-on-user-index-read': { type: 'boolean' },
} as const;

export async function startProfinetFromCli(
  scenario: string,
  values: Record<string, string | boolean | undefined>,
  ints: Record<string, number | undefined>,
  logger: SimLogger,
): Promise<ProfinetSimulator> {
  const order = values['answer-byte-order'] ?? 'big';
  if (order !== 'big' && order !== 'echo')
    throw new Error(`--answer-byte-order must be big or echo, got '${String(order)}'`);
  const fragment = ints['fragment-size'];
  if (fragment !== undefined && (fragment < 64 || fragment > 65_000))
    throw new Error('--fragment-size must be 64..65000');
  return startProfinetSimulator({
    scenario,
    ...(typeof values['host'] === 'string' ? { host: values['host'] } : {}),
    port: ints['port'] ?? PNIO_CM_UDP_PORT,
    controlPort: ints['control-port'] ?? 0,
    answerByteOrder: order,
    ...(fragment !== undefined ? { maxFragmentBody: fragment } : {}),
    ...(ints['scan-delay'] !== undefined ? { answerDelayMs: ints['scan-delay'] } : {}),
    ...(ints['max-ars'] !== undefined ? { maxArs: ints['max-ars'] } : {}),
    ...(ints['ar-timeout'] !== undefined ? { arTimeoutMs: ints['ar-timeout'] } : {}),
    exitOnUserIndexRead: values['exit-on-user-index-read'] === true,
    logger,
  });
}
