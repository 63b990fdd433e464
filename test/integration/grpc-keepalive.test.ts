/**
 * gRPC keepalive (`listeners.grpc.keepalive`): a client that vanishes without closing its connection (power loss,
 * NAT state dropped) stops answering the gateway's HTTP/2 PINGs, and the gateway ends its session instead of
 * holding the slot until the SVID expires. A live grpc-js client ACKs them and keeps its session.
 * grpc-js runs its keepalive on real timers, so these tests take a few seconds of wall-clock time.
 */
import t from 'tap';
import tls from 'node:tls';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HMI, STRANGER, basePolicy, startHarness, value } from '../helpers/grpc-harness.js';
import { readAuditEvents, type AuditEvent } from '../helpers/handshake-clients.js';
import { when } from '../helpers/when.js';

const KEEPALIVE = { timeMs: 1000, timeoutMs: 200 };
const h = await startHarness(basePolicy(), { grpcYaml: 'keepalive: { time: 1s, timeout: 200ms }' });
t.teardown(() => h.stop());
const port = h.gw.endpoints.grpc?.port ?? 0;

/** The audited session.close events, staged ones written first. */
function sessionCloses(): AuditEvent[] {
  h.gw.audit.head(); // writes the staged events
  return readAuditEvents(join(h.dir, 'audit')).filter((e) => e.type === 'session.close');
}

/** The ids of the live gRPC sessions of one identity. */
function grpcSessions(identity: string): string[] {
  return [...h.gw.sessions.all()].filter((s) => s.peer.id === identity && s.transport === 'grpc').map((s) => s.id);
}

/** Rejects after `ms` of wall-clock time: the bound on a wait whose success is awaited on events. */
async function deadline(ms: number, what: string): Promise<never> {
  await sleep(ms, undefined, { ref: false });
  throw new Error(`still waiting after ${ms} ms for ${what}`);
}

/** A verified h2 connection that says hello (preface + SETTINGS) and then never answers anything again. */
async function vanishingClient(): Promise<tls.TLSSocket> {
  const pems = await h.pems(STRANGER);
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    cert: pems.certPem,
    key: pems.keyPem,
    ca: pems.bundlePem,
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined, // the client side is not under test
  });
  await once(socket, 'secureConnect');
  const emptySettings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]); // length 0, type SETTINGS, stream 0
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), emptySettings]));
  socket.on('data', () => {}); // read and ignore: no SETTINGS ack, no PING ack
  socket.on('error', () => {});
  return socket;
}

t.test('a client that stops answering PINGs loses its session (audited session.close)', async (t) => {
  const socket = await vanishingClient();
  const [id] = await when(h.gw.sessions, 'added', () => {
    const ids = grpcSessions(STRANGER);
    return ids.length === 1 ? ids : null;
  });
  const closed = Promise.all([
    once(socket, 'close'),
    when(h.gw.sessions, 'removed', () => grpcSessions(STRANGER).length === 0),
  ]);
  await Promise.race([closed, deadline(10_000, 'the gateway to drop the silent connection')]);
  t.ok(socket.destroyed, 'the gateway closed the connection');
  t.same(grpcSessions(STRANGER), [], 'the session slot is free');
  const close = sessionCloses().find((e) => e['session'] === id);
  t.match(close, { identity: STRANGER, reason: 'peer-closed' }, 'audited as a closed connection');
});

t.test('a grpc-js client ACKs the PINGs and keeps its session across several keepalive periods', async (t) => {
  const hmi = await h.client('Modbus', HMI);
  value(await hmi.call('ReadHoldingRegisters', { device: 'turbine-1', address: 0, count: 1 }));
  const before = grpcSessions(HMI);
  t.equal(before.length, 1, 'one session');
  // Wall-clock time is the point here: grpc-js PINGs on its own timers, and the ACKs must keep the session.
  await sleep(4 * (KEEPALIVE.timeMs + KEEPALIVE.timeoutMs));
  t.same(grpcSessions(HMI), before, 'the same session is still live');
  value(await hmi.call('ReadHoldingRegisters', { device: 'turbine-1', address: 0, count: 1 }));
  t.same(grpcSessions(HMI), before, 'and serves the next call');
  const ended = sessionCloses().filter((e) => e['identity'] === HMI);
  t.same(ended, [], 'no session of the live client ended');
});
