#!/usr/bin/env node
/**
 * `npm run sim -- --scenario simulators/scenarios/turbine.yaml [--host H] [--port N] [--control-port N]
 *   [--scan-delay ms] [--max-connections N] [--max-in-flight N] [--tick ms]`
 * (or `npx tsx simulators/cli.ts …`). A scenario with `protocol: profinet` starts the PROFINET device
 * simulator instead (simulators/profinet/pn-cli.ts; UDP port default 34964). Prints one JSON line
 * `{"event":"listening",…}` on stdout when ready; logs (pino JSON) go to stderr. SIGUSR1 toggles the `silent` fault, SIGUSR2 power-cycles the PLC, SIGINT/SIGTERM
 * close cleanly (exit 0). Exit 2 on bad usage or an invalid scenario (errors as file:line:col).
 */
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { isProfinetScenarioFile } from './profinet/load-pn-scenario.js';
import { PROFINET_CLI_OPTIONS, PROFINET_USAGE, startProfinetFromCli } from './profinet/pn-cli.js';
import { startSimulator, type SimRtuOptions } from './simulator.js';

const USAGE =
  'usage: sim --scenario FILE [--host 127.0.0.1] [--port 502] [--control-port 0] [--scan-delay 10] [--max-connections 4] [--max-in-flight 1] [--tick 100] [--log-level info]\n' +
  '           [--serial PATH] [--rtu-port N] [--baud 9600] [--parity even|odd|none] [--stop-bits 1|2] [--pace bytes|frame|none]   (also serve the units as a Modbus RTU line)\n' +
  PROFINET_USAGE;

function intOption(values: Record<string, unknown>, name: string): number | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return n;
}

const CLI_OPTIONS = {
  scenario: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'control-port': { type: 'string' },
  'scan-delay': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-in-flight': { type: 'string' },
  tick: { type: 'string' },
  'log-level': { type: 'string' },
  serial: { type: 'string' },
  'rtu-port': { type: 'string' },
  baud: { type: 'string' },
  parity: { type: 'string' },
  'stop-bits': { type: 'string' },
  pace: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  ...PROFINET_CLI_OPTIONS,
} as const;

/** The options read as non-negative integers (both simulators' flags). */
const INT_OPTIONS = [
  'port',
  'control-port',
  'scan-delay',
  'max-connections',
  'max-in-flight',
  'tick',
  'fragment-size',
  'max-ars',
  'ar-timeout',
  'rtu-port',
  'baud',
  'stop-bits',
];

type CliValues = Record<string, string | boolean | undefined>;
type CliInts = Record<string, number | undefined>;

async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv);
  if (typeof parsed === 'number') return parsed;
  const { values, scenario } = parsed;
  const logger = pino({ name: 'sim', level: String(values['log-level'] ?? 'info') }, pino.destination(2));
  let sim: RunningSim;
  try {
    sim = await startFromCli(scenario, values, logger);
  } catch (err) {
    process.stderr.write(`sim: ${(err as Error).message}\n`);
    return 2;
  }
  announce(sim, values);
  await serveUntilSignal(sim);
  logger.info({}, 'closed');
  return 0;
}

/** The flags and the scenario path, or the exit code when there is nothing to run (usage printed). */
function parseCli(argv: string[]): { values: CliValues; scenario: string } | number {
  let values: CliValues;
  try {
    values = parseArgs({ args: argv, options: CLI_OPTIONS, strict: true }).values;
  } catch (err) {
    process.stderr.write(`sim: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values['help']) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (typeof values['scenario'] !== 'string') {
    process.stderr.write(`sim: --scenario is required\n${USAGE}\n`);
    return 2;
  }
  return { values, scenario: values['scenario'] };
}

/** A `protocol: profinet` scenario starts the PROFINET device, any other the Modbus PLC. */
async function startFromCli(scenario: string, values: CliValues, logger: Logger): Promise<RunningSim> {
  const ints: CliInts = Object.fromEntries(INT_OPTIONS.map((k) => [k, intOption(values, k)]));
  if (isProfinetScenarioFile(scenario)) return startProfinetFromCli(scenario, values, ints, logger);
  return startSimulator({
    scenario,
    ...(typeof values['host'] === 'string' ? { host: values['host'] } : {}),
    port: ints['port'] ?? 502,
    controlPort: ints['control-port'] ?? 0,
    ...(ints['scan-delay'] !== undefined ? { scanDelayMs: ints['scan-delay'] } : {}),
    ...(ints['max-connections'] !== undefined ? { maxConnections: ints['max-connections'] } : {}),
    ...(ints['max-in-flight'] !== undefined ? { maxInFlight: ints['max-in-flight'] } : {}),
    ...(ints['tick'] !== undefined ? { tickMs: ints['tick'] } : {}),
    ...rtuOptions(values, ints),
    logger,
  });
}

/** The one `{"event":"listening",…}` line on stdout that scripts and tests wait for. */
function announce(sim: RunningSim, values: CliValues): void {
  const st = sim.state() as { scenario: string; host: string; protocol?: string };
  const rtu = 'rtuPort' in sim ? { rtuPort: sim.rtuPort, serial: values['serial'] ?? null } : {};
  process.stdout.write(
    `${JSON.stringify({ event: 'listening', protocol: st.protocol ?? 'modbus', scenario: st.scenario, host: st.host, port: sim.port, controlPort: sim.controlPort, ...rtu, pid: process.pid })}\n`,
  );
}

/** SIGUSR1 toggles the `silent` fault, SIGUSR2 power-cycles; SIGINT/SIGTERM close. */
async function serveUntilSignal(sim: RunningSim): Promise<void> {
  process.on('SIGUSR1', () => sim.setFault(sim.fault().mode === 'silent' ? { mode: 'none' } : { mode: 'silent' }));
  process.on('SIGUSR2', () => void sim.restart());
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await sim.close();
}

/** `--serial` / `--rtu-port` with the line format (default 9600 8E1 [MB-SERIAL 2.5.1]). */
function rtuOptions(values: CliValues, ints: CliInts): { rtu?: SimRtuOptions } {
  const serialPath = typeof values['serial'] === 'string' ? values['serial'] : undefined;
  const tcpPort = ints['rtu-port'];
  if (serialPath === undefined && tcpPort === undefined) return {};
  const parity = values['parity'] ?? 'even';
  if (parity !== 'even' && parity !== 'odd' && parity !== 'none')
    throw new Error(`--parity must be even, odd or none, got ${JSON.stringify(parity)}`);
  const stopBits = ints['stop-bits'] ?? 1;
  if (stopBits !== 1 && stopBits !== 2) throw new Error(`--stop-bits must be 1 or 2, got ${stopBits}`);
  const baudRate = ints['baud'] ?? 9600;
  if (baudRate < 50) throw new Error(`--baud must be at least 50, got ${baudRate}`);
  const pace = values['pace'] ?? 'bytes';
  if (pace !== 'bytes' && pace !== 'frame' && pace !== 'none')
    throw new Error(`--pace must be bytes, frame or none, got ${JSON.stringify(pace)}`);
  return {
    rtu: {
      ...(serialPath !== undefined ? { serialPath } : {}),
      ...(tcpPort !== undefined ? { tcpPort } : {}),
      format: { baudRate, dataBits: 8, parity, stopBits },
      pace,
    },
  };
}

/** What the CLI needs of either simulator. */
interface RunningSim {
  readonly port: number;
  readonly controlPort: number;
  state(): object;
  fault(): { mode: string };
  setFault(f: { mode: 'none' } | { mode: 'silent' }): void;
  restart(downMs?: number): Promise<void>;
  close(): Promise<void>;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sim: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
