/**
 * SVID lifetimes on the gRPC front door: the gateway's own SVID rotates (short dev TTL) and new handshakes
 * get the new certificate while the live session keeps working; a client session ends when the CLIENT's
 * SVID expires, and its live Watch stream with it [docs/architecture.md "Where each invariant is enforced"].
 */
import t from 'tap';
import * as grpc from '@grpc/grpc-js';
import { loadVerigateServices, type WatchUpdate } from '../../gateway/frontdoor/grpc-proto.js';
import { VerigateClient } from '../../gateway/cli/admin-client.js';
import { HMI, TD, startHarness, value } from '../helpers/grpc-harness.js';
import { eventually } from '../helpers/eventually.js';

const h = await startHarness(undefined, { gatewaySvidTtl: '6s' });
t.teardown(() => h.stop());
const dev = 'turbine-1';

/** A Modbus client that records the serial number of every gateway certificate it is shown. */
async function recordingClient(serials: string[]): Promise<grpc.Client & Record<string, (...a: unknown[]) => unknown>> {
  const p = await h.pems(HMI);
  const creds = grpc.credentials.createSsl(Buffer.from(p.bundlePem), Buffer.from(p.keyPem), Buffer.from(p.certPem), {
    checkServerIdentity: (_host, cert) => {
      serials.push(cert.serialNumber);
      return undefined;
    },
  });
  return new (loadVerigateServices().Modbus)(h.server, creds, { 'grpc.ssl_target_name_override': TD }) as never;
}

function read(c: grpc.Client & Record<string, (...a: unknown[]) => unknown>): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    c['ReadHoldingRegisters']?.(
      { device: dev, address: 0, count: 1 },
      { deadline: Date.now() + 5000 },
      (e: grpc.ServiceError | null) => resolve(e),
    );
  });
}

t.test('gateway SVID rotation: new handshakes see the new certificate, the live session goes on', async (t) => {
  const before: string[] = [];
  const live = await recordingClient(before);
  t.teardown(() => live.close());
  t.equal(await read(live), null);
  t.equal(before.length, 1);
  await new Promise<void>((resolve) => h.gw.identity.onUpdate(() => resolve()));
  await new Promise((r) => setTimeout(r, 50));
  const after: string[] = [];
  const fresh = await recordingClient(after);
  t.teardown(() => fresh.close());
  t.equal(await read(fresh), null, 'a new connection after rotation works');
  t.not(after[0], before[0], 'and was shown the rotated certificate');
  t.equal(await read(live), null, 'the session opened before rotation still works');
  t.equal(before.length, 1, 'on the same connection (no new handshake)');
});

t.test('a session ends when the client SVID expires; its Watch stream ends with it', async (t) => {
  const shortLived = new VerigateClient('Modbus', h.server, await h.pems(HMI, 3));
  t.teardown(() => shortLived.close());
  value(await shortLived.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 }));
  const stream = (shortLived.raw as unknown as { Watch(r: object): grpc.ClientReadableStream<WatchUpdate> }).Watch({
    device: dev,
    table: 'HOLDING_REGISTERS',
    address: 0,
    count: 1,
    intervalMs: 200,
  });
  stream.on('data', () => undefined);
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    stream.on('error', resolve);
    stream.on('end', () => resolve(null));
  });
  t.ok(err, 'the Watch ended with an error');
  const expiredLeft = (): boolean =>
    h.gw.sessions
      .list()
      .some((s) => s.transport === 'grpc' && s.peer.id === HMI && Date.parse(s.peer.notAfter) <= Date.now());
  await eventually('the expired session removed', () => !expiredLeft(), { timeoutMs: 2000, intervalMs: 50 }).catch(
    () => undefined,
  );
  t.notOk(expiredLeft(), 'no session with an expired SVID is left');
  const again = await shortLived.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 }, 3000);
  t.equal(again.ok ? -1 : again.code, grpc.status.UNAVAILABLE, 'the expired SVID cannot reconnect');
});
