/**
 * SVID lifetimes on the gRPC front door: the gateway's own SVID rotates (short dev TTL) and new handshakes
 * get the new certificate while the live session keeps working; a client session ends when the CLIENT's
 * SVID expires, and its live Watch stream with it [docs/architecture.md "Where each invariant is enforced"].
 * The gateway runs on fake timers: its SVID rotates and the client's session ends when the test advances the
 * clock, not after a wait; only the loopback I/O that follows is awaited.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadVerigateServices, type WatchUpdate } from '../../gateway/frontdoor/grpc-proto.js';
import { VerigateClient } from '../../gateway/cli/admin-client.js';
import { HMI, TD, startHarness, value } from '../helpers/grpc-harness.js';
import { eventually, flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const timers = new FakeTimers(Date.now());
const GATEWAY_SVID_MS = 6000;
const h = await startHarness(undefined, { gatewaySvidTtl: `${GATEWAY_SVID_MS / 1000}s`, timers });
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
  let rotated = false;
  const update = new Promise<void>((resolve) => h.gw.identity.onUpdate(() => ((rotated = true), resolve())));
  timers.advance(GATEWAY_SVID_MS / 2 - 1);
  await flushIo();
  t.notOk(rotated, 'no rotation before half the SVID lifetime');
  timers.advance(1); // rotation at half the lifetime (the new SVID is minted asynchronously)
  await update;
  await flushIo(); // listeners registered after ours (the TLS servers' contexts) run in the same turns
  const after: string[] = [];
  const fresh = await recordingClient(after);
  t.teardown(() => fresh.close());
  t.equal(await read(fresh), null, 'a new connection after rotation works');
  t.not(after[0], before[0], 'and was shown the rotated certificate');
  t.equal(await read(live), null, 'the session opened before rotation still works');
  t.equal(before.length, 1, 'on the same connection (no new handshake)');
});

t.test('a session ends when the client SVID expires; its Watch stream ends with it', async (t) => {
  const pems = await h.pems(HMI, 3);
  const notAfter = Date.parse(new X509Certificate(pems.certPem).validTo);
  const shortLived = new VerigateClient('Modbus', h.server, pems);
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
  await eventually('the Watch session open', () => h.gw.sessions.list().some((s) => s.peer.id === HMI));
  timers.advance(notAfter - timers.now() - 1);
  t.ok(
    h.gw.sessions.list().some((s) => s.peer.id === HMI),
    'the session still runs 1 ms before the client SVID expires',
  );
  timers.advance(1);
  const err = await new Promise<grpc.ServiceError | null>((resolve) => {
    stream.on('error', resolve);
    stream.on('end', () => resolve(null));
  });
  t.ok(err, 'the Watch ended with an error');
  const expiredLeft = (): boolean =>
    h.gw.sessions
      .list()
      .some((s) => s.transport === 'grpc' && s.peer.id === HMI && Date.parse(s.peer.notAfter) <= timers.now());
  await eventually('the expired session removed', () => !expiredLeft(), { timeoutMs: 2000, intervalMs: 50 }).catch(
    () => undefined,
  );
  t.notOk(expiredLeft(), 'no session with an expired SVID is left');
  timers.advance(1000); // a certificate is valid through its NotAfter second [RFC 5280 4.1.2.5]: be past it
  const again = await shortLived.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 }, 3000);
  t.equal(again.ok ? -1 : again.code, grpc.status.UNAVAILABLE, 'the expired SVID cannot reconnect');
});
