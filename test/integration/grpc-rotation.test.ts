/**
 * SVID lifetimes on the gRPC front door: the gateway's own SVID rotates (short dev TTL) and new handshakes
 * get the new certificate while the live session keeps working; a client session ends when the CLIENT's
 * SVID expires, and its live Watch stream with it [docs/architecture.md "Where each invariant is enforced"].
 * The gateway runs on fake timers: its SVID rotates and the client's session ends when the test advances the
 * clock, not after a wait; only the loopback I/O that follows is awaited. The Watch poll runs on the same timers.
 */
import t from 'tap';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { loadVerigateServices, type WatchUpdate } from '../../gateway/frontdoor/grpc-proto.js';
import { VerigateClient } from '../../gateway/cli/admin-client.js';
import { HMI, TD, startHarness, value } from '../helpers/grpc-harness.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { when } from '../helpers/when.js';

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

// Before the expiry test: that one moves the gateway's clock past the SVIDs the dev CA mints on the wall clock.
t.test('Watch polls on the gateway timers: a change is streamed at the next interval, not before', async (t) => {
  const c = await h.client('Modbus', HMI);
  h.sim.store(255).write('holding', 50, [1]);
  const stream = (c.raw as unknown as { Watch(r: object): grpc.ClientReadableStream<WatchUpdate> }).Watch({
    device: dev,
    table: 'HOLDING_REGISTERS',
    address: 50,
    count: 1,
    intervalMs: 1234,
  });
  stream.on('error', () => undefined); // the cancel below
  const [first] = (await once(stream, 'data')) as [WatchUpdate];
  t.same(first.values, [1], 'the first poll is sent at once');
  t.ok(timers.delays().includes(1234), 'the next poll is armed on the gateway timers (before the values were sent)');
  const later: WatchUpdate[] = [];
  stream.on('data', (u: WatchUpdate) => later.push(u));
  h.sim.store(255).write('holding', 50, [2]);
  timers.advance(1233);
  await flushIo(10);
  t.same(later, [], 'no poll 1 ms before the interval ends');
  const next = once(stream, 'data') as Promise<[WatchUpdate]>;
  timers.advance(1);
  t.same((await next)[0].values, [2], 'the poll at the interval streams the change');
  stream.cancel();
});

t.test('a session ends when the client SVID expires; its Watch stream ends with it', async (t) => {
  // 3 s of life on the gateway's clock, which test 1 moved ahead of the wall clock the CA mints on (a NotAfter
  // truncated to the second could otherwise already be past on the gateway's clock).
  const ahead = Math.max(0, timers.now() - Date.now());
  const pems = await h.pems(HMI, 3 + Math.ceil(ahead / 1000));
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
  await once(stream, 'data'); // the first poll's values: the Watch runs in an open session
  stream.on('data', () => undefined);
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
  await when(h.gw.sessions, 'removed', () => !expiredLeft()); // the server side of the close, a moment later
  t.notOk(expiredLeft(), 'no session with an expired SVID is left');
  timers.advance(1000); // a certificate is valid through its NotAfter second [RFC 5280 4.1.2.5]: be past it
  const again = await shortLived.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 }, 3000);
  t.equal(again.ok ? -1 : again.code, grpc.status.UNAVAILABLE, 'the expired SVID cannot reconnect');
});
