/**
 * Shared set-up for the gRPC and admin integration tests: a real gateway in-process (dev identity on a temp
 * CA, ports 0), a real turbine simulator, a policy file the test writes, and SPIFFE gRPC clients holding
 * SVIDs minted from the same dev CA. Not a test file itself (no `.test.ts`).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadGatewayConfig } from '../../gateway/config/gateway-config.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { startGateway, type RunningGateway } from '../../gateway/main.js';
import { VerigateClient, type CallOutcome, type SvidPems } from '../../gateway/cli/admin-client.js';
import { startSimulator, type Simulator } from '../../simulators/simulator.js';

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
  readonly server: string;
  readonly policyFile: string;
  pems(spiffeId: string, ttlSeconds?: number): Promise<SvidPems>;
  /** Writes PEM files for `spiffeId` under dir/clients/NAME and returns their paths (for the CLI). */
  pemFiles(spiffeId: string, name: string): Promise<{ cert: string; key: string; bundle: string }>;
  client(service: 'Modbus' | 'Admin', spiffeId: string): Promise<VerigateClient>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** Lifetime of the gateway's own dev SVID (rotated at half of it). Default: the config default (24h). */
  readonly gatewaySvidTtl?: string;
}

export async function startHarness(policy = basePolicy(), opts: HarnessOptions = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-grpc-'));
  const sim = await startSimulator({ scenario: 'simulators/scenarios/turbine.yaml', scanDelayMs: 0 });
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policy);
  writeFileSync(join(dir, 'gateway.yaml'), `version: 1
identity:
  source: dev
  dev: { trustDomain: ${TD}, caDir: ca${opts.gatewaySvidTtl ? `, svidTtl: ${opts.gatewaySvidTtl}` : ''} }
listeners:
  mbaps: { host: 127.0.0.1, port: 0 }
  grpc: { host: 127.0.0.1, port: 0 }
devices:
  - name: turbine-1
    address: 127.0.0.1:${sim.port}
    unitId: 1
    targetUnitId: 255
    timeout: 300ms
policy: { file: policy.yaml }
state: { dir: state }
audit: { dir: audit, fsync: never }
logging: { level: silent }
`);
  let gw: RunningGateway;
  try {
    gw = await startGateway(loadGatewayConfig(join(dir, 'gateway.yaml')), { logger: pino({ level: 'silent' }) });
  } catch (e) {
    await sim.close();
    throw e;
  }
  const ca = await DevCa.loadOrCreate(join(dir, 'ca'), TD);
  const server = `127.0.0.1:${gw.endpoints.grpc?.port ?? 0}`;
  const clients: VerigateClient[] = [];
  const pems = async (spiffeId: string, ttlSeconds = 3600): Promise<SvidPems> => {
    const m = await ca.mintX509Svid({ spiffeId, ttlSeconds });
    return { certPem: m.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''), keyPem: derToPem(m.keyDer, 'PRIVATE KEY'), bundlePem: ca.bundlePem() };
  };
  return {
    dir, gw, sim, server, policyFile, pems,
    pemFiles: async (spiffeId, name) => {
      const p = await pems(spiffeId);
      const files = { cert: join(dir, `${name}-svid.pem`), key: join(dir, `${name}-key.pem`), bundle: join(dir, `${name}-bundle.pem`) };
      writeFileSync(files.cert, p.certPem);
      writeFileSync(files.key, p.keyPem, { mode: 0o600 });
      writeFileSync(files.bundle, p.bundlePem);
      return files;
    },
    client: async (service, spiffeId) => {
      const c = new VerigateClient(service, server, await pems(spiffeId));
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.close();
      await gw.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Unwraps a successful call or throws with the status (tests read better with values). */
export function value<T>(r: CallOutcome<T>): T {
  if (!r.ok) throw new Error(`call failed: ${r.codeName}: ${r.details}`);
  return r.value;
}
