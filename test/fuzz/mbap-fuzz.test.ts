/**
 * Fuzz: ≥100,000 random streams of valid and mutated MBAP frames, cut into random chunks, through
 * MbapFramer → decodeRequest → classify (and decodeResponse/validateResponse on mutated replies).
 * Properties: nothing throws; every input gets a definite outcome (frame / need-more / malformed;
 * ok / exception 01|02|03); the streaming framer agrees with a one-shot reference parser whatever the split;
 * decoded requests re-encode and decode to themselves; classified ranges stay inside the address space.
 * Seeded (FUZZ_SEED to replay); the seed is printed with any failure.
 */
import fc from 'fast-check';
import t from 'tap';
import {
  classify,
  decodeRequest,
  decodeResponse,
  encodeAdu,
  encodeRequest,
  encodeResponse,
  MbapFramer,
  validateResponse,
} from '../../protocols/modbus/index.js';
import type { FrameResult, ModbusRequest } from '../../protocols/modbus/index.js';
import { mulberry32, randomRequest, type Rng } from '../fixtures/modbus/random-requests.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed1e55);
const ITERATIONS = 100_000;
const EXCEPTIONS_FROM_DECODE = new Set([1, 2, 3]);

type Outcome = { frames: string[]; last: string }; // 'need-more' or an error code

/** One-shot reference parser of a whole stream [MB-TCP 3.1.3]: what any split must produce. */
function reference(stream: Buffer): Outcome {
  const frames: string[] = [];
  let at = 0;
  for (;;) {
    const left = stream.length - at;
    if (left >= 4 && stream.readUInt16BE(at + 2) !== 0) return { frames, last: 'protocol-id' };
    if (left < 6) return { frames, last: 'need-more' };
    const length = stream.readUInt16BE(at + 4);
    if (length < 2 || length > 254) return { frames, last: 'length-out-of-range' };
    if (left < 6 + length) return { frames, last: 'need-more' };
    frames.push(stream.subarray(at, at + 6 + length).toString('hex'));
    at += 6 + length;
  }
}

function mutate(r: Rng, adu: Buffer): Buffer {
  const b = Buffer.from(adu);
  switch (r.int(0, 7)) {
    case 0: // flip a random byte
      b[r.int(0, b.length - 1)] = r.int(0, 255);
      return b;
    case 1: // corrupt the PDU only, header kept consistent: exercises the decoders
      if (b.length > 7) b[r.int(7, b.length - 1)] = r.int(0, 255);
      return b;
    case 2: // random function code
      b[7] = r.int(0, 255);
      return b;
    case 3: // truncate the PDU and fix the length: structurally short requests
      return encodeAdu(1, 1, b.subarray(7, 7 + r.int(1, Math.max(1, b.length - 8))));
    case 4: // append junk to the PDU and fix the length
      return encodeAdu(1, 1, Buffer.concat([b.subarray(7), r.bytes(r.int(1, 4))]).subarray(0, 253));
    case 5: // length field off by a little
      b.writeUInt16BE(Math.max(0, b.readUInt16BE(4) + r.int(-3, 3)), 4);
      return b;
    case 6: // random length field
      b.writeUInt16BE(r.int(0, 0xffff), 4);
      return b;
    default: // protocol id
      b.writeUInt16BE(r.int(0, 3), 2);
      return b;
  }
}

function randomAdu(r: Rng): Buffer {
  const roll = r.next();
  if (roll < 0.1) return r.bytes(r.int(0, 20)); // pure noise
  if (roll < 0.2) return encodeAdu(r.int(0, 0xffff), r.int(0, 255), r.bytes(r.int(1, 253))); // random PDU, valid header
  const adu = encodeAdu(r.int(0, 0xffff), r.int(0, 255), encodeRequest(randomRequest(r)));
  return roll < 0.55 ? adu : mutate(r, adu);
}

function split(r: Rng, stream: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < stream.length) {
    const n = r.next() < 0.3 ? 1 : r.int(1, 300);
    parts.push(stream.subarray(at, at + n));
    at += n;
  }
  return parts;
}

function checkRequest(pdu: Buffer, stats: Record<string, number>): void {
  const d = decodeRequest(pdu);
  if (!d.ok) {
    if (!EXCEPTIONS_FROM_DECODE.has(d.exception) || d.reason === '')
      throw new Error(`bad refusal ${JSON.stringify(d)}`);
    stats[`exception-${d.exception}`] = (stats[`exception-${d.exception}`] ?? 0) + 1;
    return;
  }
  stats[d.value.type] = (stats[d.value.type] ?? 0) + 1;
  const again = decodeRequest(encodeRequest(d.value));
  if (!again.ok || JSON.stringify(again.value) !== JSON.stringify(d.value))
    throw new Error(`re-encode changed ${pdu.toString('hex')}`);
  const c = classify(d.value, 1);
  for (const range of [...c.reads, ...c.writes]) {
    if (range.start < 0 || range.count < 1 || range.start + range.count > 65536)
      throw new Error(`range out of space ${JSON.stringify(range)}`);
  }
  for (const w of c.writes) {
    if (w.values && (w.values.length !== w.count || w.values.some((v) => v < 0 || v > 0xffff)))
      throw new Error('bad write values');
  }
}

/** A mutated reply to a request must decode or be refused with a reason, never throw. */
function checkResponse(r: Rng, req: ModbusRequest): void {
  const reply = Buffer.from(encodeRequest(req)); // echo-shaped bytes: close to many real replies
  if (reply.length > 1 && r.next() < 0.7) reply[r.int(0, reply.length - 1)] = r.int(0, 255);
  const d = decodeResponse(reply, req);
  if (!d.ok && d.reason === '') throw new Error('refusal without reason');
  if (d.ok) encodeResponse(d.value);
  validateResponse(encodeRequest(req), reply);
}

t.test(`framer + decodeRequest + classify on ${ITERATIONS} random streams (seed ${SEED})`, async (t) => {
  const r = mulberry32(SEED);
  const stats: Record<string, number> = {};
  let frames = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const stream = Buffer.concat(Array.from({ length: r.int(1, 3) }, () => randomAdu(r)));
    const want = reference(stream);
    const framer = new MbapFramer();
    const got: string[] = [];
    let last: FrameResult = { kind: 'need-more' };
    try {
      for (const part of split(r, stream)) {
        framer.push(part);
        for (last = framer.next(); last.kind === 'frame'; last = framer.next()) {
          got.push(last.frame.adu.toString('hex'));
          checkRequest(last.frame.pdu, stats);
        }
        if (last.kind === 'malformed') break;
      }
      const lastKind = last.kind === 'malformed' ? last.reason : last.kind;
      if (lastKind !== want.last || got.join() !== want.frames.join()) {
        throw new Error(`framer ${got.length} frames/${lastKind}, reference ${want.frames.length}/${want.last}`);
      }
      if (last.kind !== 'malformed' && framer.buffered !== stream.length - got.reduce((n, h) => n + h.length / 2, 0)) {
        throw new Error('buffered does not account for every byte');
      }
      if (r.next() < 0.2) checkResponse(r, randomRequest(r));
    } catch (err) {
      t.fail(`iteration ${i} (seed ${SEED}) stream ${stream.toString('hex')}: ${(err as Error).message}`);
      return;
    }
    frames += got.length;
    stats[last.kind] = (stats[last.kind] ?? 0) + 1;
  }
  t.ok(frames > ITERATIONS, `${frames} frames decoded and classified`);
  for (const k of [
    'malformed',
    'need-more',
    'exception-1',
    'exception-2',
    'exception-3',
    'read-bits',
    'write-multiple-coils',
    'file-record',
    'other',
  ]) {
    t.ok((stats[k] ?? 0) > 0, `outcome "${k}" reached (${stats[k] ?? 0})`);
  }
});

t.test('fast-check: any bytes, any split: framer never throws and agrees with the reference', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(600), { maxLength: 8 }), (bytes, cuts) => {
      const stream = Buffer.from(bytes);
      const framer = new MbapFramer();
      const got: string[] = [];
      let last: FrameResult = { kind: 'need-more' };
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
      let from = 0;
      for (const to of [...points, stream.length]) {
        framer.push(stream.subarray(from, to));
        from = to;
        for (last = framer.next(); last.kind === 'frame'; last = framer.next()) {
          got.push(last.frame.adu.toString('hex'));
          decodeRequest(last.frame.pdu);
        }
      }
      const want = reference(stream);
      return got.join() === want.frames.join() && (last.kind === 'malformed' ? last.reason : last.kind) === want.last;
    }),
    { seed: SEED, numRuns: 3000 },
  );
  t.pass('3000 properties held');
});

t.test('fast-check: random PDUs of every FC never throw in decodeRequest/classify/validateResponse', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ maxLength: 252 }),
      fc.uint8Array({ maxLength: 253 }),
      (code, body, reply) => {
        const pdu = Buffer.from([code, ...body]);
        const d = decodeRequest(pdu);
        if (d.ok) classify(d.value, 0);
        const v = validateResponse(pdu, Buffer.from(reply));
        return d.ok || EXCEPTIONS_FROM_DECODE.has(d.exception) ? typeof v.ok === 'boolean' : false;
      },
    ),
    { seed: SEED, numRuns: 10000 },
  );
  t.pass('10000 properties held');
});
