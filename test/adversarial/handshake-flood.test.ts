/**
 * Issue 9 item 1 — handshake floods against a real gateway on BOTH TLS listeners [IEC 62443-3-3 SR 7.1]:
 * one source keeps 30 raw TCP connections open that never speak, another keeps 10 real TLS clients (valid
 * SVID) whose bytes drip in a few at a time, each replaced as soon as the gateway closes it. The per-source cap
 * (8) is far below the flood. Required and checked:
 *  - every flood connection is closed BY THE GATEWAY: at once when over the cap (handshake-capacity), else at
 *    the deadline (handshake-timeout), never earlier — one audited handshake.rejected each, with its real port;
 *  - a dripping handshake that would complete after the deadline is never completed, never served;
 *  - a legitimate client from a third source address completes requests throughout the flood (mbaps read;
 *    gRPC admin call);
 *  - the pending-handshake gauge never exceeds the caps and returns to 0.
 * Deadlines are real but short (800 ms); the unit test (test/unit/handshake-guard.test.ts) drives them with a
 * fake clock.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { encodeAdu, encodeRequest } from '../../protocols/modbus/index.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';
import { Flood, grpcUnary, rejectionsByPeer, type Probe } from '../helpers/handshake-clients.js';
import { when } from '../helpers/when.js';

const TD = 'plant.example';
const DEADLINE_MS = 800;
const PER_SOURCE = 8;
const policy = `version: 1
trustDomain: ${TD}
admins: [spiffe://${TD}/ops/**]
rules:
  - id: reads
    principals: [spiffe://${TD}/hmi/line1, spiffe://${TD}/ops/lead]
    devices: [turbine-1]
    allow:
      - { access: read, tables: [holding, input], addresses: 0-65535 }
`;

/** Capacity refusals per transport, as the gateway logs them ("client rejected", code handshake-capacity). */
const capacityRefusals: Record<string, number> = {};
const refusals = new EventEmitter();
const h = await startHarness({
  policy,
  logLevel: 'warn',
  logSink: (line) => {
    const r = JSON.parse(line) as { msg?: string; code?: string; transport?: string };
    if (r.msg !== 'client rejected' || r.code !== 'handshake-capacity' || !r.transport) return;
    capacityRefusals[r.transport] = (capacityRefusals[r.transport] ?? 0) + 1;
    refusals.emit('capacity');
  },
  listeners: {
    mbaps: `handshakeTimeout: ${DEADLINE_MS}ms`,
    grpc: `handshakeTimeout: ${DEADLINE_MS}ms`,
    shared: `maxPendingHandshakes: 64\nmaxPendingHandshakesPerSource: ${PER_SOURCE}`,
  },
  // Individual events for every refusal, so each flood connection can be matched to its own event
  // (the default rate bound summarizes them; audit-throttle tests cover that).
  auditYaml: 'audit: { dir: audit, fsync: never, values: include, throttle: { perKey: 1000000, perClass: 1000000 } }',
});
t.teardown(() => h.stop());
const hmi = await h.mint(`spiffe://${TD}/hmi/line1`);
const lead = await h.mint(`spiffe://${TD}/ops/lead`);
const grpcPort = h.gateway.endpoints.grpc?.port ?? 0;

const readHolding = encodeRequest({ type: 'read-registers', fc: 3, address: 0, quantity: 2 });
/** What a dripping client sends once its side of the handshake is done: any answer means it was served. */
const firstBytes = {
  mbaps: encodeAdu(1, 1, readHolding),
  // HTTP/2 client preface + an empty SETTINGS frame: a served connection answers with the server's SETTINGS.
  grpc: Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]),
};

/** The legitimate client of each listener: one full connection + one request from 127.0.0.2. */
const legit = {
  mbaps: async (): Promise<boolean> => {
    const c = await TestMbapsClient.connect(h.port, hmi, { localAddress: '127.0.0.2' });
    const res = await c.request(1, readHolding);
    c.close();
    return res !== null && res[0] === 3;
  },
  grpc: async (): Promise<boolean> => {
    const r = await grpcUnary(grpcPort, lead, '/verigate.v1.Admin/ListSessions', Buffer.alloc(0), '127.0.0.2');
    return r.status === 0;
  },
};

async function pendingGauge(transport: string): Promise<number> {
  const m = await h.gateway.metrics.pendingHandshakes.get();
  return m.values.find((v) => v.labels.transport === transport)?.value ?? 0;
}

for (const [transport, port] of [
  ['mbaps', h.port],
  ['grpc', grpcPort],
] as const) {
  t.test(
    `${transport}: idle + slow-drip flood over the per-source cap; a client from another source is served`,
    async (t) => {
      const flood = new Flood(port, {
        idle: 30,
        drip: 10,
        idleFrom: '127.0.0.1',
        dripFrom: '127.0.0.3',
        dripCreds: hmi,
        // ~50 bytes per 100 ms: the ClientHello and the client's certificate flight take about 2 s, so an idle
        // timer (reset by every byte) would never fire and the handshake would complete after the deadline.
        dripBytesPerTick: 50,
        dripTickMs: 100,
        reopenMs: 100,
        dripRequest: firstBytes[transport],
      });
      let maxPending = 0;
      const sampler = setInterval(
        () => void pendingGauge(transport).then((v) => (maxPending = Math.max(maxPending, v))),
        50,
      );
      const started = Date.now();
      const served: boolean[] = [];
      // The flood fills its per-source slots once the gateway refuses one over the cap; then the legitimate
      // client keeps connecting for ~3 deadlines (real ones: this is the load test of the real deadline).
      const before = capacityRefusals[transport] ?? 0;
      await when(refusals, 'capacity', () => (capacityRefusals[transport] ?? 0) > before);
      while (Date.now() - started < 3 * DEADLINE_MS) served.push(await legit[transport]());
      await flood.stop();
      clearInterval(sampler);

      t.ok(
        served.length >= 2 && served.every(Boolean),
        `the legitimate client was served every time during the flood (${served.length} rounds)`,
      );
      t.ok(maxPending >= PER_SOURCE, `the flood did fill its slots (max pending ${maxPending})`);
      t.ok(
        maxPending <= 2 * PER_SOURCE + 1,
        `pending handshakes stayed within the caps of two flooding sources + one client (max ${maxPending})`,
      );

      const byPeer = rejectionsByPeer(join(h.dir, 'audit'), transport);
      const check = (probes: Probe[], from: string): { timeout: number; capacity: number } => {
        const seen = { timeout: 0, capacity: 0 };
        const probesByPeer = new Map<string, Probe[]>();
        for (const p of probes)
          probesByPeer.set(`${from}:${p.localPort}`, [...(probesByPeer.get(`${from}:${p.localPort}`) ?? []), p]);
        for (const [peer, ps] of probesByPeer) {
          const events = byPeer.get(peer) ?? [];
          if (events.length !== ps.length) {
            t.fail(
              `${peer}: ${ps.length} connections but ${events.length} handshake.rejected events (${events.map((e) => e.code).join(',')})`,
            );
            continue;
          }
          ps.forEach((p, i) => {
            const code = events[i]?.code;
            if (code === 'handshake-capacity') seen.capacity++;
            else if (code === 'handshake-timeout') {
              seen.timeout++;
              // Never cut before the deadline (closing later is load, not semantics).
              const lived = (p.closedAt ?? 0) - p.openedAt;
              if (lived < DEADLINE_MS - 100) t.fail(`${peer} timed out after ${lived} ms, before the deadline`);
            } else t.fail(`${peer}: unexpected code ${String(code)}`);
          });
        }
        return seen;
      };
      t.ok(
        flood.idleProbes.every((p) => p.closedAt !== null),
        `all ${flood.idleProbes.length} idle connections were closed by the gateway`,
      );
      t.ok(
        flood.dripProbes.every((p) => p.closedAt !== null),
        `all ${flood.dripProbes.length} dripping connections were closed by the gateway`,
      );
      t.equal(flood.dripProbes.filter((p) => p.served).length, 0, 'no dripping client was ever answered');
      const idle = check(flood.idleProbes, '127.0.0.1');
      const drip = check(flood.dripProbes, '127.0.0.3');
      t.ok(
        idle.timeout >= PER_SOURCE && idle.capacity > 0,
        `idle: ${idle.timeout} timed out at the deadline, ${idle.capacity} refused over the cap`,
      );
      t.ok(
        drip.timeout >= PER_SOURCE && drip.capacity > 0,
        `drip: ${drip.timeout} timed out at the deadline, ${drip.capacity} refused over the cap`,
      );

      const opened = [...h.gateway.sessions.all()].filter((s) => s.remote.startsWith('127.0.0.3:'));
      t.same(opened, [], 'no session was ever opened for a dripping client');
      t.equal(await pendingGauge(transport), 0, 'every slot was given back');
    },
  );
}

t.test('no session of a dripping source was ever opened or audited', async (t) => {
  const { readAuditEvents } = await import('../helpers/handshake-clients.js');
  const opens = readAuditEvents(join(h.dir, 'audit')).filter(
    (e) => e.type === 'session.open' && String(e.peer).startsWith('127.0.0.3:'),
  );
  t.same(opens, []);
});
