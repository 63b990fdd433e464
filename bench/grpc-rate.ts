/**
 * Measurement 9: gRPC unary reads/s. A closed-loop load generator on @grpc/grpc-js: `channels` client
 * channels (each its own HTTP/2 connection and mTLS session, like separate HMIs) × `inFlight` concurrent
 * ReadHoldingRegisters calls (device turbine-1, address 0, 10 registers). Run against the gateway's gRPC
 * listener (full pipeline: policy, trust, upstream read, audit) and against a bare grpc-js server
 * (grpc-bare-child.mjs) answering the same message, with the same client, in alternating pairs like rows 4 and
 * 6 (paired-throughput.ts): ABBA order, a pair redone while the hypervisor stole CPU, judged on the median ratio.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { loadVerigateServices, type ReadRequest, type RegistersResponse } from '../gateway/frontdoor/grpc-proto.js';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import { TRUST_DOMAIN, type BenchPki } from './bench-pki.js';
import { alternate, type PairedLoad } from './paired-throughput.js';
import { startStealWindow } from './steal-meter.js';

export interface GrpcRun {
  readonly completed: number;
  readonly failed: number;
  readonly perSecond: number;
  /** The hypervisor's steal over the recorded window (steal-meter.ts). */
  readonly stealPct?: number | undefined;
}

export interface GrpcResult {
  /** The bare server's reason when it could not run; the gateway's rate is then its better of two runs. */
  readonly bare: string;
  readonly gateway: GrpcRun;
}

/** Both servers in alternating pairs: `ref` the bare server, `target` the gateway. */
export type GrpcOutcome = GrpcResult | { readonly pairs: PairedLoad };

export interface GrpcLoadOptions {
  readonly channels: number;
  readonly inFlight: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /**
   * Open loop instead of closed: this many calls per second in all, spread over the channels, at most `inFlight`
   * outstanding per channel (a call that would exceed it is not sent). For counting the server's cost per call
   * at a fixed pace (bench/profile-grpc.ts `--rate`): batching then depends on the rate, not on how busy the
   * machine is.
   */
  readonly ratePerSecond?: number;
}

type ReadFn = (
  req: ReadRequest,
  opts: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: RegistersResponse) => void,
) => void;
const READ: ReadRequest = { device: 'turbine-1', address: 0, count: 10 };
const CALL_TIMEOUT_MS = 2000;
/** Open-loop pacing step. */
const PACE_MS = 5;

function openClients(port: number, pki: BenchPki, n: number): grpc.Client[] {
  const { Modbus } = loadVerigateServices();
  const creds = grpc.credentials.createSsl(
    Buffer.from(pki.client.ca),
    Buffer.from(pki.client.key),
    Buffer.from(pki.client.cert),
    {
      // both servers are verified against the bench CA by the TLS stack; the name check is not what is measured
      checkServerIdentity: () => undefined,
    },
  );
  // a local subchannel pool per client: otherwise grpc-js shares one connection between equal channels
  const options = { 'grpc.ssl_target_name_override': TRUST_DOMAIN, 'grpc.use_local_subchannel_pool': 1 };
  return Array.from({ length: n }, () => new Modbus(`127.0.0.1:${port}`, creds, options));
}

const readOf = (c: grpc.Client): ReadFn =>
  (c as unknown as { ReadHoldingRegisters: ReadFn }).ReadHoldingRegisters.bind(c);

/** One call, for the answer the bare server must give. */
export function readOnce(port: number, pki: BenchPki): Promise<number[]> {
  const [c] = openClients(port, pki, 1) as [grpc.Client];
  return new Promise((resolve, reject) =>
    readOf(c)(READ, { deadline: Date.now() + 10_000 }, (err, res) => {
      c.close();
      if (err || !res) reject(err ?? new Error('no answer'));
      else resolve(res.values);
    }),
  );
}

export async function runGrpcLoad(port: number, pki: BenchPki, o: GrpcLoadOptions): Promise<GrpcRun> {
  const clients = openClients(port, pki, o.channels);
  let completed = 0;
  let failed = 0;
  let recording = false;
  let running = true;
  const loop = (read: ReadFn): void => {
    read(READ, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err) => {
      if (recording) {
        if (err) failed++;
        else completed++;
      }
      if (running) loop(read);
    });
  };
  try {
    await Promise.all(
      clients.map(
        (c) =>
          new Promise<void>((resolve, reject) =>
            c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())),
          ),
      ),
    );
    if (o.ratePerSecond) {
      const reads = clients.map(readOf);
      const outstanding = reads.map(() => 0);
      let next = 0;
      const tick = setInterval(() => {
        for (let n = 0; n < (o.ratePerSecond! * PACE_MS) / 1000; n++) {
          const k = next++ % reads.length;
          if (outstanding[k]! >= o.inFlight) continue;
          outstanding[k]!++;
          reads[k]!(READ, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err) => {
            outstanding[k]!--;
            if (recording) {
              if (err) failed++;
              else completed++;
            }
          });
        }
        if (!running) clearInterval(tick);
      }, PACE_MS);
    } else for (const c of clients) for (let i = 0; i < o.inFlight; i++) loop(readOf(c));
    await new Promise((r) => setTimeout(r, o.warmupMs));
    const stealEnd = startStealWindow(); // before recording: the /proc read must not fall inside the window
    recording = true;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, o.durationMs));
    recording = false;
    const seconds = (performance.now() - t0) / 1000;
    const stealPct = stealEnd();
    running = false;
    await new Promise((r) => setTimeout(r, 100));
    return { completed, failed, perSecond: completed / seconds, stealPct };
  } finally {
    running = false;
    for (const c of clients) c.close();
  }
}

/**
 * grpc-js (client and both servers) takes several seconds of load to reach its steady speed, so each server is
 * first warmed for `WARM_MS`, then both are measured in `rounds` alternating pairs (paired-throughput.ts). Until
 * this round each side's better of two runs counted, bare first: the same build read 0.62–0.97× from run to run.
 */
const WARM_MS = 2000;
const best = (a: GrpcRun, b: GrpcRun): GrpcRun => (b.perSecond > a.perSecond ? b : a);

/** The bare server answers what the gateway (gRPC listener on `gatewayPort`) answered for the same read. */
export async function measureGrpc(
  dir: string,
  pki: BenchPki,
  gatewayPort: number,
  o: GrpcLoadOptions & { readonly rounds: number },
): Promise<GrpcOutcome> {
  const values = await readOnce(gatewayPort, pki);
  const warm = { ...o, warmupMs: WARM_MS, durationMs: 100 };
  let child: BenchChild | string;
  try {
    child = await spawnBenchChild(
      fileURLToPath(new URL('./grpc-bare-child.mjs', import.meta.url)),
      [pki.server.cert, pki.server.key, pki.server.bundle, JSON.stringify(values)],
      join(dir, 'grpc-bare.log'),
    );
  } catch (e) {
    child = `failed: ${(e as Error).message.split('\n')[0]}`;
  }
  try {
    await runGrpcLoad(gatewayPort, pki, warm);
    if (typeof child === 'string') {
      const gateway = best(await runGrpcLoad(gatewayPort, pki, o), await runGrpcLoad(gatewayPort, pki, o));
      return { bare: child, gateway };
    }
    const barePort = child.info.port as number;
    await runGrpcLoad(barePort, pki, warm);
    const pairs = await alternate(o.rounds, (side) => runGrpcLoad(side === 'ref' ? barePort : gatewayPort, pki, o));
    return { pairs };
  } finally {
    if (typeof child !== 'string') await child.stop();
  }
}
