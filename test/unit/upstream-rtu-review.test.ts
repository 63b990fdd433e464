/**
 * Issue 14 review defects on the RTU line, on a fake stream and fake timers (no sleeping):
 * - an answer is released only once the line stays silent for t3.5 after it [MB-SERIAL 2.5.1.1], so a flipped
 *   bit that shortens the length cut (03 → 83) gives 0x0B, never a false exception;
 * - a silence timer firing in the same event-loop turn as bytes already received does not cut the frame;
 * - a silent unit holds the line one timeout plus a short grace, so a sequential poller's healthy reads succeed;
 * - a broadcast answered while the line closes in between is answered at once, not at its deadline.
 */
import { Duplex } from 'node:stream';
import t from 'tap';
import { encodeRtuFrame } from '../../protocols/modbus/index.js';
import { answerFor } from '../../gateway/frontdoor/request-events.js';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import { RtuLine } from '../../gateway/upstream/rtu-line.js';
import type { LineTiming } from '../../gateway/upstream/rtu-line-silence.js';
import { newLineCounters, type LineCounters } from '../../gateway/upstream/rtu-line-counters.js';
import { rtuLateGraceMs, rtuOverTcpTransport, serialTransport } from '../../gateway/upstream/rtu-transports.js';
import type { UpstreamResult, UpstreamTransport } from '../../gateway/upstream/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { flushIo } from '../helpers/eventually.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const TIMING: LineTiming = { silenceMs: 4, charMs: 1, turnaroundMs: 100, frameGapMs: 100 };

interface Rig {
  readonly pool: DevicePool;
  readonly timers: FakeTimers;
  readonly counters: LineCounters;
  readonly written: { at: number; bytes: Buffer }[];
  /** Bytes from the device, delivered synchronously (no event-loop turn). */
  push(bytes: Buffer): void;
  /** Bytes from the device, then a few event-loop turns. */
  answer(bytes: Buffer): Promise<void>;
  /** The port reports an error (the line closes synchronously). */
  fail(): void;
}

/** `onWrite` plays the device: `reply(bytes, afterMs)` sends bytes back after a delay on the fake clock. */
type Device = (frame: Buffer, reply: (bytes: Buffer, afterMs: number) => void) => void;

function rig(opts: { timeoutMs?: number; lateGraceMs?: number; onWrite?: Device } = {}): Rig {
  const timers = new FakeTimers(1000);
  const counters = newLineCounters();
  const written: { at: number; bytes: Buffer }[] = [];
  let stream: Duplex | undefined;
  const transport: UpstreamTransport = {
    target: 'fake-line',
    maxLinks: 1,
    open(settings) {
      stream = new Duplex({
        read() {},
        write(chunk: Buffer, _enc, cb) {
          written.push({ at: timers.now(), bytes: Buffer.from(chunk) });
          cb();
          opts.onWrite?.(Buffer.from(chunk), (bytes, afterMs) => {
            timers.setTimeout(() => void stream?.push(bytes), afterMs);
          });
        },
      });
      return Promise.resolve(new RtuLine(stream, settings, TIMING, counters));
    },
  };
  const pool = new DevicePool({
    name: 'line',
    transport,
    maxConnections: 1,
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
    push: (bytes) => void stream?.push(bytes),
    answer: async (bytes) => {
      stream?.push(bytes);
      await flushIo();
    },
    fail: () => void stream?.emit('error', new Error('port unplugged')),
  };
}

const READ_ONE = hex('03 0000 0001');
const read = (unitId: number, clientKey = 'a') =>
  ({ clientKey, unitId, pdu: READ_ONE, isWrite: false }) satisfies Parameters<DevicePool['submit']>[0];

/** Resolves to the result, or 'pending' if it has not settled after a few event-loop turns. */
async function state(p: Promise<UpstreamResult>): Promise<UpstreamResult | 'pending'> {
  let out: UpstreamResult | 'pending' = 'pending';
  void p.then((r) => (out = r));
  await flushIo();
  return out;
}

t.test('the review repro: 0b0302e0f329c0 with 03→83 is 0x0B, never "exception 02"', async (t) => {
  const good = hex('0b0302e0f329c0');
  t.same(good, encodeRtuFrame(11, hex('0302e0f3')), 'the clean answer of unit 11');
  const flipped = Buffer.from(good);
  flipped[1] = 0x83; // one bit

  // in one chunk: the cut leaves 2 bytes behind → refused at once
  const r = rig();
  const p = r.pool.submit(read(11));
  await flushIo();
  await r.answer(flipped);
  const res = await state(p);
  t.equal(res !== 'pending' && res.kind, 'invalid-response', 'refused, not the exception 83 02');
  t.same(answerFor(3, 'no-answer'), hex('83 0b'), 'which the front door answers 0x0B');
  t.equal(r.counters.corrupt['too-long'], 1, 'counted as corrupt');
  t.equal(r.counters.responses, 0);
  await r.pool.close();

  // split after the 5 bytes the length cut took: the 2 bytes arrive within t3.5 → refused
  const s = rig();
  const q = s.pool.submit(read(11));
  await flushIo();
  await s.answer(flipped.subarray(0, 5));
  await s.timers.tick(TIMING.silenceMs - 1);
  t.equal(await state(q), 'pending', 'held until t3.5 of silence');
  await s.answer(flipped.subarray(5));
  const res2 = await state(q);
  t.equal(res2 !== 'pending' && res2.kind, 'invalid-response', 'bytes after the cut: no frame end');
  t.equal(s.counters.corrupt['too-long'], 1);
  await s.timers.tick(TIMING.frameGapMs);
  t.equal(s.counters.unsolicited, 0, 'the rest is dropped with the bad frame, not taken as a new one');
  await s.pool.close();
});

t.test('a clean answer is delivered once the line stays silent for t3.5 after it', async (t) => {
  const r = rig();
  const p = r.pool.submit(read(11));
  await flushIo();
  await r.answer(hex('0b0302e0f329c0'));
  t.equal(await state(p), 'pending', 'not at its last byte');
  await r.timers.tick(TIMING.silenceMs - 1);
  t.equal(await state(p), 'pending', 'not before t3.5');
  await r.timers.tick(1);
  const res = await state(p);
  t.same(res !== 'pending' && res.kind === 'response' && res.pdu, hex('03 02 e0f3'));
  t.equal(r.counters.responses, 1);
  t.equal(r.counters.corrupt['too-long'], 0);
  await r.pool.close();
});

t.test('a byte in the same turn as the end-of-frame timer, but after it, still refuses the answer', async (t) => {
  const r = rig();
  const p = r.pool.submit(read(11));
  await flushIo();
  await r.answer(hex('0b0302e0f329c0'));
  r.timers.advance(TIMING.silenceMs); // the timer fires ...
  r.push(hex('00')); // ... and a byte already received is read in the poll phase that follows
  await flushIo();
  const res = await state(p);
  t.equal(res !== 'pending' && res.kind, 'invalid-response');
  await r.pool.close();
});

t.test('a receive-gap timer firing after an event-loop stall does not cut a frame whose bytes are in', async (t) => {
  const r = rig();
  const p = r.pool.submit(read(11));
  await flushIo();
  const frame = hex('0b0302e0f329c0');
  await r.answer(frame.subarray(0, 3));
  r.timers.advance(TIMING.frameGapMs); // the gap timer fires first ...
  r.push(frame.subarray(3)); // ... the rest was already in the socket
  await flushIo();
  t.equal(r.counters.corrupt.truncated, 0, 'not cut as truncated');
  await r.timers.tick(TIMING.silenceMs);
  const res = await state(p);
  t.same(res !== 'pending' && res.kind === 'response' && res.pdu, hex('03 02 e0f3'));

  // control: a real silence still cuts a truncated frame
  const q = r.pool.submit(read(11));
  await r.timers.tick(TIMING.silenceMs);
  await r.answer(frame.subarray(0, 3));
  await r.timers.tick(TIMING.frameGapMs);
  const res2 = await state(q);
  t.equal(res2 !== 'pending' && res2.kind, 'invalid-response');
  t.equal(r.counters.corrupt.truncated, 1);
  await r.pool.close();
});

/** A sequential poller (the usual Modbus master) reading unit 11 (healthy) and unit 13 (silent) in turn. */
async function pollInTurns(lateGraceMs: number): Promise<{ healthy: string[]; silent: string[] }> {
  const timeoutMs = 1000;
  // Unit 11 answers 10 ms after each request to it; unit 13 never answers.
  const rr = rig({
    timeoutMs,
    lateGraceMs,
    onWrite: (frame, reply) => {
      if (frame[0] === 11) reply(encodeRtuFrame(11, hex('03 02 0001')), 10);
    },
  });
  const healthy: string[] = [];
  const silent: string[] = [];
  for (let round = 0; round < 4; round++) {
    for (const unit of [11, 13]) {
      const p = rr.pool.submit(read(unit));
      let res: UpstreamResult | 'pending' = 'pending';
      for (let ms = 0; ms <= timeoutMs + 2 * lateGraceMs && res === 'pending'; ms += 5) {
        await rr.timers.tick(5);
        res = await state(p);
      }
      (unit === 11 ? healthy : silent).push(res === 'pending' ? 'pending' : res.kind);
    }
  }
  await rr.pool.close();
  return { healthy, silent };
}

t.test('a silent unit does not starve the healthy one on its line', async (t) => {
  // RTU lines take a short late-reply grace, max(receive gap, 250 ms), not the pool's default of timeoutMs
  t.equal(rtuLateGraceMs({ ...TIMING, frameGapMs: 100 }), 250);
  t.equal(rtuLateGraceMs({ ...TIMING, frameGapMs: 400 }), 400);
  const tcp = rtuOverTcpTransport({ host: '127.0.0.1', port: 1, turnaroundMs: 100 });
  t.equal(rtuLateGraceMs(tcp.timing), 250, 'an RTU-over-TCP line');
  const serial = serialTransport({
    path: '/dev/null',
    format: { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 },
    turnaroundMs: 100,
  });
  t.equal(rtuLateGraceMs(serial.timing), 250, 'a serial line');
  const grace = rtuLateGraceMs(TIMING);
  const short = await pollInTurns(grace);
  t.same(short.healthy, Array(4).fill('response'), 'every read of unit 11 succeeds within its timeout');
  t.same(short.silent, Array(4).fill('timeout'));
  // The old default (grace = timeoutMs) makes the same poller time out every read of unit 11 after the first.
  const long = await pollInTurns(1000);
  t.same(long.healthy, ['response', 'timeout', 'timeout', 'timeout'], 'control: the defect this fixes');
});

t.test('a broadcast whose line closes before its answer is answered at once, not at its deadline', async (t) => {
  const r = rig({ timeoutMs: 60_000 });
  const opened = r.pool.submit(read(11));
  await flushIo();
  await r.answer(hex('0b0302e0f329c0'));
  await r.timers.tick(TIMING.silenceMs);
  t.equal((await opened).kind, 'response');
  await r.timers.tick(TIMING.silenceMs);
  const p = r.pool.submit({ clientKey: 'a', unitId: 0, pdu: hex('06 0064 05dc'), isWrite: true });
  // the pool writes synchronously on submit when the line is free; the port fails before the answer's microtask
  r.fail();
  const res = await state(p);
  t.not(res, 'pending', 'settled without waiting for the 60 s deadline');
  t.equal(r.written.at(-1)?.bytes[0], 0, 'the broadcast was handed to the port');
  t.same(res !== 'pending' && res.kind === 'unavailable' && res.sent, true, 'unavailable (sent): never resent');
  await r.pool.close();
});

t.test('an answer of unknown length ends at the receive gap and is answered then, not t3.5 later', async (t) => {
  const r = rig();
  const pdu = hex('41 0102'); // a user-defined function code: only silence ends its answer
  const p = r.pool.submit({ clientKey: 'a', unitId: 11, pdu, isWrite: false });
  await flushIo();
  await r.answer(encodeRtuFrame(11, hex('41 010203')));
  await r.timers.tick(TIMING.frameGapMs - 1);
  t.equal(await state(p), 'pending', 'not before the receive gap');
  await r.timers.tick(1);
  const res = await state(p);
  t.same(res !== 'pending' && res.kind === 'response' && res.pdu, hex('41 010203'));
  await r.pool.close();
});
