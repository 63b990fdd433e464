/**
 * The gRPC data plane end to end: a real gateway (dev SPIFFE identity, real mTLS), a real turbine simulator,
 * clients holding SVIDs from the same dev CA. Reads and writes of all four tables, the status mapping of every
 * outcome (denial, unknown device, bad quantity, PLC exception, silent PLC), Watch, and refused clients.
 */
import t from 'tap';
import tls from 'node:tls';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { derToPem } from '../../gateway/identity/x509-svid.js';
import { spiffeChannelCredentials, VerigateClient } from '../../gateway/cli/admin-client.js';
import { loadVerigateServices, type WatchUpdate } from '../../gateway/frontdoor/grpc-proto.js';
import { MAX_REQUEST_BYTES } from '../../gateway/frontdoor/grpc-front-door.js';
import { HMI, STRANGER, TD, startHarness, value } from '../helpers/grpc-harness.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { when } from '../helpers/when.js';

const h = await startHarness();
t.teardown(() => h.stop());
const hmi = await h.client('Modbus', HMI);
const stranger = await h.client('Modbus', STRANGER);
const dev = 'turbine-1';

t.test('reads all four tables (FC1-4)', async (t) => {
  h.sim.store(255).write('coils', 5, [1, 0, 1]);
  h.sim.store(255).write('holding', 40, [7, 8, 9]);
  const coils = value(await hmi.call<{ values: boolean[] }>('ReadCoils', { device: dev, address: 5, count: 3 }));
  t.same(coils.values, [true, false, true], 'coils 5-7');
  const disc = value(
    await hmi.call<{ values: boolean[] }>('ReadDiscreteInputs', { device: dev, address: 0, count: 2 }),
  );
  t.equal(disc.values.length, 2, 'two discrete inputs');
  const hold = value(
    await hmi.call<{ values: number[] }>('ReadHoldingRegisters', { device: dev, address: 40, count: 3 }),
  );
  t.same(hold.values, [7, 8, 9], 'holding 40-42');
  const input = value(
    await hmi.call<{ values: number[] }>('ReadInputRegisters', { device: dev, address: 0, count: 4 }),
  );
  t.equal(input.values.length, 4, 'input 0-3');
  t.ok(input.values.every((v) => Number.isInteger(v) && v >= 0 && v <= 65535));
});

t.test('writes coils (FC5, FC15) and registers (FC6, FC16), read back at the PLC', async (t) => {
  t.same(value(await hmi.call('WriteRegisters', { device: dev, address: 10, values: [1234] })), {
    address: 10,
    count: 1,
  });
  t.same(value(await hmi.call('WriteRegisters', { device: dev, address: 20, values: [1, 2, 3] })), {
    address: 20,
    count: 3,
  });
  t.same(value(await hmi.call('WriteCoils', { device: dev, address: 3, values: [true] })), { address: 3, count: 1 });
  t.same(value(await hmi.call('WriteCoils', { device: dev, address: 8, values: [true, false, true, true] })), {
    address: 8,
    count: 4,
  });
  const store = h.sim.store(255);
  t.same(store.snapshot('holding', 10, 1), [1234]);
  t.same(store.snapshot('holding', 20, 3), [1, 2, 3]);
  t.same(store.snapshot('coils', 3, 1), [1]);
  t.same(store.snapshot('coils', 8, 4), [1, 0, 1, 1]);
});

t.test('policy denial → PERMISSION_DENIED with reason and rule in metadata; nothing reaches the PLC', async (t) => {
  h.sim.store(255).write('holding', 250, [5]);
  const r = await hmi.call('WriteRegisters', { device: dev, address: 250, values: [99] });
  t.equal(r.ok, false);
  if (r.ok) return;
  t.equal(r.code, grpc.status.PERMISSION_DENIED);
  t.match(r.details, /^denied: address-not-allowed/);
  t.match(r.metadata['verigate-reason'], /^address-not-allowed write holding:250/);
  t.equal(r.metadata['verigate-outcome'], 'denied');
  t.same(h.sim.store(255).snapshot('holding', 250, 1), [5], 'register unchanged');
  const s = await stranger.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 });
  t.equal(s.ok ? -1 : s.code, grpc.status.PERMISSION_DENIED, 'an identity no rule names reads nothing');
  t.equal(s.ok ? '' : s.metadata['verigate-reason'], 'no-rule');
});

function auditEvents(): Record<string, unknown>[] {
  const dir = join(h.dir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl') && !f.startsWith('checkpoint'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n').filter(Boolean))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

t.test('unknown device → NOT_FOUND, audited as no-route before the answer', async (t) => {
  const r = await stranger.call('ReadHoldingRegisters', { device: 'boiler-9', address: 0, count: 1 });
  t.equal(r.ok ? -1 : r.code, grpc.status.NOT_FOUND);
  t.equal(r.ok ? '' : r.metadata['verigate-outcome'], 'no-route');
  const w = await stranger.call('WriteRegisters', { device: dev, address: 0, values: [] });
  t.equal(w.ok ? -1 : w.code, grpc.status.INVALID_ARGUMENT);
  const refused = new Set(['no-route', 'invalid-request']);
  const mine = auditEvents().filter(
    (e) => e['type'] === 'request.decision' && e['identity'] === STRANGER && refused.has(String(e['outcome'])),
  );
  t.match(mine, [
    { decision: 'deny', outcome: 'no-route', reason: 'no-route device boiler-9', fc: 3 },
    { decision: 'deny', outcome: 'invalid-request', fc: 16 },
  ]);
});

t.test('a device name clipped at the echo limit through an emoji: NOT_FOUND, and the gateway serves on', async (t) => {
  // 127 units + a surrogate pair: a clip at 128 units would leave half the pair, which grpc-js cannot send
  const name = `${'x'.repeat(127)}\u{1F600}`;
  const r = await stranger.call('ReadHoldingRegisters', { device: name, address: 0, count: 1 });
  t.equal(r.ok ? -1 : r.code, grpc.status.NOT_FOUND, 'a read');
  t.equal(r.ok ? '' : r.details, `unknown device "${'x'.repeat(127)}"`, 'clipped before the pair, not through it');
  const w = await stranger.call('WriteRegisters', { device: name, address: 0, values: [1] });
  t.equal(w.ok ? -1 : w.code, grpc.status.NOT_FOUND, 'a write (headers already sent)');
  const after = await stranger.call('ReadHoldingRegisters', { device: 'boiler-9', address: 0, count: 1 });
  t.equal(after.ok ? -1 : after.code, grpc.status.NOT_FOUND, 'the gateway is still up');
});

t.test('bad quantity, range or value → INVALID_ARGUMENT (as Modbus 0x02/0x03)', async (t) => {
  const cases: [string, object, string][] = [
    ['ReadHoldingRegisters', { device: dev, address: 0, count: 126 }, '0x03'],
    ['ReadHoldingRegisters', { device: dev, address: 0, count: 0 }, '0x03'],
    ['ReadCoils', { device: dev, address: 0, count: 2001 }, '0x03'],
    ['ReadInputRegisters', { device: dev, address: 65530, count: 10 }, '0x02'],
    ['WriteRegisters', { device: dev, address: 0, values: [] }, '0x03'],
    ['WriteCoils', { device: dev, address: 0, values: [] }, '0x03'],
  ];
  for (const [method, req, exception] of cases) {
    const r = await hmi.call(method, req);
    t.equal(r.ok ? -1 : r.code, grpc.status.INVALID_ARGUMENT, `${method} ${JSON.stringify(req)}`);
    t.equal(r.ok ? '' : r.metadata['verigate-exception'], exception);
  }
  const big = await hmi.call('WriteRegisters', { device: dev, address: 0, values: [70000] });
  t.equal(big.ok ? -1 : big.code, grpc.status.INVALID_ARGUMENT, 'a value over 65535 is refused, not truncated');
  const far = await hmi.call('ReadHoldingRegisters', { device: dev, address: 70000, count: 1 });
  t.equal(far.ok ? -1 : far.code, grpc.status.INVALID_ARGUMENT, 'an address over 65535 is refused, not wrapped');
});

t.test('a message over the largest request ends its stream RESOURCE_EXHAUSTED; the session serves on', async (t) => {
  // any peer with an SVID can send one (a stranger has no rights): it is refused from its length prefix, unread
  const huge = await stranger.call('ReadHoldingRegisters', {
    device: 'x'.repeat(MAX_REQUEST_BYTES),
    address: 0,
    count: 1,
  });
  t.equal(huge.ok ? -1 : huge.code, grpc.status.RESOURCE_EXHAUSTED);
  const after = await stranger.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 });
  t.equal(after.ok ? -1 : after.code, grpc.status.PERMISSION_DENIED, 'the same connection is still judged and served');
  const near = await hmi.call('ReadHoldingRegisters', {
    device: 'x'.repeat(MAX_REQUEST_BYTES - 64),
    address: 0,
    count: 1,
  });
  t.equal(near.ok ? -1 : near.code, grpc.status.NOT_FOUND, 'a message just under the bound is read and judged');
});

t.test('PLC exception → FAILED_PRECONDITION with the exception code', async (t) => {
  // The turbine has 256 holding registers: 250..259 is past its end (policy allows reads everywhere).
  const r = await hmi.call('ReadHoldingRegisters', { device: dev, address: 250, count: 10 });
  t.equal(r.ok ? -1 : r.code, grpc.status.FAILED_PRECONDITION);
  t.equal(r.ok ? '' : r.metadata['verigate-exception'], '0x02');
});

function watch(
  client: VerigateClient,
  req: object,
): {
  stream: grpc.ClientReadableStream<WatchUpdate>;
  next(): Promise<WatchUpdate>;
  end: Promise<grpc.ServiceError | null>;
} {
  const stream = (client.raw as unknown as { Watch(r: object): grpc.ClientReadableStream<WatchUpdate> }).Watch(req);
  const queue: WatchUpdate[] = [];
  let waiter: ((u: WatchUpdate) => void) | null = null;
  stream.on('data', (u: WatchUpdate) => {
    if (waiter) {
      const w = waiter;
      waiter = null;
      w(u);
    } else queue.push(u);
  });
  const end = new Promise<grpc.ServiceError | null>((resolve) => {
    stream.on('error', (e: grpc.ServiceError) => resolve(e));
    stream.on('end', () => resolve(null));
  });
  return {
    stream,
    end,
    next: () => {
      const u = queue.shift();
      if (u) return Promise.resolve(u);
      return new Promise((resolve, reject) => {
        waiter = resolve;
        const timer = setTimeout(() => reject(new Error('no watch update within 5 s')), 5000);
        timer.unref();
      });
    },
  };
}

t.test('Watch sends the first values, then a change after a write, and stops on cancel', async (t) => {
  h.sim.store(255).write('holding', 30, [1, 2]);
  const w = watch(hmi, { device: dev, table: 'HOLDING_REGISTERS', address: 30, count: 2, intervalMs: 100 });
  const first = await w.next();
  t.same(first.values, [1, 2], 'first poll is always sent');
  t.ok(first.timeUnixMs > 0);
  value(await hmi.call('WriteRegisters', { device: dev, address: 31, values: [42] }));
  const second = await w.next();
  t.same(second.values, [1, 42], 'the change is streamed');
  w.stream.cancel();
  const e = await w.end;
  t.equal(e?.code, grpc.status.CANCELLED);
});

t.test('Watch of bits; Watch denied → PERMISSION_DENIED; bad table → INVALID_ARGUMENT', async (t) => {
  h.sim.store(255).write('coils', 12, [1, 1]);
  const bits = watch(hmi, { device: dev, table: 'COILS', address: 12, count: 2, intervalMs: 0 });
  t.same((await bits.next()).values, [1, 1], 'bits as 0/1; interval 0 is raised to the 100 ms minimum');
  bits.stream.cancel();
  await bits.end;
  const denied = watch(stranger, { device: dev, table: 'INPUT_REGISTERS', address: 0, count: 1, intervalMs: 100 });
  const e = await denied.end;
  t.equal(e?.code, grpc.status.PERMISSION_DENIED);
  t.match(e?.details, /no-rule/);
  const bad = watch(hmi, { device: dev, table: 'TABLE_UNSPECIFIED', address: 0, count: 1, intervalMs: 100 });
  t.equal((await bad.end)?.code, grpc.status.INVALID_ARGUMENT);
});

t.test('a client without a valid SVID is refused before any call', async (t) => {
  const before = (await h.gw.metrics.handshakeRejections.get()).values.reduce((a, v) => a + v.value, 0);
  // Same trust domain name, different CA: the chain does not verify against the gateway's bundle.
  const rogue = await DevCa.create({ trustDomain: TD });
  const m = await rogue.mintX509Svid({ spiffeId: HMI });
  const good = await h.pems(HMI);
  const forged = new VerigateClient('Modbus', h.server, {
    certPem: derToPem(m.chainDer[0] ?? Buffer.alloc(0), 'CERTIFICATE'),
    keyPem: derToPem(m.keyDer, 'PRIVATE KEY'),
    bundlePem: good.bundlePem,
  });
  t.teardown(() => forged.close());
  const r = await forged.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 }, 3000);
  t.equal(r.ok ? -1 : r.code, grpc.status.UNAVAILABLE, 'forged SVID: no connection');
  // No client certificate at all.
  const { Modbus } = loadVerigateServices();
  const anon = new Modbus(
    h.server,
    grpc.credentials.createSsl(Buffer.from(good.bundlePem), null, null, { checkServerIdentity: () => undefined }),
    { 'grpc.ssl_target_name_override': TD },
  );
  t.teardown(() => anon.close());
  const anonErr = await new Promise<grpc.ServiceError | null>((resolve) => {
    (
      anon as unknown as { ReadHoldingRegisters(r: object, o: object, cb: (e: grpc.ServiceError | null) => void): void }
    ).ReadHoldingRegisters({ device: dev, address: 0, count: 1 }, { deadline: Date.now() + 3000 }, (e) => resolve(e));
  });
  t.equal(anonErr?.code, grpc.status.UNAVAILABLE, 'no client certificate: no connection');
  const after = (await h.gw.metrics.handshakeRejections.get()).values.reduce((a, v) => a + v.value, 0);
  t.ok(after >= before + 2, 'both handshakes counted as rejections');
});

t.test('a valid SVID that does not negotiate HTTP/2 (ALPN h2) gets no session', async (t) => {
  const p = await h.pems(HMI);
  const before = h.gw.sessions.size;
  const [host, port] = h.server.split(':');
  const socket = tls.connect({
    host,
    port: Number(port),
    cert: p.certPem,
    key: p.keyPem,
    ca: p.bundlePem,
    checkServerIdentity: () => undefined,
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
  t.equal(socket.alpnProtocol, false, 'handshake done without ALPN');
  await closed;
  t.pass('the gateway closed the connection');
  const rejected = (await h.gw.metrics.handshakeRejections.get()).values.find(
    (v) => v.labels['reason'] === 'no-alpn-h2',
  );
  t.equal(rejected?.value, 1, 'counted as a rejection with its reason');
  t.equal(h.gw.sessions.size, before, 'no session was registered');
});

t.test('PLC silent → DEADLINE_EXCEEDED (Modbus 0x0B), then recovery', async (t) => {
  // A gateway of its own on fake timers: the 300 ms request deadline and the late-reply grace that follows it
  // (plc-connection.ts, = the timeout by default) fire when the test advances them; only loopback I/O is awaited.
  const timers = new FakeTimers(Date.now());
  const fh = await startHarness(undefined, { timers });
  t.teardown(() => fh.stop());
  const c = await fh.client('Modbus', HMI);
  const read = () => c.call('ReadHoldingRegisters', { device: dev, address: 0, count: 1 });
  t.ok((await read()).ok, 'warm: the pool has its PLC connection');
  const opened = fh.sim.counters().connections.accepted;
  fh.sim.setFault({ mode: 'silent' });
  let answered = false;
  const silent = read().finally(() => (answered = true));
  await when(fh.sim.events, 'dropped', () => fh.sim.counters().dropped === 1);
  timers.advance(299);
  await flushIo();
  t.notOk(answered, 'no answer 1 ms before the deadline');
  timers.advance(1);
  const r = await silent;
  t.equal(r.ok ? -1 : r.code, grpc.status.DEADLINE_EXCEEDED);
  t.equal(r.ok ? '' : r.metadata['verigate-outcome'], 'timeout');
  fh.sim.setFault({ mode: 'none' });
  // The silent request's slot stays reserved for its late reply; none comes, so the grace ends in a recycle.
  timers.advance(299);
  await flushIo();
  t.equal(fh.sim.counters().connections.current, 1, 'the connection is kept 1 ms before the grace ends');
  timers.advance(1);
  await when(fh.sim.events, 'connectionClosed', () => fh.sim.counters().connections.current === 0);
  const ok = await read();
  t.ok(ok.ok, 'reads work again once the PLC answers');
  t.equal(fh.sim.counters().connections.accepted, opened + 1, 'on a fresh connection');
  t.equal(fh.sim.counters().requests, 3, 'nothing was resent');
});

t.test('every call ran in a verified gRPC session of its identity', async (t) => {
  const mine = h.gw.sessions.list().filter((s) => s.transport === 'grpc' && s.peer.id === HMI);
  t.equal(mine.length, 1, 'one channel = one TLS connection = one session');
  t.ok((mine[0]?.requests ?? 0) >= 10, 'requests counted on the session');
  t.ok((mine[0]?.denied ?? 0) >= 1, 'denials counted on the session');
});

t.test(
  'a write whose connection ends while the PLC executes it is not replayed by a client retry policy',
  async (t) => {
    // A client configured as meshes and retry policies commonly are: UNAVAILABLE is retried.
    const serviceConfig = {
      methodConfig: [
        {
          name: [{ service: 'verigate.v1.Modbus', method: 'WriteRegisters' }],
          retryPolicy: {
            maxAttempts: 3,
            initialBackoff: '0.01s',
            maxBackoff: '0.01s',
            backoffMultiplier: 1,
            retryableStatusCodes: ['UNAVAILABLE'],
          },
        },
      ],
    };
    const { credentials, options } = spiffeChannelCredentials(await h.pems(HMI));
    const { Modbus } = loadVerigateServices();
    const retrying = new Modbus(h.server, credentials, {
      ...options,
      'grpc.service_config': JSON.stringify(serviceConfig),
    }) as unknown as {
      WriteRegisters(r: object, cb: (e: grpc.ServiceError | null) => void): void;
      ReadHoldingRegisters(r: object, cb: (e: grpc.ServiceError | null) => void): void;
      close(): void;
    };
    t.teardown(() => retrying.close());
    const known = new Set(h.gw.sessions.list().map((s) => s.id));
    const opened = when(h.gw.sessions, 'added', () =>
      h.gw.sessions.list().find((s) => s.transport === 'grpc' && s.peer.id === HMI && !known.has(s.id)),
    );
    await new Promise<void>((resolve) =>
      retrying.ReadHoldingRegisters({ device: dev, address: 0, count: 1 }, () => resolve()),
    );
    const session = await opened;
    const writesAt = (): number => h.sim.counters().writes['holding:255:61'] ?? 0;
    const before = writesAt();
    const requests = h.sim.counters().requests;
    h.sim.setFault({ mode: 'slow', delayMs: 100 }); // the PLC takes the write and executes it 100 ms later
    const answered = new Promise<grpc.ServiceError | null>((resolve) =>
      retrying.WriteRegisters({ device: dev, address: 61, values: [4711] }, (e) => resolve(e)),
    );
    await when(h.sim.events, 'request', () => h.sim.counters().requests > requests);
    h.sim.setFault({ mode: 'none' });
    h.gw.sessions.get(session.id)?.end('admin-kill by test'); // killed while the PLC has the write
    const e = await answered;
    await when(h.sim.events, 'write', () => writesAt() > before); // the PLC executed it
    t.equal(e?.code, grpc.status.UNAVAILABLE, 'the client sees its connection dropped under the write');
    t.equal(writesAt(), before + 1, 'the PLC received the write once: the retry policy did not replay it');
    t.same(h.sim.store(255).snapshot('holding', 61, 1), [4711]);
  },
);
