/**
 * The Modbus/TCP connection writes a turn's requests at setImmediate (plc-connection.ts), later than the pool's
 * `send`. Regression guards for the two gaps that opened: a kill or a lock landing between staging and the write
 * (another I/O callback of the same poll phase) must still stop the request at the write, and a connection torn
 * down before its write, or a deadline passing before it, must not report the staged requests as sent ("may have
 * executed"), and a request answered `timeout` while staged is never written afterwards.
 * A fake socket records every write; the pool's deadlines and grace run on FakeTimers.
 */
import t, { type Test } from 'tap';
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { outcomeOf } from '../../gateway/frontdoor/request-events.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import type { UpstreamRequest, UpstreamResult } from '../../gateway/upstream/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';

class FakeSocket extends EventEmitter {
  readonly writes: Buffer[] = [];
  destroyed = false;
  write(b: Buffer): boolean {
    this.writes.push(Buffer.from(b));
    return true;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      setImmediate(() => this.emit('close'));
    }
    return this;
  }
  /** The function codes of every ADU written, in order (each write may carry several ADUs). */
  fcs(): number[] {
    const out: number[] = [];
    for (const w of this.writes)
      for (let at = 0; at + 7 < w.length; at += 6 + w.readUInt16BE(at + 4)) out.push(w[at + 7] as number);
    return out;
  }
  tidOf(fc: number): number {
    for (const w of this.writes)
      for (let at = 0; at + 7 < w.length; at += 6 + w.readUInt16BE(at + 4))
        if (w[at + 7] === fc) return w.readUInt16BE(at);
    throw new Error(`no FC ${fc} written`);
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
/** What a submit has settled to so far (undefined: still outstanding), read without awaiting: no hang on a bug. */
function outcome(p: Promise<UpstreamResult>): { result?: UpstreamResult } {
  const o: { result?: UpstreamResult } = {};
  void p.then((r) => (o.result = r));
  return o;
}
const adu = (tid: number, pdu: number[]): Buffer => {
  const b = Buffer.alloc(7 + pdu.length);
  b.writeUInt16BE(tid, 0);
  b.writeUInt16BE(0, 2);
  b.writeUInt16BE(pdu.length + 1, 4);
  b[6] = 1;
  Buffer.from(pdu).copy(b, 7);
  return b;
};
/** FC3 read (answered [3, 2, 0, 7]), FC6 write and FC4 read, told apart on the wire by their function code. */
const READ = [3, 0, 0, 0, 1];
const WRITE = [6, 0, 1, 0, 42];
const OTHER = [4, 0, 0, 0, 1];
const req = (clientKey: string, pdu: number[], more: Partial<UpstreamRequest> = {}): UpstreamRequest => ({
  clientKey,
  unitId: 1,
  pdu: Buffer.from(pdu),
  isWrite: pdu[0] === 6,
  ...more,
});

async function setup(t: Test, maxInFlight: number) {
  const timers = new FakeTimers();
  const sock = new FakeSocket();
  const pool = new DevicePool({
    name: 'plc',
    host: '10.0.0.5',
    port: 502,
    maxConnections: 1,
    maxInFlight,
    timeoutMs: 1000,
    queueLimit: 8,
    timers,
    dialer: async () => sock as unknown as net.Socket,
  });
  t.teardown(() => pool.close());
  return { timers, sock, pool };
}

for (const how of ['session killed (signal)', 'device locked (stillAllowed)', 'gate throws'] as const) {
  t.test(`${how} after staging, before the write: not written, 'aborted'; the next request goes out`, async (t) => {
    const { sock, pool } = await setup(t, 1);
    const a = pool.submit(req('hmi', READ));
    await turn();
    await turn();
    t.same(sock.fcs(), [3], 'A written');
    let gate: 'open' | 'shut' | 'throws' = 'open';
    const ac = new AbortController();
    const b = outcome(
      pool.submit(
        req('eng', WRITE, {
          signal: ac.signal,
          stillAllowed: () => {
            if (gate === 'throws') throw new Error('policy store gone');
            return gate === 'open';
          },
        }),
      ),
    );
    const c = pool.submit(req('ops', OTHER));
    t.equal(pool.stats().queued, 2, 'B and C wait behind A');
    // One poll phase: A's answer frees the slot, so B passes the pool's gate and is staged on the connection...
    sock.emit('data', adu(sock.tidOf(3), [3, 2, 0, 7]));
    t.equal(pool.stats().queued, 1, 'B staged (C still queued)');
    // ...and in the same phase the session ends or the device gets locked, before the turn's write.
    if (how === 'session killed (signal)') ac.abort();
    else if (how === 'device locked (stillAllowed)') gate = 'shut';
    else gate = 'throws';
    t.equal((await a).kind, 'response');
    await turn();
    await turn();
    t.same(b.result, { kind: 'aborted' }, 'B settled aborted: never sent');
    t.notOk(sock.fcs().includes(6), 'B (FC6 write) never reached the PLC');
    t.same(sock.fcs(), [3, 4], "B's freed slot went to C at once");
    sock.emit('data', adu(sock.tidOf(4), [4, 2, 0, 9]));
    t.equal((await c).kind, 'response');
    t.same(pool.stats().byClient, {}, 'nothing outstanding');
  });
}

t.test('the gate runs per staged request: a locked one leaves the batch, its neighbours still go', async (t) => {
  const { sock, pool } = await setup(t, 4);
  let locked = false;
  void pool.submit(req('hmi', READ));
  const b = outcome(pool.submit(req('eng', WRITE, { stillAllowed: () => !locked })));
  void pool.submit(req('ops', OTHER));
  await turn(); // the connection opens and all three are staged in one turn
  t.equal(pool.stats().inFlight, 3);
  locked = true;
  await turn();
  t.equal(sock.writes.length, 1, 'one write for the turn');
  t.same(sock.fcs(), [3, 4], 'the read and the other read, not the write');
  await turn();
  t.same(b.result, { kind: 'aborted' });
  t.equal(pool.stats().inFlight, 2, "the dropped request's slot is free");
});

t.test('a deadline passing while staged: timeout NOT sent, not written, slot freed', async (t) => {
  const { sock, pool, timers } = await setup(t, 1);
  const a = pool.submit(req('hmi', WRITE));
  await turn(); // staged on the fresh connection; its write is at the next setImmediate
  timers.advance(1000);
  const ra = await a;
  t.same(ra, { kind: 'timeout' }, 'a timeout without `sent`');
  t.equal(outcomeOf(ra), 'timeout-unsent', 'audited as never sent, not "may have executed"');
  await turn();
  await turn();
  t.same(sock.writes, [], 'a request whose client was already answered is not written afterwards');
  t.equal(pool.stats().lateReserved, 0, 'no slot held for a reply that cannot come');
  const b = pool.submit(req('hmi', READ));
  await turn();
  t.same(sock.fcs(), [3], 'the slot serves the next request');
  sock.emit('data', adu(sock.tidOf(3), [3, 2, 0, 7]));
  t.equal((await b).kind, 'response');
});

t.test('a deadline passing after the write: timeout with `sent`, as before (it may have executed)', async (t) => {
  const { sock, pool, timers } = await setup(t, 2);
  const a = pool.submit(req('hmi', WRITE));
  await turn();
  await turn();
  t.same(sock.fcs(), [6], 'A written');
  timers.advance(500);
  const b = pool.submit(req('eng', READ)); // staged beside A; its write is at the next setImmediate
  timers.advance(1000); // A's deadline (t=1000) and B's (t=1500) both pass before that write
  const [ra, rb] = [await a, await b];
  t.same(ra, { kind: 'timeout', sent: true }, 'A was written: sent');
  t.equal(outcomeOf(ra), 'timeout', "A's audit outcome is unchanged");
  t.same(rb, { kind: 'timeout' }, 'B was only staged: not sent');
  t.equal(outcomeOf(rb), 'timeout-unsent');
  await turn();
  await turn();
  t.same(sock.fcs(), [6], 'B is never written after its timeout');
  t.equal(pool.stats().lateReserved, 1, "A's slot waits for its late reply; B's is free");
  sock.emit('data', adu(sock.tidOf(6), [6, 0, 1, 0, 42])); // A's late answer: dropped
  t.equal(pool.stats().lateReserved, 0);
});

t.test(
  'torn down before the write: the staged request is unavailable WITHOUT sent; the written one with',
  async (t) => {
    const { sock, pool } = await setup(t, 2);
    const a = pool.submit(req('hmi', READ));
    await turn();
    await turn();
    t.same(sock.fcs(), [3], 'A written');
    const b = pool.submit(req('eng', WRITE)); // staged at once (a free slot), written at the next setImmediate
    // ...but in the same turn the PLC sends junk (protocol id 1): the connection is recycled before the write.
    sock.emit('data', Buffer.from([0, 9, 0, 1, 0, 2, 1, 3]));
    const ra = await a;
    const rb = await b;
    await turn();
    t.notOk(sock.fcs().includes(6), 'B was never written');
    t.match(ra, { kind: 'unavailable', sent: true }, 'A left the gateway: may have executed');
    t.equal(rb.kind, 'unavailable');
    t.notOk('sent' in rb, 'B never left the gateway: not reported sent');
    t.match(rb, { reason: /closed before the request was written/ });
  },
);

t.test('torn down by a reply in the same segment: the request staged by its slotFreed is not sent', async (t) => {
  const { sock, pool } = await setup(t, 1);
  const a = pool.submit(req('hmi', READ));
  await turn();
  await turn();
  const b = pool.submit(req('eng', WRITE));
  // A's answer stages B (slotFreed → pump), then junk in the same chunk tears the connection down.
  sock.emit('data', Buffer.concat([adu(sock.tidOf(3), [3, 2, 0, 7]), Buffer.from([0, 9, 0, 1, 0, 2, 1, 3])]));
  t.equal((await a).kind, 'response');
  const rb = await b;
  await turn();
  t.same(sock.fcs(), [3], 'B never written');
  t.equal(rb.kind, 'unavailable');
  t.notOk(rb.kind === 'unavailable' && rb.sent === true, 'not reported may-have-executed');
});

t.test('an "answer" to a staged, not yet written tid is dropped as unknown [MB-TCP 4.4.1]', async (t) => {
  const { sock, pool } = await setup(t, 2);
  const a = pool.submit(req('hmi', READ));
  await turn();
  await turn();
  const tidA = sock.tidOf(3);
  const b = outcome(pool.submit(req('eng', READ))); // staged with the next tid, written at the next setImmediate
  sock.emit('data', adu((tidA + 1) & 0xffff, [3, 2, 0x66, 0x66])); // a guess at that tid, before the write
  await turn();
  t.equal(b.result, undefined, 'not answered by a reply that came before its request was written');
  t.same(sock.fcs(), [3, 3], 'B written');
  sock.emit('data', adu((tidA + 1) & 0xffff, [3, 2, 0, 8]));
  sock.emit('data', adu(tidA, [3, 2, 0, 7]));
  await turn();
  t.same(b.result, { kind: 'response', pdu: Buffer.from([3, 2, 0, 8]), latencyMs: 0 }, 'its real answer');
  t.equal((await a).kind, 'response');
});
