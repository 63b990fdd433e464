/**
 * Regression guard for the data path's batching (issue 11), counted, not timed: N requests pipelined on one
 * connection must not cost N audit writes, N writes toward the PLC and N TLS records back. The audit log's
 * group commit writes the events of one event-loop turn together; the PLC socket and each client socket are
 * corked for the turn. Counted here: segment-writer batches (each one write(2) unless a segment rotates) and
 * socket write calls (`_write`/`_writev`, each one write(2) or one TLS record + write(2)) by direction.
 * With several upstream connections open, one turn's requests must also stay on one of them (device-pool.ts
 * through pick-link.ts): spread over every connection with room, each burst cost one PLC write per connection.
 */
import t from 'tap';
import net from 'node:net';
import { encodeAdu, encodeRequest } from '../../protocols/modbus/index.js';
import { HISTORIAN_HOLDING_READS, startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const N = 64;
const h = await startHarness({
  policy: HISTORIAN_HOLDING_READS,
  listeners: { mbaps: `maxInFlightPerSession: ${N}` },
  deviceYaml: 'maxConnections: 1, maxInFlight: 16',
});
t.teardown(() => h.stop());
// Four upstream connections (the simulator's limit), 16 in flight each: room for several bursts on one.
const h4 = await startHarness({
  policy: HISTORIAN_HOLDING_READS,
  listeners: { mbaps: 'maxInFlightPerSession: 64' },
  deviceYaml: 'maxConnections: 4, maxInFlight: 16',
});
t.teardown(() => h4.stop());
let toPlc4 = 0;

type Writer = { writeBytes(buf: Buffer, lines: readonly unknown[]): { written: number; error: Error | null } };
const writer = (h.gateway.audit as unknown as { writer: Writer }).writer;
const counts = { auditBatches: 0, auditEvents: 0, toPlc: 0, toClient: 0 };
const realBatch = writer.writeBytes.bind(writer);
writer.writeBytes = (buf, lines) => {
  counts.auditBatches++;
  counts.auditEvents += lines.length;
  return realBatch(buf, lines);
};
const proto = net.Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
for (const m of ['_write', '_writev'] as const) {
  const real = proto[m];
  proto[m] = function (this: net.Socket & { _tlsOptions?: { isServer?: boolean } }, ...args: unknown[]) {
    if (this.remotePort === h.sim.port) counts.toPlc++;
    else if (this.remotePort === h4.sim.port) toPlc4++;
    else if (this._tlsOptions?.isServer === true) counts.toClient++;
    return real.apply(this, args);
  };
}

t.test(
  `${N} pipelined reads on one connection: at most one write per 4 requests per direction, not ${N}`,
  async (t) => {
    const c = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/historian/1'));
    t.teardown(() => c.close());
    t.ok(
      await c.request(1, encodeRequest({ type: 'read-registers', fc: 3, address: 0, quantity: 1 })),
      'warm: the upstream connection is open',
    );
    await new Promise((r) => setImmediate(r));
    Object.assign(counts, { auditBatches: 0, auditEvents: 0, toPlc: 0, toClient: 0 });
    // All N requests in one write: they reach the gateway in one TLS record, so one turn decodes them all.
    const answers = new Map<number, Buffer>();
    let allAnswered: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (allAnswered = resolve));
    const pdu = encodeRequest({ type: 'read-registers', fc: 3, address: 10, quantity: 2 });
    const tids = Array.from({ length: N }, (_, i) => 1000 + i);
    for (const tid of tids)
      (c as unknown as { waiting: Map<number, (p: Buffer) => void> }).waiting.set(tid, (p) => {
        answers.set(tid, p);
        if (answers.size === N) allAnswered(); // resolved by the last answer itself, not by polling
      });
    c.socket.write(Buffer.concat(tids.map((tid) => encodeAdu(tid, 1, pdu))));
    await done;
    t.equal(answers.size, N, 'every request answered');
    t.ok(
      [...answers.values()].every((a) => a[0] === 3),
      'with data',
    );
    t.equal(counts.auditEvents, N, `${N} request.decision events written`);
    t.comment(
      `per ${N} requests: ${counts.auditBatches} audit writes, ${counts.toPlc} writes to the PLC, ${counts.toClient} TLS writes to the client`,
    );
    t.ok(counts.auditBatches <= N / 4, `audit: ${counts.auditBatches} writes ≤ ${N / 4}`);
    t.ok(counts.toPlc <= N / 4, `toward the PLC: ${counts.toPlc} writes ≤ ${N / 4}`);
    t.ok(counts.toClient <= N / 4, `toward the client: ${counts.toClient} TLS writes ≤ ${N / 4}`);
  },
);

/** Sends `tids.length` reads in one write (one TLS record, so one turn decodes them); resolves when all are answered. */
function burst(c: TestMbapsClient, tids: readonly number[]): Promise<Buffer[]> {
  const pdu = encodeRequest({ type: 'read-registers', fc: 3, address: 10, quantity: 2 });
  const waiting = (c as unknown as { waiting: Map<number, (p: Buffer) => void> }).waiting;
  const answers = tids.map((tid) => new Promise<Buffer>((resolve) => waiting.set(tid, resolve)));
  c.socket.write(Buffer.concat(tids.map((tid) => encodeAdu(tid, 1, pdu))));
  return Promise.all(answers);
}

t.test('one turn of requests goes out in one PLC write even with four upstream connections open', async (t) => {
  const clients = await Promise.all(
    [1, 2, 3, 4].map(async (i) =>
      TestMbapsClient.connect(h4.port, await h4.mint(`spiffe://plant.example/historian/${i}`)),
    ),
  );
  t.teardown(() => clients.forEach((c) => c.close()));
  // Warm: bursts of 64 (more than one connection's 16 slots) until the pool has dialled all four.
  let tid = 0;
  for (let i = 0; i < 50 && h4.sim.counters().connections.current < 4; i++)
    await Promise.all(
      clients.map((c) =>
        burst(
          c,
          Array.from({ length: 16 }, () => ++tid),
        ),
      ),
    );
  t.equal(h4.sim.counters().connections.current, 4, 'four upstream connections open, all idle now');
  await new Promise((r) => setImmediate(r));
  toPlc4 = 0;
  const BURSTS = 8;
  const PER_BURST = 8;
  // One burst at a time, from each client in turn: each lands in its own turn on idle connections, so the
  // count does not depend on timing. Spread (the roomiest connection per request), 8 requests over 4 idle
  // connections cost 4 writes per burst (32 here); kept on one connection with room, 1 per burst.
  for (let b = 0; b < BURSTS; b++) {
    const c = clients[b % clients.length]!;
    const answers = await burst(
      c,
      Array.from({ length: PER_BURST }, () => ++tid),
    );
    t.ok(
      answers.every((a) => a[0] === 3),
      `burst ${b}: all answered with data`,
    );
  }
  t.comment(`${BURSTS} bursts of ${PER_BURST} reads from ${clients.length} clients: ${toPlc4} writes to the PLC`);
  t.ok(toPlc4 <= (BURSTS * 3) / 2, `toward the PLC: ${toPlc4} writes ≤ ${(BURSTS * 3) / 2} (spread: ${BURSTS * 4})`);
  t.equal(h4.sim.counters().connections.current, 4, 'the four connections stayed open throughout');
});
