/**
 * RTU codec [MB-SERIAL 2.5.1]: CRC-16/MODBUS, frames, lengths from the function code (requests) and from the
 * request (responses), the streaming framer's resynchronisation, line timing and broadcast replies.
 */
import t from 'tap';
import {
  broadcastReply,
  charTimeMs,
  crc16Modbus,
  decodeRtuFrame,
  encodeRequest,
  encodeRtuFrame,
  exceptionPdu,
  interFrameSilenceMs,
  rtuRequestLength,
  rtuResponseLength,
  RtuFramer,
  transmitTimeMs,
} from '../../protocols/modbus/index.js';
import { mulberry32, randomRequest } from '../fixtures/modbus/random-requests.js';
import { responseFor } from '../fixtures/modbus/rtu-responses.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('CRC-16/MODBUS', async (t) => {
  t.equal(crc16Modbus(Buffer.from('123456789')), 0x4b37, 'catalogue check value');
  // [MB-SERIAL 6.2.2]-style example: server 0x11, read holding 0x006B x 3 → CRC 0x8776, low byte first.
  t.same(encodeRtuFrame(0x11, hex('03 006B 0003')), hex('11 03 006B 0003 7687'));
  t.same(encodeRtuFrame(1, hex('03 0000 000A')), hex('01 03 0000 000A C5CD'));
});

t.test('decodeRtuFrame checks length and CRC', async (t) => {
  const ok = decodeRtuFrame(hex('11 03 006B 0003 7687'));
  t.same(ok, { ok: true, address: 0x11, pdu: hex('03 006B 0003') });
  const bad = decodeRtuFrame(hex('11 03 006B 0004 7687'));
  t.equal(bad.ok, false);
  t.equal(!bad.ok && bad.reason, 'crc');
  t.equal((decodeRtuFrame(hex('11 03 76')) as { reason: string }).reason, 'too-short');
  t.equal((decodeRtuFrame(Buffer.alloc(257)) as { reason: string }).reason, 'too-long');
  t.throws(() => encodeRtuFrame(1, Buffer.alloc(0)), RangeError);
  t.throws(() => encodeRtuFrame(256, hex('03')), RangeError);
});

t.test('request lengths come from the function code and byte counts', async (t) => {
  const r = mulberry32(14);
  const wrong: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const req = randomRequest(r);
    const adu = encodeRtuFrame(r.int(0, 247), encodeRequest(req));
    const want = rtuRequestLength(adu);
    if (req.type === 'other' || req.type === 'diagnostics') continue; // unknown shape / checked below
    if (want !== adu.length) wrong.push(`${req.type} fc ${req.fc}: ${String(want)} for ${adu.length}`);
    // a length is only ever given once the deciding bytes are in, and then it is the right one
    for (let k = 0; k < adu.length; k++) {
      const partial = rtuRequestLength(adu.subarray(0, k));
      if (partial !== 'need-more' && partial !== adu.length)
        wrong.push(`${req.type}: ${String(partial)} after ${k} bytes`);
    }
  }
  t.same(wrong, [], '2000 random requests');
  t.equal(rtuRequestLength(hex('01 08 000A 0000')), 8, 'FC8: sub-function + 2 data bytes');
  t.equal(rtuRequestLength(hex('01 08 0000 1234 56')), 'unknown', 'FC8/00 return query data: any length');
  t.equal(rtuRequestLength(hex('01 41')), 'unknown', 'user-defined code: only silence ends it');
  t.equal(rtuRequestLength(hex('01 2B 0D')), 'unknown', 'FC43 with another MEI type');
  t.equal(rtuRequestLength(hex('01')), 'need-more');
});

t.test('response lengths follow the request', async (t) => {
  const r = mulberry32(15);
  const wrong: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const req = randomRequest(r);
    const adu = encodeRtuFrame(7, responseFor(r, req));
    const want = rtuResponseLength(encodeRequest(req), adu);
    if (want !== adu.length) wrong.push(`${req.type}: ${String(want)} for ${adu.length}`);
  }
  t.same(wrong, [], '3000 random request/response pairs');
  const fc3 = hex('03 0000 0003');
  t.equal(rtuResponseLength(fc3, hex('07 83')), 5, 'exception: 5 bytes');
  t.equal(rtuResponseLength(fc3, hex('07 04')), 'unknown', 'a foreign function code: only silence ends it');
  t.equal(rtuResponseLength(fc3, hex('07')), 'need-more');
  t.equal(rtuResponseLength(hex('18 0000'), hex('07 18 0006')), 4 + 6 + 2, 'FC24: 2-byte count');
  // FC43/14: two objects (lengths 3 and 2)
  const devId = hex('07 2B 0E 01 01 00 00 02 00 03 414243 01 02 5859');
  t.equal(rtuResponseLength(hex('2B 0E 01 00'), devId), devId.length + 2);
  t.equal(rtuResponseLength(hex('2B 0E 01 00'), devId.subarray(0, 10)), 'need-more');
});

t.test('framer: frames by length across any split, back to back', async (t) => {
  const a = encodeRtuFrame(1, hex('03 0000 0002'));
  const b = encodeRtuFrame(2, hex('06 0064 05DC'));
  const stream = Buffer.concat([a, b]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const f = new RtuFramer(rtuRequestLength);
    const out: string[] = [];
    for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
      f.push(part);
      for (let r = f.next(); r.kind === 'frame'; r = f.next()) out.push(r.adu.toString('hex'));
    }
    t.same(out, [a.toString('hex'), b.toString('hex')], `cut at ${cut}`);
  }
});

t.test('framer: a CRC error drops everything until silence, then it resynchronises', async (t) => {
  const f = new RtuFramer(rtuRequestLength);
  const bad = encodeRtuFrame(1, hex('03 0000 0002'));
  bad[3] = (bad[3] as number) ^ 0x01;
  f.push(Buffer.concat([bad, encodeRtuFrame(1, hex('03 0000 0001'))]));
  const r = f.next();
  t.equal(r.kind, 'corrupt');
  t.equal(r.kind === 'corrupt' && r.reason, 'crc');
  t.equal(f.resyncing, true);
  t.equal(f.next().kind, 'need-more', 'the frame after a bad one is not trusted');
  f.push(hex('01 03'));
  t.equal(f.droppedSinceSilence, 2);
  t.equal(f.silence().kind, 'need-more');
  f.push(encodeRtuFrame(1, hex('03 0000 0001')));
  t.equal(f.next().kind, 'frame');
});

t.test('framer: silence ends unknown-length frames and truncates known ones', async (t) => {
  const f = new RtuFramer(rtuRequestLength);
  const odd = encodeRtuFrame(9, hex('41 0102 0304'));
  f.push(odd);
  t.equal(f.next().kind, 'need-more');
  const r = f.silence();
  t.equal(r.kind, 'frame');
  t.same(r.kind === 'frame' && r.pdu, hex('41 0102 0304'));
  f.push(encodeRtuFrame(1, hex('03 0000 0002')).subarray(0, 5));
  const cut = f.silence();
  t.equal(cut.kind === 'corrupt' && cut.reason, 'truncated');
  f.push(Buffer.alloc(300, 0x41));
  t.equal(f.buffered, 257, 'bounded');
  const long = f.next();
  t.equal(long.kind === 'corrupt' && long.reason, 'too-long');
  const resp = new RtuFramer((h) => rtuResponseLength(hex('03 0000 0002'), h));
  resp.push(encodeRtuFrame(1, exceptionPdu(3, 2)));
  t.equal(resp.next().kind, 'frame', 'an exception answer is 5 bytes');
});

t.test('line timing: t3.5 from the character time, fixed 1.75 ms above 19,200 baud', async (t) => {
  const near = (a: number, b: number, what: string): void => void t.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} ≈ ${b}`);
  near(charTimeMs({ baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 }), 11 / 9.6, '8E1 character at 9600');
  near(
    interFrameSilenceMs({ baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 }),
    (3.5 * 11) / 9.6,
    't3.5 8E1 9600 ≈ 4.01 ms',
  );
  near(
    interFrameSilenceMs({ baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1 }),
    (3.5 * 10) / 9.6,
    't3.5 8N1 9600',
  );
  near(
    interFrameSilenceMs({ baudRate: 19200, dataBits: 8, parity: 'none', stopBits: 2 }),
    (3.5 * 11) / 19.2,
    '19,200 is still computed',
  );
  t.equal(
    interFrameSilenceMs({ baudRate: 38400, dataBits: 8, parity: 'none', stopBits: 1 }),
    1.75,
    'fixed above 19,200',
  );
  near(
    transmitTimeMs({ baudRate: 1200, dataBits: 8, parity: 'none', stopBits: 2 }, 8),
    (8 * 11) / 1.2,
    '8 bytes at 1200 8N2',
  );
});

t.test('broadcast replies: the normal answer of a write, null for anything else', async (t) => {
  t.same(broadcastReply(hex('06 0064 05DC')), hex('06 0064 05DC'));
  t.same(broadcastReply(hex('05 0000 FF00')), hex('05 0000 FF00'));
  t.same(broadcastReply(hex('10 0000 0002 04 0001 0002')), hex('10 0000 0002'));
  t.same(broadcastReply(hex('0F 0000 0003 01 05')), hex('0F 0000 0003'));
  t.same(broadcastReply(hex('16 0004 00F2 0025')), hex('16 0004 00F2 0025'));
  t.equal(broadcastReply(hex('03 0000 0001')), null, 'a read cannot be broadcast');
  t.equal(broadcastReply(hex('17 0000 0001 0000 0001 02 0001')), null, 'FC23 reads');
  t.equal(broadcastReply(hex('06 0064')), null, 'short');
  t.equal(broadcastReply(Buffer.alloc(0)), null);
});
