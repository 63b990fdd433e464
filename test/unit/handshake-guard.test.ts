/**
 * The pre-handshake guard on a real tls.Server over loopback, with the deadline driven by fake timers:
 * absolute deadline (not reset by traffic), global and per-source caps, slots freed on completion and on
 * close, refusal while the gateway identity is unavailable, each refusal reported once with the address
 * captured at accept. Plus the slot bookkeeping alone.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { HandshakeGuard, sourceKey, type GuardRefusal } from '../../gateway/frontdoor/handshake-guard.js';
import { HandshakeSlots } from '../../gateway/frontdoor/handshake-slots.js';
import { serverTlsOptions } from '../../gateway/identity/tls-options.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { makePki, TD } from '../helpers/pki.js';
import { when } from '../helpers/when.js';

const pki = await makePki();
const serverSvid = await pki.mint(`spiffe://${TD}/gateway`);
const client = await pki.mint(`spiffe://${TD}/hmi/line1`);
const clientPem = { cert: client.chain.map((c) => c.toString()).join(''), key: derToPem(client.keyDer, 'PRIVATE KEY') };

interface Rig {
  port: number;
  timers: FakeTimers;
  slots: HandshakeSlots;
  refusals: GuardRefusal[];
  failures: string[];
  served: string[];
  /**
   * The server side as it happens: 'accepted' and 'closed' for each raw connection (after the guard's own
   * listeners, so its slot is taken or given back), 'served' and 'failed' after the handlers below.
   */
  events: EventEmitter;
  setIdentity(ok: boolean): void;
}

async function rig(
  t: { teardown(fn: () => unknown): void },
  limits = { maxPending: 8, maxPendingPerSource: 3 },
  timeoutMs = 1000,
  afterAccept?: (r: { setIdentity(ok: boolean): void }) => void,
): Promise<Rig> {
  const timers = new FakeTimers();
  const slots = new HandshakeSlots(limits);
  const refusals: GuardRefusal[] = [];
  const failures: string[] = [];
  const served: string[] = [];
  let identityOk = true;
  const events = new EventEmitter();
  const guard = new HandshakeGuard({
    slots,
    timeoutMs,
    timers,
    identityAvailable: () => identityOk,
    refused: (r) => refusals.push(r),
  });
  const server = tls.createServer(serverTlsOptions(serverSvid, { handshakeTimeoutMs: 60_000 }));
  guard.attach(server);
  server.on('connection', (raw: net.Socket) => {
    raw.once('close', () => events.emit('closed'));
    events.emit('accepted');
  });
  if (afterAccept) server.on('connection', () => afterAccept({ setIdentity: (ok) => (identityOk = ok) }));
  const live = new Set<tls.TLSSocket>();
  server.on('secureConnection', (s) => {
    const peer = guard.settle(s);
    if (!peer) return;
    served.push(peer.remote);
    events.emit('served');
    live.add(s);
    s.on('error', () => {});
    s.on('close', () => live.delete(s));
    s.on('data', (d: Buffer) => s.write(d));
  });
  server.on('tlsClientError', (err, s) => {
    s.destroy();
    const f = guard.failed(s);
    if (f) failures.push(`${f.peer.remote} ${(err as { code?: string }).code ?? err.message}`);
    events.emit('failed');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    for (const s of live) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return {
    port: (server.address() as AddressInfo).port,
    timers,
    slots,
    refusals,
    failures,
    served,
    events,
    setIdentity: (ok) => (identityOk = ok),
  };
}

function rawConnect(
  port: number,
  localAddress = '127.0.0.1',
): Promise<{ sock: net.Socket; localPort: number; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ port, host: '127.0.0.1', localAddress });
    sock.on('error', () => {});
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.once('connect', () => resolve({ sock, localPort: sock.localPort ?? -1, closed }));
    sock.once('error', reject);
  });
}

t.test('slots: global and per-source caps, release, no negative counts', async (t) => {
  const s = new HandshakeSlots({ maxPending: 3, maxPendingPerSource: 2 });
  t.same(s.tryAcquire('a'), { ok: true });
  t.same(s.tryAcquire('a'), { ok: true });
  t.same(s.tryAcquire('a'), { ok: false, cap: 'per-source' });
  t.same(s.tryAcquire('b'), { ok: true });
  t.same(s.tryAcquire('c'), { ok: false, cap: 'global' });
  t.equal(s.pending(), 3);
  s.release('a');
  t.equal(s.pendingFrom('a'), 1);
  t.same(s.tryAcquire('c'), { ok: true });
  for (const k of ['a', 'b', 'c', 'c', 'zzz']) s.release(k);
  t.equal(s.pending(), 0, 'releasing an unknown source does not go negative');
  t.equal(s.sources(), 0, 'no entries left behind');
});

t.test('an idle connection is destroyed at the deadline, reported once with its address', async (t) => {
  const r = await rig(t);
  const { sock, localPort, closed } = await rawConnect(r.port);
  await when(r.events, 'accepted', () => r.slots.pending() === 1);
  r.timers.advance(999);
  t.same(r.refusals, [], 'no refusal before the deadline');
  t.equal(r.slots.pending(), 1, 'still holding its slot before the deadline');
  await flushIo();
  t.notOk(sock.destroyed, 'still open before the deadline');
  r.timers.advance(1);
  t.match(r.refusals, [{ code: 'handshake-timeout' }], 'refused exactly at the deadline');
  await closed;
  t.equal(r.refusals.length, 1);
  t.match(r.refusals[0], {
    code: 'handshake-timeout',
    peer: { address: '127.0.0.1', port: localPort, remote: `127.0.0.1:${localPort}` },
  });
  await when(r.events, 'closed', () => r.slots.pending() === 0);
  await flushIo(10);
  t.same(r.failures, [], 'the ECONNRESET echo of our own destroy is not reported again');
});

t.test('the deadline is absolute: bytes arriving do not extend it', async (t) => {
  const r = await rig(t);
  const { sock, closed } = await rawConnect(r.port);
  // The first bytes of a TLS ClientHello record header, one at a time: a slow drip.
  for (const b of [0x16, 0x03, 0x01]) {
    sock.write(Buffer.from([b]));
    await flushIo(); // the byte reaches the server side first
    r.timers.advance(400);
  }
  await closed;
  t.match(r.refusals, [{ code: 'handshake-timeout' }], 'destroyed at 1000 ms although a byte came every 400 ms');
});

t.test('per-source and global caps refuse at once; other sources still get in', async (t) => {
  const r = await rig(t, { maxPending: 5, maxPendingPerSource: 3 });
  const flood = [];
  for (let i = 0; i < 3; i++) flood.push(await rawConnect(r.port));
  await when(r.events, 'accepted', () => r.slots.pending() === 3);
  const over = await rawConnect(r.port);
  await over.closed;
  t.match(r.refusals, [{ code: 'handshake-capacity', detail: /from 127\.0\.0\.1.*PerSource/ }]);
  const other = [await rawConnect(r.port, '127.0.0.2'), await rawConnect(r.port, '127.0.0.3')];
  await when(r.events, 'accepted', () => r.slots.pending() === 5);
  const overGlobal = await rawConnect(r.port, '127.0.0.4');
  await overGlobal.closed;
  t.match(r.refusals[1], {
    code: 'handshake-capacity',
    detail: /5 handshakes already pending \(listeners.maxPendingHandshakes\)/,
    peer: { address: '127.0.0.4' },
  });
  t.equal(r.slots.pending(), 5, 'refused connections never held a slot');
  // Closing from the client side gives the slots back.
  for (const c of [...flood, ...other]) c.sock.destroy();
  await when(r.events, 'closed', () => r.slots.pending() === 0);
  t.equal(r.timers.pending, 0, 'no deadline left armed');
});

t.test('a completed handshake frees its slot and is never cut by the deadline', async (t) => {
  const r = await rig(t);
  const c = tls.connect({
    host: '127.0.0.1',
    port: r.port,
    ...clientPem,
    ca: pki.bundles.allAuthoritiesPem(),
    checkServerIdentity: () => undefined,
  });
  c.on('error', () => {});
  await new Promise<void>((res) => c.once('secureConnect', () => res()));
  await when(r.events, 'served', () => r.served.length === 1);
  t.equal(r.slots.pending(), 0);
  t.equal(r.timers.pending, 0);
  r.timers.advance(10_000);
  const echo = await new Promise<string>((res) => {
    c.once('data', (d) => res(String(d)));
    c.write('ping');
  });
  t.equal(echo, 'ping', 'the session works after the deadline would have passed');
  c.destroy();
});

t.test('while the gateway identity is unavailable nothing is accepted; afterwards it is', async (t) => {
  const r = await rig(t);
  r.setIdentity(false);
  const { closed } = await rawConnect(r.port);
  await closed;
  t.match(r.refusals, [{ code: 'gateway-identity-unavailable' }]);
  t.equal(r.slots.pending(), 0);
  r.setIdentity(true);
  const c = tls.connect({
    host: '127.0.0.1',
    port: r.port,
    ...clientPem,
    ca: pki.bundles.allAuthoritiesPem(),
    checkServerIdentity: () => undefined,
  });
  c.on('error', () => {});
  await new Promise<void>((res) => c.once('secureConnect', () => res()));
  await when(r.events, 'served', () => r.served.length === 1);
  c.destroy();
});

t.test('an OpenSSL-level refusal is reported by the caller with the captured address', async (t) => {
  const r = await rig(t);
  const { sock, localPort, closed } = await rawConnect(r.port);
  sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await closed;
  await when(r.events, 'failed', () => r.failures.length === 1);
  t.equal(r.failures[0], `127.0.0.1:${localPort} ERR_SSL_HTTP_REQUEST`);
  t.same(r.refusals, []);
  t.equal(r.slots.pending(), 0);
});

t.test('the gateway identity fails closed while a handshake is in flight: it is not served', async (t) => {
  // Flip the identity right after the guard admitted the connection, before the handshake completes.
  const r = await rig(t, undefined, 1000, (ctl) => ctl.setIdentity(false));
  const c = tls.connect({
    host: '127.0.0.1',
    port: r.port,
    ...clientPem,
    ca: pki.bundles.allAuthoritiesPem(),
    checkServerIdentity: () => undefined,
  });
  c.on('error', () => {});
  const got = await new Promise<string>((res) => {
    c.once('secureConnect', () => c.write('ping'));
    c.once('data', () => res('served'));
    c.once('close', () => res('closed'));
  });
  t.equal(got, 'closed');
  t.same(r.served, []);
  t.match(r.refusals, [{ code: 'gateway-identity-unavailable' }]);
  t.equal(r.slots.pending(), 0);
});

t.test('sourceKey: IPv4 as is, IPv6 by its /64', async (t) => {
  t.equal(sourceKey('192.0.2.7'), '192.0.2.7');
  t.equal(sourceKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  t.equal(sourceKey('2001:0DB8:0001:0002::1'), '2001:db8:1:2::/64');
  t.equal(sourceKey('2001:db8::1'), '2001:db8:0:0::/64');
  t.equal(sourceKey('::1'), '0:0:0:0::/64');
  t.equal(sourceKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  t.equal(sourceKey('?'), '?');
});
