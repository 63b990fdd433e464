/**
 * AduBatch (one buffer for the ADUs of one turn) frames exactly what encodeAdu would, and the response check's
 * fast path for FC1–4 reads agrees with the full decode on every case, good and bad.
 */
import t from 'tap';
import {
  AduBatch,
  MbapFramer,
  decodeRequest,
  decodeResponse,
  encodeAdu,
  validateResponse,
} from '../../protocols/modbus/index.js';

t.test('one buffer, the same bytes as one encodeAdu per frame, in order; then empty', async (t) => {
  const b = new AduBatch();
  t.equal(b.take(), null);
  const frames: [number, number, Buffer][] = [
    [1, 1, Buffer.from([3, 2, 0, 7])],
    [65535, 255, Buffer.from([0x83, 2])],
    [0, 0, Buffer.alloc(253, 1)],
  ];
  for (const [tid, unit, pdu] of frames) b.add(tid, unit, pdu);
  t.equal(b.bytes, 11 + 9 + 260);
  const out = b.take();
  t.same(out, Buffer.concat(frames.map(([tid, unit, pdu]) => encodeAdu(tid, unit, pdu))));
  const framer = new MbapFramer();
  framer.push(out!);
  const parsed = [framer.next(), framer.next(), framer.next(), framer.next()].map((r) =>
    r.kind === 'frame' ? r.frame.header.transactionId : r.kind,
  );
  t.same(parsed, [1, 65535, 0, 'need-more']);
  t.equal(b.bytes, 0);
  t.equal(b.take(), null, 'taken: nothing left');
});

t.test('limits are programmer errors, as in encodeAdu', async (t) => {
  const b = new AduBatch();
  t.throws(() => b.add(1, 1, Buffer.alloc(0)), RangeError);
  t.throws(() => b.add(1, 1, Buffer.alloc(254)), RangeError);
  t.throws(() => b.add(65536, 1, Buffer.from([3])), RangeError);
  t.throws(() => b.add(1, 256, Buffer.from([3])), RangeError);
  t.equal(b.take(), null, 'nothing was added');
});

/** The full decode's verdict, as validateResponse gave it before its fast path. */
function slow(req: Buffer, res: Buffer): { ok: boolean; reason?: string } {
  const r = decodeRequest(req);
  if (!r.ok) return { ok: false, reason: `request does not decode: ${r.reason}` };
  const d = decodeResponse(res, r.value);
  return d.ok ? { ok: true } : { ok: false, reason: d.reason };
}

t.test('FC1–4 fast path: the same verdict and reason as the full decode', async (t) => {
  const req = (fc: number, address: number, quantity: number, extra: number[] = []): Buffer =>
    Buffer.from([fc, address >> 8, address & 0xff, quantity >> 8, quantity & 0xff, ...extra]);
  const requests = [
    req(3, 0, 10),
    req(4, 100, 125),
    req(3, 0, 126), // bad quantity
    req(3, 65530, 10), // bad range
    req(1, 0, 10),
    req(2, 7, 2000),
    req(1, 0, 2001),
    req(3, 0, 10, [0]), // wrong length
  ];
  const responses = (fc: number): Buffer[] => [
    Buffer.from([fc, 20, ...Buffer.alloc(20)]),
    Buffer.from([fc, 2, 0, 0]),
    Buffer.from([fc, 250, ...Buffer.alloc(250)]),
    Buffer.from([fc, 2, 0x55]),
    Buffer.from([fc, 250, ...Buffer.alloc(249)]),
    Buffer.from([fc]),
    Buffer.from([fc | 0x80, 2]),
    Buffer.from([fc | 0x80, 0x0c]),
    Buffer.from([fc ^ 1, 2, 0, 0]),
    Buffer.alloc(0),
  ];
  let n = 0;
  for (const q of requests)
    for (const r of responses(q[0]!)) {
      t.same(validateResponse(q, r), slow(q, r), `${q.toString('hex')} → ${r.toString('hex')}`);
      n++;
    }
  t.equal(n, 80);
});
