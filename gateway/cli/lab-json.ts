/**
 * `lab.json`: what `verigate lab` started and where — endpoints, devices, serial lines, PROFINET devices, client
 * credentials — for scripts, demos and the admin commands' `--lab` (admin-client.ts).
 */
import type { ProfinetSimulator } from '../../simulators/profinet/profinet-simulator.js';
import type { Simulator } from '../../simulators/simulator.js';
import type { RunningGateway } from '../main.js';
import type { LabIdentity } from './lab-identity.js';
import type { Rs485Line } from './lab-rs485.js';

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

/** The lab's simulated devices: two PLCs, the PROFINET remote I/O station, the RS-485 line when socat made one. */
export interface LabDevices {
  readonly sims: { turbine: Simulator; tank: Simulator };
  readonly rio: ProfinetSimulator;
  readonly line: Rs485Line | null;
}

export interface LabJsonParts {
  readonly host: string;
  readonly identity: LabIdentity;
  readonly gateway: RunningGateway;
  readonly devices: LabDevices;
  readonly clients: LabJson['clients'];
  readonly policyFile: string;
  readonly configFile: string;
}

export function buildLabJson(p: LabJsonParts): LabJson {
  return {
    trustDomain: p.identity.trustDomain,
    gatewayId: p.gateway.identity.spiffeId(),
    identitySource: p.identity.kind,
    endpoints: endpointsOf(p.gateway, p.host),
    devices: plcDevices(p.devices.sims),
    serialLines: p.devices.line ? [serialLine(p.devices.line)] : [],
    profinetDevices: [profinetDevice(p.devices.rio)],
    clients: p.clients,
    auditDir: p.gateway.config.audit.dir,
    policyFile: p.policyFile,
    gatewayConfig: p.configFile,
  };
}

/** A front door that is not configured is written with port 0. */
function endpointsOf(gateway: RunningGateway, host: string): LabJson['endpoints'] {
  const e = gateway.endpoints;
  return {
    mbaps: { host, port: e.mbaps.port },
    grpc: { host, port: e.grpc?.port ?? 0 },
    metrics: { host, port: e.metrics?.port ?? 0 },
  };
}

/** Unit ids 1 and 2, as lab-gateway-yaml.ts routes them. */
function plcDevices(sims: LabDevices['sims']): LabJson['devices'] {
  return [
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
  ];
}

/** The meters of simulators/scenarios/meters.yaml; unit 10 is the broadcast address 0 [MB-SERIAL 2.1]. */
function serialLine(line: Rs485Line): LabJson['serialLines'][number] {
  return {
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
  };
}

function profinetDevice(rio: ProfinetSimulator): LabJson['profinetDevices'][number] {
  return {
    name: 'rio-1',
    stationName: rio.scenario.device.stationName,
    scenario: 'remote-io',
    device: { host: rio.host, port: rio.port },
    controlPort: rio.controlPort,
  };
}
