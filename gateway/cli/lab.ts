/**
 * The lab an integrator gets from `npm start`: simulated PLCs (a turbine and a tank), a simulated PROFINET IO
 * device (the remote I/O station rio-1, PNIO-CM over UDP on 127.0.0.1), identity (real SPIRE
 * when its binaries are installed, else the embedded dev issuer), client SVIDs for the sample identities,
 * the gateway with the sample policy, and `lab.json` describing it all for scripts and demos.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { startProfinetSimulator, type ProfinetSimulator } from '../../simulators/profinet/profinet-simulator.js';
import { startSimulator, type Simulator } from '../../simulators/simulator.js';
import { loadGatewayConfig } from '../config/gateway-config.js';
import { startGateway, type RunningGateway } from '../main.js';
import { LAB_CLIENTS, grantsFor } from './lab-clients.js';
import { startLabIdentity, type LabIdentity } from './lab-identity.js';
import { renderLabGatewayYaml } from './lab-gateway-yaml.js';
import { buildLabJson, type LabDevices, type LabJson } from './lab-json.js';
import { startRs485Line, type Rs485Line } from './lab-rs485.js';

const here = dirname(fileURLToPath(import.meta.url));
export const SAMPLE_POLICY = resolve(here, '../config/samples/policy.yaml');
/** The base policy of `verigate lab --learn`: admins and explicit denies only (README "Commissioning a plant"). */
export const COMMISSIONING_POLICY = resolve(here, '../config/samples/commissioning-policy.yaml');
/** Who learns in `verigate lab --learn`: the historian, the HMI and the engineers (not the stranger). */
export const LAB_LEARNERS = [
  'spiffe://plant.example/historian',
  'spiffe://plant.example/hmi/line1',
  'spiffe://plant.example/eng/*',
];
const SCENARIOS = resolve(here, '../../simulators/scenarios');

export type { LabJson } from './lab-json.js';

export interface LabOptions {
  readonly dir: string;
  readonly identity: 'spire' | 'dev' | 'auto';
  readonly host?: string;
  readonly ports?: { mbaps: number; grpc: number; metrics: number };
  readonly scanDelayMs?: number;
  readonly logger: Logger;
  /** Commissioning mode for this long on both PLCs, with the commissioning base policy (ms). */
  readonly learnMs?: number;
}

export interface Lab {
  readonly json: LabJson;
  readonly gateway: RunningGateway;
  readonly simulators: Record<string, Simulator>;
  readonly profinetSimulators: Record<string, ProfinetSimulator>;
  stop(): Promise<void>;
}

/** How long one part of the lab may take to stop before the next one is stopped anyway. */
const STOP_STEP_MS = 10_000;

export async function startLab(opts: LabOptions): Promise<Lab> {
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const host = opts.host ?? '127.0.0.1';
  const cleanups: Cleanup[] = [];
  const stop = (): Promise<void> => stopEach(cleanups);
  try {
    const { sims, rio } = await startSimulators(opts.scanDelayMs, cleanups);
    const identity: LabIdentity = await startLabIdentity(dir, opts.identity, opts.logger);
    cleanups.push(() => identity.stop());
    const policyFile = copyPolicy(dir, opts.learnMs);
    const clients = await mintClients(identity, policyFile);
    const devices: LabDevices = { sims, rio, line: await startSerialLine(dir, opts.logger, cleanups) };
    const configFile = writeGatewayYaml(dir, { host, ports: opts.ports, learnMs: opts.learnMs, devices, identity });
    const gateway = await startGateway(loadGatewayConfig(configFile), { logger: opts.logger });
    cleanups.push(() => gateway.stop());
    const json = buildLabJson({ host, identity, gateway, devices, clients, policyFile, configFile });
    writeFileSync(join(dir, 'lab.json'), JSON.stringify(json, null, 2) + '\n');
    const { line } = devices;
    return {
      json,
      gateway,
      simulators: { ...sims, ...(line ? { meters: line.meters } : {}) },
      profinetSimulators: { 'rio-1': rio },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

type Cleanup = () => Promise<void>;

/**
 * Stops the parts in reverse start order, each within a bounded time, so one that hangs (a serial port, a child)
 * cannot hold the others.
 */
async function stopEach(cleanups: Cleanup[]): Promise<void> {
  for (const c of cleanups.reverse()) {
    await Promise.race([c().catch(() => undefined), new Promise<void>((r) => setTimeout(r, STOP_STEP_MS).unref())]);
  }
}

async function startSimulators(
  scanDelayMs: number | undefined,
  cleanups: Cleanup[],
): Promise<Pick<LabDevices, 'sims' | 'rio'>> {
  const sims = await startPlcs(scanDelayMs);
  cleanups.push(async () => {
    await Promise.all(Object.values(sims).map((s) => s.close()));
  });
  const rio = await startProfinetSimulator({
    scenario: join(SCENARIOS, 'remote-io.yaml'),
    host: '127.0.0.1',
    port: 0,
  });
  cleanups.push(() => rio.close());
  return { sims, rio };
}

/** The sample policy, or with `--learn` the commissioning base policy, as the lab's own editable copy. */
function copyPolicy(dir: string, learnMs: number | undefined): string {
  const policyFile = join(dir, 'policy.yaml');
  copyFileSync(learnMs !== undefined ? COMMISSIONING_POLICY : SAMPLE_POLICY, policyFile);
  return policyFile;
}

/** A client SVID for each sample identity, with what the policy grants it (for the printed instructions). */
async function mintClients(identity: LabIdentity, policyFile: string): Promise<LabJson['clients']> {
  const clients: LabJson['clients'] = {};
  for (const c of LAB_CLIENTS) {
    const files = await identity.mintClient(c.name, c.spiffeId, c.role);
    clients[c.name] = { spiffeId: c.spiffeId, ...files, grants: grantsFor(policyFile, c.spiffeId) };
  }
  return clients;
}

/** The RS-485 line, or null (with a warning saying why) when socat cannot make one. */
async function startSerialLine(dir: string, logger: Logger, cleanups: Cleanup[]): Promise<Rs485Line | null> {
  const rs485 = await startRs485Line(dir, SCENARIOS);
  if ('missing' in rs485) {
    logger.warn({ reason: rs485.missing }, 'lab: no RS-485 line (serial meters)');
    return null;
  }
  cleanups.push(() => rs485.stop());
  return rs485;
}

function writeGatewayYaml(
  dir: string,
  o: {
    host: string;
    ports: LabOptions['ports'];
    learnMs: number | undefined;
    devices: LabDevices;
    identity: LabIdentity;
  },
): string {
  const configFile = join(dir, 'gateway.yaml');
  const learn =
    o.learnMs !== undefined
      ? { until: new Date(Date.now() + o.learnMs).toISOString(), principals: LAB_LEARNERS }
      : undefined;
  writeFileSync(
    configFile,
    renderLabGatewayYaml({
      host: o.host,
      ports: o.ports,
      sims: o.devices.sims,
      profinet: { rio: o.devices.rio },
      identity: o.identity,
      rs485: o.devices.line ? { path: o.devices.line.gatewayPath } : null,
      ...(learn ? { learn } : {}),
    }),
  );
  return configFile;
}

async function startPlcs(scanDelayMs?: number): Promise<{ turbine: Simulator; tank: Simulator }> {
  const delay = scanDelayMs === undefined ? {} : { scanDelayMs };
  const turbine = await startSimulator({ scenario: join(SCENARIOS, 'turbine.yaml'), ...delay });
  const tank = await startSimulator({ scenario: join(SCENARIOS, 'tank.yaml'), ...delay }).catch(async (err) => {
    await turbine.close();
    throw err;
  });
  return { turbine, tank };
}
