/**
 * Starts every path the data-path and handshake rows measure, in front of the same simulator: the Node TLS
 * pipe, stunnel, haproxy, ghostunnel and the verigate gateway from dist/ (with its gRPC listener, which the
 * gRPC row uses). A baseline that cannot start is a string saying why, and becomes its rows.
 * Order is measurement order: haproxy, the reference of every aim, runs right before verigate so the
 * ratios compare runs close in time.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnBenchChild, type BenchChild } from './bench-child.js';
import type { BenchPki } from './bench-pki.js';
import type { Terminator } from './external-terminator.js';
import { spawnGateway } from './gateway-fixture.js';
import { startGhostunnel } from './ghostunnel.js';
import { startHaproxy } from './haproxy.js';
import type { Endpoint } from './load-generator.js';
import { startStunnel } from './stunnel.js';

export interface BenchPaths {
  readonly paths: readonly { readonly key: string; readonly ep: Endpoint | string }[];
  /** The gateway child (for its gRPC port), or why it did not start. */
  readonly gateway: BenchChild | string;
  stop(): Promise<void>;
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

export async function startPaths(
  dir: string,
  pki: BenchPki,
  simPort: number,
  o: { upstreamConnections: number; ghostunnel: { bin: string } | { why: string } },
): Promise<BenchPaths> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const pipe = await spawnBenchChild(
      fileURLToPath(new URL('./pipe-child.ts', import.meta.url)),
      [pki.server.cert, pki.server.key, pki.server.bundle, String(simPort)],
      join(dir, 'pipe.log'),
    );
    stops.push(() => pipe.stop());
    const ext = async (t: Promise<Terminator>): Promise<Endpoint | string> => {
      const r = await t;
      if (!r.ok) return r.why;
      stops.push(() => r.stop());
      return { port: r.port, tls: pki.client, pid: r.pid };
    };
    const stunnel = await ext(startStunnel(dir, pki, simPort));
    const ghostunnel =
      'bin' in o.ghostunnel ? await ext(startGhostunnel(o.ghostunnel.bin, dir, pki, simPort)) : o.ghostunnel.why;
    const haproxy = await ext(startHaproxy(dir, pki, simPort));
    const gateway = await spawnGateway({
      dir: join(dir, 'gw-data'),
      caDir: pki.caDir,
      simPort,
      upstreamConnections: o.upstreamConnections,
      grpc: true,
    }).catch((e: unknown) => `failed to start: ${firstLine(e)}`);
    if (typeof gateway !== 'string') stops.push(() => gateway.stop());
    return {
      paths: [
        { key: 'direct', ep: { port: simPort, tls: null } },
        { key: 'stunnel', ep: stunnel },
        { key: 'ghostunnel', ep: ghostunnel },
        { key: 'pipe', ep: { port: pipe.info.port as number, tls: pki.client, pid: pipe.pid } },
        { key: 'haproxy', ep: haproxy },
        {
          key: 'verigate',
          ep:
            typeof gateway === 'string'
              ? gateway
              : { port: gateway.info.port as number, tls: pki.client, pid: gateway.pid },
        },
      ],
      gateway,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
