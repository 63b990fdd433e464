/**
 * The RTU line as a DevicePool link, on a fake serial stream and fake timers (no sleeping): one request on the
 * wire at a time, the inter-frame silence and the broadcast turnaround kept, CRC errors and garbage counted and
 * answered invalid-response (0x0B) — never passed on —, late answers dropped, nothing resent, fair turns.
 */
import { Duplex } from 'node:stream';
import t from 'tap';
import { encodeRtuFrame, exceptionPdu } from '../../protocols/modbus/index.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import { RtuLine } from '../../gateway/upstream/rtu-line.js';
import type { LineTiming } from '../../gateway/upstream/rtu-line-silence.js';
import { newLineCounters, type LineCounters } from '../../gateway/upstream/rtu-line-counters.js';
import type { UpstreamResult, UpstreamTransport } from '../../gateway/upstream/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { flushIo } from '../helpers/eventually.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const TIMING: LineTiming = { silenceMs: 4, charMs: 1, turnaroundMs: 100, frameGapMs: 20 };

interface Rig {
  readonly pool: DevicePool;
  readonly timers: FakeTimers;
  readonly counters: LineCounters;
  /** Frames the gateway wrote, with the fake time each was written at. */
  readonly written: { at: number; bytes: Buffer }[];
  /** Bytes from the "device". */
  answer(bytes: Buffer): Promise<void>;
  /** Ends the port as if unplugged. */
  unplug(): void;
  opened(): number;
}

function rig(opts: { timeoutMs?: number; lateGraceMs?: number; timing?: LineTiming } = {}): Rig {
  const timers = new FakeTimers(1000);
  const counters = newLineCounters();
  const written: { at: number; bytes: Buffer }[] = [];
  let stream: Duplex | undefined;
  let opened = 0;
  const transport: UpstreamTransport = {
    target: 'fake-line',
    maxLinks: 1,
    async open(settings) {
      opened++;
      stream = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, cb) {
          written.push({ at: timers.now(), bytes: Buffer.from(chunk) });
          cb();
        },
      });
      return Promise.resolve(new RtuLine(stream, settings, opts.timing ?? TIMING, counters));
    },
  };
  const pool = new DevicePool({
    name: 'line',
    transport,
    maxConnections: 4,
    maxInFlight: 1,
    timeoutMs: opts.timeoutMs ?? 500,
    queueLimit: 64,
    lateReplyGraceMs: opts.lateGraceMs ?? 300,
    timers,
  });
  return {
    pool,
    timers,
    counters,
    written,
    answer: async (bytes) => {
      stream?.push(bytes);
      await flushIo();
    },
    unplug: () => stream?.destroy(),
    opened: () => opened,
  };
}

const read3 = (address: number): Buffer => hex(`03 ${address.toString(16).padStart(4, '0')} 0001`);
const answer3 = (unit: number, value: number): Buffer =>
  encodeRtuFrame(unit, hex(`03 02 ${value.toString(16).padStart(4, '0')}`));

t.test('a read: the RTU frame goes out, the answer comes back as its PDU', async (t) => {
  const r = rig();
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(5), isWrite: false });
  await flushIo();
  t.same(
    r.written.map((w) => w.bytes),
    [encodeRtuFrame(11, read3(5))],
    'address, PDU, CRC',
  );
  await r.answer(answer3(11, 0x1234).subarray(0, 3)); // in two chunks
  await r.answer(answer3(11, 0x1234).subarray(3));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  const res = await p;
  t.equal(res.kind, 'response');
  t.same(res.kind === 'response' && res.pdu, hex('03 02 1234'));
  t.equal(r.counters.responses, 1);
  await r.pool.close();
});

t.test('one frame on the line at a time, and t3.5 of silence before the next', async (t) => {
  const r = rig();
  const a = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  const b = r.pool.submit({ clientKey: 'b', unitId: 12, pdu: read3(2), isWrite: false });
  await flushIo();
  t.equal(r.written.length, 1, 'the second unit waits although it is another device');
  await r.answer(answer3(11, 1));
  t.equal(r.written.length, 1, 'not before the silence');
  await r.timers.tick(3);
  t.equal(r.written.length, 1, '3 ms < t3.5');
  await r.timers.tick(1);
  t.equal((await a).kind, 'response', 'the answer once t3.5 of silence ended it');
  t.equal(r.written.length, 2, 'sent once the line was silent for t3.5');
  t.same(r.written[1]?.bytes, encodeRtuFrame(12, read3(2)));
  await r.answer(answer3(12, 2));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  t.equal((await b).kind, 'response');
  await r.pool.close();
});

t.test('a CRC error is counted and answered invalid-response, never passed on; the line resynchronises', async (t) => {
  const r = rig();
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  const q = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  await flushIo();
  const bad = answer3(11, 0x0042);
  bad[4] = 0x43; // the value's low byte: a corrupted value with the old CRC
  await r.answer(bad);
  const res: UpstreamResult = await p;
  t.equal(res.kind, 'invalid-response');
  t.match(res.kind === 'invalid-response' ? res.reason : '', /crc/i);
  t.equal(r.counters.corrupt.crc, 1);
  await r.answer(hex('ff ff 00')); // trailing noise: dropped while resynchronising
  await r.timers.tick(4);
  t.equal(r.written.length, 1, 'not while noise is still coming');
  await r.timers.tick(20); // the receive gap ends the resynchronisation
  t.equal(r.written.length, 2, 'the next request goes once the line is quiet');
  t.equal(r.counters.garbageBytes, 3);
  await r.answer(answer3(11, 0x0042));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  const ok = await q;
  t.same(ok.kind === 'response' && ok.pdu, hex('03 02 0042'), 'the line recovered');
  await r.pool.close();
});

t.test('a frame cut short (truncated) ends at the receive gap: invalid-response, counted', async (t) => {
  const r = rig();
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  await flushIo();
  await r.answer(answer3(11, 7).subarray(0, 4));
  await r.timers.tick(20);
  const res = await p;
  t.equal(res.kind, 'invalid-response');
  t.equal(r.counters.corrupt.truncated, 1);
  await r.pool.close();
});

t.test('an answer from another address, or of another function, is refused (never a wrong answer)', async (t) => {
  const r = rig();
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  await flushIo();
  await r.answer(answer3(12, 9));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  t.equal((await p).kind, 'invalid-response');
  await r.timers.tick(4);
  const q = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  await flushIo();
  await r.answer(encodeRtuFrame(11, exceptionPdu(4, 2)));
  await r.timers.tick(20);
  t.equal((await q).kind, 'invalid-response', 'FC 0x84 does not answer FC 3');
  t.equal(r.counters.invalid, 2);
  t.equal(r.counters.unsolicited, 0);
  await r.pool.close();
});

t.test('an exception answer passes through', async (t) => {
  const r = rig();
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  await flushIo();
  await r.answer(encodeRtuFrame(11, exceptionPdu(3, 2)));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  const res = await p;
  t.same(res.kind === 'response' && res.pdu, hex('83 02'));
  await r.pool.close();
});

t.test('timeout: 0x0B-bound timeout, the late answer is dropped, the line is kept until it or the grace', async (t) => {
  const r = rig({ timeoutMs: 500, lateGraceMs: 300 });
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  await r.timers.tick(250);
  const q = r.pool.submit({ clientKey: 'b', unitId: 11, pdu: read3(1), isWrite: false });
  await r.timers.tick(250);
  t.equal((await p).kind, 'timeout');
  t.equal(r.written.length, 1, 'the next request waits for the late answer');
  await r.answer(answer3(11, 0x0bad)); // late: must not answer q
  t.equal(r.counters.lateAnswers, 1);
  await r.timers.tick(4);
  t.equal(r.written.length, 2, 'after the late answer and t3.5, the next goes');
  await r.answer(answer3(11, 0x0001));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  const res = await q;
  t.same(res.kind === 'response' && res.pdu, hex('03 02 0001'), 'q gets its own answer, not the late one');
  // no late answer at all: the grace ends the wait
  const s = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  const u = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(2), isWrite: false });
  await r.timers.tick(4);
  const before = r.written.length;
  await r.timers.tick(500);
  t.equal((await s).kind, 'timeout');
  t.equal((await u).kind, 'timeout', 'u timed out queued behind the silent device');
  await r.timers.tick(300);
  t.equal(r.counters.noAnswer, 1);
  t.equal(r.written.length, before, 'nothing resent, ever');
  await r.pool.close();
});

t.test('broadcast write: sent once, no answer awaited, the normal answer returned, turnaround kept', async (t) => {
  const r = rig();
  const write = hex('06 0064 05DC');
  const b = await (async () => {
    const p = r.pool.submit({ clientKey: 'a', unitId: 0, pdu: write, isWrite: true });
    await flushIo();
    return p;
  })();
  t.same(b.kind === 'response' && b.pdu, write, 'the echo a single server would send');
  t.same(r.written[0]?.bytes, encodeRtuFrame(0, write));
  const next = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  const frameMs = encodeRtuFrame(0, write).length * TIMING.charMs;
  await r.timers.tick(frameMs + TIMING.turnaroundMs - 1);
  t.equal(r.written.length, 1, 'no frame during the turnaround');
  await r.timers.tick(1);
  t.equal(r.written.length, 2, 'the next frame after transmit time + turnaround');
  t.equal(r.written[1]!.at - r.written[0]!.at, frameMs + TIMING.turnaroundMs);
  await r.answer(answer3(11, 3));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  t.equal((await next).kind, 'response');
  t.equal(r.counters.broadcasts, 1);
  const read = await (async () => {
    await r.timers.tick(4);
    const p = r.pool.submit({ clientKey: 'a', unitId: 0, pdu: read3(1), isWrite: false });
    await flushIo();
    return p;
  })();
  t.equal(read.kind, 'unavailable', 'a read cannot be broadcast');
  t.equal(r.written.length, 2, 'and is not sent');
  await r.pool.close();
});

t.test('unsolicited bytes while idle are counted and dropped', async (t) => {
  const r = rig();
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
  await flushIo();
  await r.answer(answer3(11, 1));
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  await p;
  await r.answer(answer3(11, 2));
  await r.timers.tick(20);
  t.equal(r.counters.unsolicited, 1);
  await r.pool.close();
});

t.test(
  'the port goes away with a request on the wire: unavailable (sent), never resent; the line reopens',
  async (t) => {
    const r = rig();
    const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: hex('06 0001 0002'), isWrite: true });
    await flushIo();
    r.unplug();
    await flushIo();
    const res = await p;
    t.same(
      r.written.map((w) => w.bytes[1]),
      [6],
    );
    t.equal(res.kind, 'unavailable');
    t.equal(res.kind === 'unavailable' && res.sent, true);
    const q = r.pool.submit({ clientKey: 'a', unitId: 11, pdu: read3(1), isWrite: false });
    for (let i = 0; i < 20 && r.opened() < 2; i++) await r.timers.tick(25); // reconnect backoff, in steps
    await flushIo();
    t.equal(r.opened(), 2, 'reopened for the next request');
    t.same(
      r.written.map((w) => w.bytes[1]),
      [6, 3],
      'the write was not replayed',
    );
    await r.answer(answer3(11, 1));
    await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
    t.equal((await q).kind, 'response');
    await r.pool.close();
  },
);

t.test('three identities, two units: round-robin turns on the one line', async (t) => {
  const r = rig({ timeoutMs: 60_000 });
  const keys = ['hmi', 'historian', 'engineer'];
  const order: string[] = [];
  const all: Promise<UpstreamResult>[] = [];
  // historian floods first, then the others arrive
  for (const key of [
    ...Array<string>(12).fill('historian'),
    ...Array<string>(6).fill('hmi'),
    ...Array<string>(6).fill('engineer'),
  ] as string[]) {
    const unit = key === 'hmi' ? 12 : 11;
    all.push(
      r.pool
        .submit({ clientKey: key, unitId: unit, pdu: read3(keys.indexOf(key)), isWrite: false })
        .then((x) => (order.push(key), x)),
    );
  }
  let frames = 0;
  for (let i = 0; i < 24; i++) {
    await r.timers.tick(4);
    const w = r.written[frames];
    if (w === undefined) break;
    frames++;
    t.equal(r.written.length, frames, 'never a second frame before the answer');
    const unit = w.bytes[0] as number;
    await r.answer(answer3(unit, i));
  }
  await r.timers.tick(4); // t3.5 of silence after the answer: its end of frame [MB-SERIAL 2.5.1.1]
  await Promise.all(all);
  t.equal(frames, 24);
  // While all three are queued, each gets one turn per round: in every window of 3 turns (after the first,
  // which the historian had alone) each identity appears exactly once until the others run dry.
  const served = order.slice(1, 19);
  for (let i = 0; i + 3 <= served.length; i += 3)
    t.same(new Set(served.slice(i, i + 3)).size, 3, `round ${i / 3}: ${served.slice(i, i + 3).join(',')}`);
  await r.pool.close();
});
