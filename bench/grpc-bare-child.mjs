/**
 * Bench child: the gRPC baseline — a bare @grpc/grpc-js server with the gateway's own proto (loaded by the
 * gateway's loader from dist/, same options) and the same per-connection stream limit as the gateway's gRPC
 * listener, mTLS with the client certificate required and verified against the bench CA, answering every
 * ReadHoldingRegisters with one fixed message (the gateway's answer to the same read, passed in by the
 * bench). No policy, no audit, no PLC: what grpc-js itself costs per unary call.
 * Args: <cert.pem> <key.pem> <bundle.pem> <values as JSON>.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { serveChild } from './child-main.mjs';

const { loadVerigateServices } = await import(new URL('../dist/gateway/frontdoor/grpc-proto.js', import.meta.url).href);
const [certFile, keyFile, caFile, valuesJson] = process.argv.slice(2);
const answer = { values: JSON.parse(valuesJson) };

await serveChild(async () => {
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 64 });
  server.addService(loadVerigateServices().Modbus.service, {
    ReadHoldingRegisters: (_call, callback) => callback(null, answer),
  });
  const creds = grpc.ServerCredentials.createSsl(
    readFileSync(caFile),
    [{ cert_chain: readFileSync(certFile), private_key: readFileSync(keyFile) }],
    true,
  );
  const port = await new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    info: { port },
    // µs on the monotonic clock V8's CPU profiler stamps samples with (bench/profile-grpc.ts cuts its window by it)
    commands: { clock: () => ({ us: Number(process.hrtime.bigint() / 1000n) }) },
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  };
});
