/**
 * The bench gateway: gateway.yaml + policy.yaml, like the lab's: dev identity on the bench CA, the
 * simulator as turbine-1 on unit 1 (unit 255 upstream), a policy allowing the historian's reads, audit with
 * fsync `interval` and values included. Metrics are counted as in production but the scrape listener is off;
 * the gRPC listener is on when asked (the data-path gateway serves the gRPC row too). It runs in a child
 * process (gateway-child.mjs, from dist/) so its CPU and memory are its own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import { CLIENT_ID, TRUST_DOMAIN } from './bench-pki.js';

export interface GatewayFilesOptions {
  readonly dir: string;
  /** The bench CA directory (absolute), shared with the client credentials. */
  readonly caDir: string;
  readonly simPort: number;
  /** Upstream connections to the simulator (the baselines open one per client connection). */
  readonly upstreamConnections: number;
  readonly svidTtl?: string;
  /** Also the gRPC listener (ephemeral port, in the child's ready info as `grpcPort`). */
  readonly grpc?: boolean;
}

export const BENCH_POLICY = `version: 1
trustDomain: ${TRUST_DOMAIN}
rules:
  - id: historian-reads
    principals: [${CLIENT_ID}]
    devices: ["*"]
    allow:
      - { access: read, tables: [holding, input, coils, discrete], addresses: 0-65535 }
  - id: no-diagnostics
    effect: deny
    principals: [spiffe://${TRUST_DOMAIN}/**]
    devices: ["*"]
    functions: [7, 8, 11, 12, 17]
trust: { threshold: 0.85, onBreach: read-only }
session: { maxPerIdentity: 5000, idleTimeout: 10m, revalidate: 30s }
`;

/**
 * The audit store's budget: the default (1 GiB) fills in a full bench — the data-path gateway serves millions of
 * requests, more when windows are measured again (steal-meter.ts) — and a full store refuses every request
 * (fail-closed, as configured). The bench's temp dir is removed at exit.
 */
const AUDIT_CAPACITY_BYTES = 8 * 1024 ** 3;

/** Writes both files into `dir`; returns the gateway.yaml path. */
export function writeGatewayFiles(o: GatewayFilesOptions): string {
  writeFileSync(join(o.dir, 'policy.yaml'), BENCH_POLICY);
  const file = join(o.dir, 'gateway.yaml');
  writeFileSync(
    file,
    `version: 1
identity:
  source: dev
  dev: { trustDomain: ${TRUST_DOMAIN}, caDir: "${o.caDir}"${o.svidTtl ? `, svidTtl: ${o.svidTtl}` : ''} }
listeners:
  mbaps: { host: 127.0.0.1, port: 0, maxInFlightPerSession: 16 }${o.grpc ? '\n  grpc: { host: 127.0.0.1, port: 0 }' : ''}
devices:
  - name: turbine-1
    address: 127.0.0.1:${o.simPort}
    unitId: 1
    targetUnitId: 255
    maxConnections: ${o.upstreamConnections}
    maxInFlight: 16
    timeout: 2s
    queueLimit: 10000
policy: { file: policy.yaml, watch: false }
state: { dir: state }
audit: { dir: audit, fsync: interval, values: include, capacityBytes: ${AUDIT_CAPACITY_BYTES} }
logging: { level: warn }
`,
  );
  return file;
}

const CHILD = fileURLToPath(new URL('./gateway-child.mjs', import.meta.url));

/**
 * The Node flags the product runs the gateway with (the `verigate` launcher's shebang, `npm start`, the
 * systemd unit, the compose file; test/unit/node-flags.test.ts keeps them equal): the bench measures the
 * gateway as users run it.
 */
export const GATEWAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8'];

/**
 * The environment the product runs the gateway with, in the same places as its flags (the image sets it with
 * `ENV`). glibc's malloc then maps every block of 64 KiB or more on its own instead of carving it from its heap
 * (mallopt(3), M_MMAP_THRESHOLD). Every TLS session keeps one such block, Node's 64 KiB encrypted-read buffer
 * (libuv's read size), and touches a few pages of it; carved from the heap it sat on pages the handshake's
 * temporaries had already dirtied. Row 7 of `npm run bench`: about 4 MB less at 1,000 idle sessions.
 */
export const GATEWAY_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '65536' };

/** Writes the files into a fresh `dir` and starts the gateway child on them (port in `info.port`). */
export async function spawnGateway(o: GatewayFilesOptions, nodeFlags: string[] = []): Promise<BenchChild> {
  mkdirSync(o.dir, { recursive: true });
  const file = writeGatewayFiles(o);
  return spawnBenchChild(CHILD, [file], join(o.dir, 'gateway.log'), [...GATEWAY_NODE_FLAGS, ...nodeFlags], GATEWAY_ENV);
}
