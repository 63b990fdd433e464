/**
 * Shared set-up for the gRPC and admin integration tests: the common gateway harness (gateway-harness.ts: dev
 * identity, turbine simulator, a policy the test writes) plus SPIFFE gRPC clients holding SVIDs minted from
 * the same dev CA.
 */
import { rmSync } from 'node:fs';
import type { RunningGateway } from '../../gateway/main.js';
import type { Timers } from '../../gateway/timers.js';
import {
  VerigateClient,
  type CallOutcome,
  type SvidPems,
  type VerigateService,
} from '../../gateway/cli/admin-client.js';
import type { ProfinetSimulator } from '../../simulators/profinet/profinet-simulator.js';
import type { Simulator } from '../../simulators/simulator.js';
import {
  startHarness as startGatewayHarness,
  type HarnessOptions as GatewayHarnessOptions,
} from './gateway-harness.js';

export const TD = 'plant.example';
export const HMI = `spiffe://${TD}/hmi/line1`;
export const ENG = `spiffe://${TD}/eng/alice`;
export const LEAD = `spiffe://${TD}/ops/shift-lead`;
export const STRANGER = `spiffe://${TD}/stranger`;

/** hmi: reads everything, writes holding/coils 0-199; eng: reads, writes holding 0-99 only with JIT; ops: admins. */
export function basePolicy(hmiWrites = '0-199'): string {
  return `version: 1
trustDomain: ${TD}
admins: [spiffe://${TD}/ops/**]
rules:
  - id: hmi-reads
    principals: [${HMI}]
    devices: [turbine-1]
    allow:
      - { access: read, tables: [holding, input, coils, discrete], addresses: 0-65535 }
  - id: hmi-writes
    principals: [${HMI}]
    devices: [turbine-1]
    allow:
      - { access: write, tables: [holding, coils], addresses: ${hmiWrites} }
  - id: eng-reads
    principals: [spiffe://${TD}/eng/*]
    devices: [turbine-1]
    allow:
      - { access: read, tables: [holding, input, coils, discrete], addresses: 0-65535 }
  - id: eng-maintenance
    principals: [spiffe://${TD}/eng/*]
    devices: [turbine-1]
    allow:
      - { access: write, table: holding, addresses: 0-99 }
    jit: { approvers: [${LEAD}], maxDuration: 5m }
  - id: ops-reads
    principals: [spiffe://${TD}/ops/**]
    devices: [turbine-1]
    allow:
      - { access: read, tables: [holding, input, coils, discrete], addresses: 0-65535 }
session: { maxPerIdentity: 16 }
`;
}

export interface Harness {
  readonly dir: string;
  readonly gw: RunningGateway;
  readonly sim: Simulator;
  /** The PROFINET IO device simulator (rio-1), when `profinet` was given. */
  readonly pnSim: ProfinetSimulator | undefined;
  readonly server: string;
  readonly policyFile: string;
  pems(spiffeId: string, ttlSeconds?: number): Promise<SvidPems>;
  /** Writes PEM files for `spiffeId` and returns their paths (for the CLI). */
  pemFiles(spiffeId: string, name?: string): Promise<{ cert: string; key: string; bundle: string }>;
  client(service: VerigateService, spiffeId: string): Promise<VerigateClient>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Lifetime of the gateway's own dev SVID (rotated at half of it). Default: the config default (24h). */
  readonly gatewaySvidTtl?: string;
  /** Also a PROFINET IO device simulator behind `profinetDevices:` (gateway-harness.ts). */
  readonly profinet?: GatewayHarnessOptions['profinet'];
  /** Injectable clock for the gateway's runtime (grants, trust, audit times). */
  readonly now?: () => number;
  /** The gateway's timers (SVID rotation, session expiry, deadlines): e.g. FakeTimers the test advances. */
  readonly timers?: Timers;
  /** Extra inline YAML for `listeners.grpc`, e.g. `keepalive: { time: 1s, timeout: 200ms }`. */
  readonly grpcYaml?: string;
}

export async function startHarness(policy = basePolicy(), opts: HarnessOptions = {}): Promise<Harness> {
  const base = await startGatewayHarness({
    policy,
    deviceTimeout: '300ms',
    auditYaml: 'audit: { dir: audit, fsync: never }',
    ...(opts.gatewaySvidTtl ? { svidTtl: opts.gatewaySvidTtl } : {}),
    ...(opts.profinet ? { profinet: opts.profinet } : {}),
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.timers ? { timers: opts.timers } : {}),
    ...(opts.grpcYaml ? { listeners: { grpc: opts.grpcYaml } } : {}),
  });
  const { dir, gateway: gw, sim, pnSim, policyFile } = base;
  const server = `127.0.0.1:${gw.endpoints.grpc?.port ?? 0}`;
  const clients: VerigateClient[] = [];
  const pems = async (spiffeId: string, ttlSeconds = 3600): Promise<SvidPems> => {
    const m = await base.mint(spiffeId, { ttlSeconds });
    return { certPem: m.cert, keyPem: m.key, bundlePem: m.ca };
  };
  return {
    dir,
    gw,
    sim,
    pnSim,
    server,
    policyFile,
    pems,
    pemFiles: async (spiffeId) => (await base.mint(spiffeId, { ttlSeconds: 3600 })).files,
    client: async (service, spiffeId) => {
      const c = new VerigateClient(service, server, await pems(spiffeId));
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.close();
      await base.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Unwraps a successful call or throws with the status (tests read better with values). */
export function value<T>(r: CallOutcome<T>): T {
  if (!r.ok) throw new Error(`call failed: ${r.codeName}: ${r.details}`);
  return r.value;
}
