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
import { startRs485Line } from './lab-rs485.js';

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

export interface LabJson {
  trustDomain: string;
  /** The gateway's own SPIFFE ID: admin commands with `--lab` pin it (admin-client.ts). */
  gatewayId: string;
  identitySource: 'spire' | 'dev';
  endpoints: { mbaps: Endpoint; grpc: Endpoint; metrics: Endpoint };
  devices: { name: string; unitId: number; plc: Endpoint; controlPort: number }[];
  /** RS-485 lines (Modbus RTU): the gateway's and the devices' ends of the PTY pair, the meters on it. */
  serialLines: {
    name: string;
    gatewayPath: string;
    devicePath: string;
    scenario: string;
    controlPort: number;
    devices: { name: string; unitId: number; address: number }[];
  }[];
  /** PROFINET IO devices: `device` is the UDP PNIO-CM endpoint the gateway talks to (plaintext, lab only). */
  profinetDevices: { name: string; stationName: string; scenario: string; device: Endpoint; controlPort: number }[];
  clients: Record<string, { spiffeId: string; cert: string; key: string; bundle: string; grants: unknown }>;
  auditDir: string;
  policyFile: string;
  gatewayConfig: string;
}
type Endpoint = { host: string; port: number };

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
  const cleanups: (() => Promise<void>)[] = [];
  // Each part gets a bounded time to stop, so one that hangs (a serial port, a child) cannot hold the others.
  const stop = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      await Promise.race([c().catch(() => undefined), new Promise<void>((r) => setTimeout(r, STOP_STEP_MS).unref())]);
    }
  };
  try {
    const sims = await startPlcs(opts.scanDelayMs);
    cleanups.push(async () => {
      await Promise.all(Object.values(sims).map((s) => s.close()));
    });
    const rio = await startProfinetSimulator({
      scenario: join(SCENARIOS, 'remote-io.yaml'),
      host: '127.0.0.1',
      port: 0,
    });
    cleanups.push(() => rio.close());
    const identity: LabIdentity = await startLabIdentity(dir, opts.identity, opts.logger);
    cleanups.push(() => identity.stop());
    const clients: LabJson['clients'] = {};
    const policyFile = join(dir, 'policy.yaml');
    copyFileSync(opts.learnMs !== undefined ? COMMISSIONING_POLICY : SAMPLE_POLICY, policyFile);
    for (const c of LAB_CLIENTS) {
      const files = await identity.mintClient(c.name, c.spiffeId, c.role);
      clients[c.name] = { spiffeId: c.spiffeId, ...files, grants: grantsFor(policyFile, c.spiffeId) };
    }
    const rs485 = await startRs485Line(dir, SCENARIOS);
    if ('missing' in rs485) opts.logger.warn({ reason: rs485.missing }, 'lab: no RS-485 line (serial meters)');
    else cleanups.push(() => rs485.stop());
    const line = 'missing' in rs485 ? null : rs485;
    const configFile = join(dir, 'gateway.yaml');
    const learn =
      opts.learnMs !== undefined
        ? { until: new Date(Date.now() + opts.learnMs).toISOString(), principals: LAB_LEARNERS }
        : undefined;
    writeFileSync(
      configFile,
      renderLabGatewayYaml({
        host,
        ports: opts.ports,
        sims,
        profinet: { rio },
        identity,
        rs485: line ? { path: line.gatewayPath } : null,
        ...(learn ? { learn } : {}),
      }),
    );
    const gateway = await startGateway(loadGatewayConfig(configFile), { logger: opts.logger });
    cleanups.push(() => gateway.stop());
    const e = gateway.endpoints;
    const json: LabJson = {
      trustDomain: identity.trustDomain,
      gatewayId: gateway.identity.spiffeId(),
      identitySource: identity.kind,
      endpoints: {
        mbaps: { host, port: e.mbaps.port },
        grpc: { host, port: e.grpc?.port ?? 0 },
        metrics: { host, port: e.metrics?.port ?? 0 },
      },
      devices: [
        {
          name: 'turbine-1',
          unitId: 1,
          plc: { host: '127.0.0.1', port: sims.turbine.port },
          controlPort: sims.turbine.controlPort,
        },
        {
          name: 'tank-1',
          unitId: 2,
          plc: { host: '127.0.0.1', port: sims.tank.port },
          controlPort: sims.tank.controlPort,
        },
      ],
      serialLines: line
        ? [
            {
              name: 'rs485-1',
              gatewayPath: line.gatewayPath,
              devicePath: line.devicePath,
              scenario: 'meters',
              controlPort: line.meters.controlPort,
              devices: [
                { name: 'meter-1', unitId: 11, address: 11 },
                { name: 'meter-2', unitId: 12, address: 12 },
                { name: 'meters-all', unitId: 10, address: 0 },
              ],
            },
          ]
        : [],
      profinetDevices: [
        {
          name: 'rio-1',
          stationName: rio.scenario.device.stationName,
          scenario: 'remote-io',
          device: { host: rio.host, port: rio.port },
          controlPort: rio.controlPort,
        },
      ],
      clients,
      auditDir: gateway.config.audit.dir,
      policyFile,
      gatewayConfig: configFile,
    };
    writeFileSync(join(dir, 'lab.json'), JSON.stringify(json, null, 2) + '\n');
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

async function startPlcs(scanDelayMs?: number): Promise<{ turbine: Simulator; tank: Simulator }> {
  const delay = scanDelayMs === undefined ? {} : { scanDelayMs };
  const turbine = await startSimulator({ scenario: join(SCENARIOS, 'turbine.yaml'), ...delay });
  const tank = await startSimulator({ scenario: join(SCENARIOS, 'tank.yaml'), ...delay }).catch(async (err) => {
    await turbine.close();
    throw err;
  });
  return { turbine, tank };
}
