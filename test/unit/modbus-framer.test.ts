/** MBAP framer and ADU builder [MB-TCP 3.1.3]: any split or coalescing, sticky malformed states. */
import t from 'tap';
import { encodeAdu, MbapFramer } from '../../protocols/modbus/index.js';
import type { Frame, FrameResult } from '../../protocols/modbus/index.js';
import { hex } from '../fixtures/modbus/annotated-hex.js';

const ADU_FC3 = hex(`00 01 # transaction id 1
                     00 00 # protocol id 0 (Modbus)
                     00 06 # length 6 = unit id + 5-byte PDU
                     11    # unit id 17
                     03    # FC3 read holding registers
                     00 6B # address 107
                     00 03 # quantity 3`);

/** Loop next() the way a session does: collect frames until need-more or malformed. */
function drain(f: MbapFramer): { frames: Frame[]; last: FrameResult } {
  const frames: Frame[] = [];
  for (;;) {
    const r = f.next();
    if (r.kind !== 'frame') return { frames, last: r };
    frames.push(r.frame);
  }
}

t.test('encodeAdu builds the MBAP header', async (t) => {
  const adu = encodeAdu(1, 0x11, hex('03 00 6B 00 03 # FC3'));
  t.equal(adu.toString('hex'), ADU_FC3.toString('hex'));
  t.throws(() => encodeAdu(1, 1, Buffer.alloc(0)), RangeError, 'empty PDU');
  t.throws(() => encodeAdu(1, 1, Buffer.alloc(254)), RangeError, 'PDU > 253');
  t.throws(() => encodeAdu(70000, 1, Buffer.from([3])), RangeError, 'transaction id > 65535');
  t.throws(() => encodeAdu(1, 256, Buffer.from([3])), RangeError, 'unit id > 255');
  t.equal(encodeAdu(0xffff, 0xff, Buffer.alloc(253, 1)).length, 260, 'the largest ADU is 260 bytes');
});

t.test('one whole frame', async (t) => {
  const f = new MbapFramer();
  f.push(ADU_FC3);
  t.equal(f.buffered, 12);
  const r = f.next();
  if (r.kind !== 'frame') throw new Error(`expected a frame, got ${r.kind}`);
  t.same(r.frame.header, { transactionId: 1, protocolId: 0, length: 6, unitId: 0x11 });
  t.equal(r.frame.pdu.toString('hex'), '03006b0003');
  t.equal(r.frame.adu.toString('hex'), ADU_FC3.toString('hex'));
  t.same(f.next(), { kind: 'need-more' });
  t.equal(f.buffered, 0);
});

t.test('every split point of two coalesced frames', async (t) => {
  const second = encodeAdu(2, 1, hex('10 00 01 00 02 04 00 0A 01 02 # FC16'));
  const stream = Buffer.concat([ADU_FC3, second]);
  for (let i = 0; i <= stream.length; i++) {
    for (let j = i; j <= stream.length; j++) {
      const f = new MbapFramer();
      const frames: Frame[] = [];
      for (const part of [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]) {
        f.push(part);
        const d = drain(f);
        t.equal(d.last.kind, 'need-more');
        frames.push(...d.frames);
      }
      if (frames.length !== 2 || frames[1]?.header.transactionId !== 2 || !frames[0]?.adu.equals(ADU_FC3)) {
        t.fail(`split ${i}/${j} gave ${frames.length} frames`);
        return;
      }
    }
  }
  t.pass('all splits give the same two frames');
});

t.test('one byte at a time, many frames, frames own their bytes', async (t) => {
  const f = new MbapFramer();
  const chunk = Buffer.concat(
    Array.from({ length: 500 }, (_, i) => encodeAdu(i, 1, Buffer.from([3, 0, i & 0xff, 0, 1]))),
  );
  const frames: Frame[] = [];
  for (let i = 0; i < chunk.length; i++) {
    f.push(chunk.subarray(i, i + 1));
    frames.push(...drain(f).frames);
  }
  t.equal(frames.length, 500);
  t.equal(frames[499]?.header.transactionId, 499);
  chunk.fill(0);
  t.equal(frames[7]?.pdu[2], 7, 'frame bytes are copies, not views of the pushed chunks');
  t.equal(f.buffered, 0);
});

t.test('empty chunks are ignored', async (t) => {
  const f = new MbapFramer();
  f.push(Buffer.alloc(0));
  t.same(f.next(), { kind: 'need-more' });
  t.equal(f.buffered, 0);
});

t.test('smallest frame: length 2 (unit id + FC only)', async (t) => {
  const f = new MbapFramer();
  f.push(hex('00 09 00 00 00 02 01 07 # tid 9, length 2, unit 1, FC7'));
  const r = f.next();
  if (r.kind !== 'frame') throw new Error('expected a frame');
  t.equal(r.frame.pdu.toString('hex'), '07');
});

t.test('largest frame: length 254 (253-byte PDU)', async (t) => {
  const f = new MbapFramer();
  f.push(encodeAdu(1, 1, Buffer.alloc(253, 0x10)));
  const r = f.next();
  t.equal(r.kind, 'frame');
  if (r.kind === 'frame') t.equal(r.frame.pdu.length, 253);
});

const malformed: [string, Buffer, string, RegExp][] = [
  ['protocol id 1', hex('00 01 00 01 00 06 01 03 00 00 00 01 # protocol 1'), 'protocol-id', /protocol id 1/],
  ['protocol id seen after 4 bytes', hex('00 01 12 34 # tid 1, protocol 0x1234 — nothing more'), 'protocol-id', /4660/],
  ['length 0', hex('00 01 00 00 00 00 # length 0'), 'length-out-of-range', /length 0 outside 2..254/],
  ['length 1 (unit id, no FC)', hex('00 01 00 00 00 01 01 # length 1'), 'length-out-of-range', /length 1/],
  ['length 255', hex('00 01 00 00 00 FF # length 255'), 'length-out-of-range', /255/],
  ['length 65535', hex('00 01 00 00 FF FF # length 65535'), 'length-out-of-range', /65535/],
  ['HTTP on the Modbus port', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'protocol-id', /protocol id/],
];

for (const [name, bytes, reason, detail] of malformed) {
  t.test(`malformed: ${name}`, async (t) => {
    const f = new MbapFramer();
    f.push(bytes);
    const r = f.next();
    if (r.kind !== 'malformed') throw new Error(`expected malformed, got ${r.kind}`);
    t.equal(r.reason, reason);
    t.match(r.detail, detail);
    f.push(ADU_FC3);
    t.same(f.next(), r, 'stays malformed after more bytes');
    t.equal(f.buffered, 0, 'buffers are dropped');
  });
}

t.test('a valid frame before garbage is still delivered, then malformed', async (t) => {
  const f = new MbapFramer();
  f.push(Buffer.concat([ADU_FC3, hex('00 02 00 05 # tid 2, protocol 5')]));
  t.equal(f.next().kind, 'frame');
  t.equal(f.next().kind, 'malformed');
});

t.test('100k one-byte chunks queued before draining (chunk list compaction)', async (t) => {
  const f = new MbapFramer();
  const big = encodeAdu(1, 1, Buffer.alloc(253, 3));
  for (let round = 0; round < 400; round++) for (const b of big) f.push(Buffer.from([b]));
  t.equal(f.buffered, 400 * 260);
  const d = drain(f);
  t.equal(d.frames.length, 400);
  t.ok(d.frames.every((fr) => fr.pdu.length === 253 && fr.pdu[252] === 3));
  t.equal(f.buffered, 0);
});
