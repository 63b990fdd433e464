/**
 * A write call's response headers go out as soon as the call is taken, before the write may reach a device.
 * gRPC clients treat a call whose response headers arrived as committed: neither a retry policy nor hedging
 * sends it again [gRPC A6 "Retry Design": "Once the client receives response headers, the RPC is committed"],
 * and proxies such as Envoy do not retry a request whose response has started. Without this, a connection
 * that ends under a write — the session killed, locked, revoked or past its SVID's NotAfter while the PLC is
 * executing it — reaches the client as UNAVAILABLE "Connection dropped", which retry policies and meshes
 * replay on the next connection. The gateway never sends a write twice; this keeps clients from doing so.
 */
import { Metadata, type ServerUnaryCall } from '@grpc/grpc-js';

export function commitWrite(call: Pick<ServerUnaryCall<unknown, unknown>, 'sendMetadata'>): void {
  call.sendMetadata(new Metadata());
}
