/** Request codec: every FC decodes from annotated bytes, re-encodes to the same bytes, classifies as listed. */
import t from 'tap';
import { classify, decodeRequest, encodeRequest, ExceptionCode } from '../../protocols/modbus/index.js';
import type { ModbusRequest } from '../../protocols/modbus/index.js';
import { badRequestFixtures } from '../fixtures/modbus/bad-request-fixtures.js';
import { requestFixtures } from '../fixtures/modbus/request-fixtures.js';

for (const f of requestFixtures) {
  t.test(f.name, async (t) => {
    const d = decodeRequest(f.pdu);
    if (!d.ok) throw new Error(`expected ok, got ${d.exception}: ${d.reason}`);
    t.same(d.value, f.request, 'decodes to the expected request');
    t.equal(encodeRequest(d.value).toString('hex'), f.pdu.toString('hex'), 'encodes back to the same bytes');
    t.same(classify(d.value, 17), { ...f.classified, unit: 17 }, 'classifies');
  });
}

for (const f of badRequestFixtures) {
  t.test(`refuses: ${f.name}`, async (t) => {
    const d = decodeRequest(f.pdu);
    if (d.ok) throw new Error(`expected exception ${f.exception}, decoded ${JSON.stringify(d.value)}`);
    t.equal(d.exception, f.exception, `exception 0x0${f.exception.toString(16)}`);
    t.match(d.reason, f.reason);
  });
}

t.test('every request FC 1..127 decodes or refuses with a known exception, never throws', async (t) => {
  let decoded = 0;
  for (let fc = 1; fc <= 127; fc++) {
    for (const tail of [[], [0], [0, 1, 0, 1], [0, 0, 0, 1, 2, 0, 0]]) {
      const d = decodeRequest(Buffer.from([fc, ...tail]));
      if (d.ok) {
        decoded++;
        t.equal(d.value.fc, fc);
      } else t.ok(Object.values(ExceptionCode).includes(d.exception));
    }
  }
  t.ok(decoded > 100, 'most of them decode so they can be classified');
});

t.test('limits: the largest legal requests decode', async (t) => {
  const cases: ModbusRequest[] = [
    { type: 'read-bits', fc: 1, address: 65536 - 2000, quantity: 2000 },
    { type: 'read-registers', fc: 4, address: 65536 - 125, quantity: 125 },
    {
      type: 'write-multiple-coils',
      fc: 15,
      address: 65536 - 1968,
      values: Array.from({ length: 1968 }, (_, i) => i % 3 === 0),
    },
    { type: 'write-multiple-registers', fc: 16, address: 0, values: Array.from({ length: 123 }, (_, i) => i * 500) },
    {
      type: 'read-write-registers',
      fc: 23,
      readAddress: 65411,
      readQuantity: 125,
      writeAddress: 65415,
      values: Array(121).fill(0xffff),
    },
    { type: 'write-single-register', fc: 6, address: 65535, value: 65535 },
    { type: 'read-fifo', fc: 24, address: 65535 },
  ];
  for (const r of cases) {
    const pdu = encodeRequest(r);
    t.ok(pdu.length <= 253, `${r.type} fits in a PDU (${pdu.length})`);
    t.same(decodeRequest(pdu), { ok: true, value: r }, `${r.type} round-trips`);
  }
});

t.test('decoded data buffers do not alias the input', async (t) => {
  const pdu = Buffer.from([8, 0, 0, 0xa5, 0x37]);
  const d = decodeRequest(pdu);
  if (!d.ok || d.value.type !== 'diagnostics') throw new Error('expected diagnostics');
  pdu[3] = 0;
  t.equal(d.value.data[0], 0xa5);
});

t.test('classify: FIFO at the top of the address space claims only what exists', async (t) => {
  const c = classify({ type: 'read-fifo', fc: 24, address: 65530 }, 1);
  t.same(c.reads, [{ table: 'holding', start: 65530, count: 6 }]);
});

t.test('classify: FC43 with no MEI byte still classifies', async (t) => {
  const c = classify({ type: 'other', fc: 43, data: Buffer.alloc(0) }, 1);
  t.equal(c.kind, 'unknown');
  t.equal(c.subFunction, undefined);
});
