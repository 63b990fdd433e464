/**
 * Bench child: the baseline with no inspection. A Node tls.Server (mTLS: client certificate required and
 * verified against the dev CA, same certificates as the gateway) that pipes each connection to the simulator.
 * Args: <cert.pem> <key.pem> <bundle.pem> <simulator port> [processes]. With `processes` > 1 the same server runs
 * in that many node:cluster workers sharing one port (the primary hands out connections round-robin): what a
 * second core buys a bare TLS pipe on the bench machine (multicore-pipe.ts).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { serveChild } from './child-main.mjs';

const [certFile, keyFile, caFile, simPort, processes] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string?,
];
const workers = Math.max(1, Number(processes ?? 1));

async function pipeServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = tls.createServer({
    cert: readFileSync(certFile),
    key: readFileSync(keyFile),
    ca: readFileSync(caFile),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.2',
  });
  const open = new Set<net.Socket>();
  server.on('secureConnection', (client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: Number(simPort) });
    upstream.setNoDelay(true);
    client.pipe(upstream).pipe(client);
    open.add(client).add(upstream);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
}

/** The primary of `workers` cluster workers; in a cluster, `listen(0)` gives every worker the same port. */
async function clusterPrimary(): Promise<{ port: number; stop(): Promise<void> }> {
  const forked = Array.from({ length: workers }, () => cluster.fork());
  const ports = await Promise.all(
    forked.map((w) => new Promise<number>((resolve) => w.once('listening', (a: AddressInfo) => resolve(a.port)))),
  );
  return {
    port: ports[0] as number,
    stop: async () => {
      await Promise.all(
        forked.map((w) => new Promise<void>((resolve) => (w.once('exit', () => resolve()), w.kill('SIGTERM')))),
      );
    },
  };
}

if (workers > 1 && cluster.isWorker) {
  await pipeServer();
} else {
  await serveChild(async () => {
    const s = workers > 1 ? await clusterPrimary() : await pipeServer();
    return { info: { port: s.port }, stop: () => s.stop() };
  });
}
