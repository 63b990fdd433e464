/**
 * Bench child: the baseline with no inspection. A Node tls.Server (mTLS: client certificate required and
 * verified against the dev CA, same certificates as the gateway) that pipes each connection to the simulator.
 * Args: <cert.pem> <key.pem> <bundle.pem> <simulator port>.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { serveChild } from './child-main.mjs';

const [certFile, keyFile, caFile, simPort] = process.argv.slice(2) as [string, string, string, string];

await serveChild(async () => {
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
    info: { port: (server.address() as AddressInfo).port },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of open) s.destroy();
      }),
  };
});
