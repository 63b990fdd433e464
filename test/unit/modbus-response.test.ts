/** Response codec and validation: every FC decodes against its request, re-encodes, and inconsistent replies are refused. */
import t from 'tap';
import {
  decodeRequest,
  decodeResponse,
  encodeResponse,
  exceptionPdu,
  ExceptionCode,
  isExceptionPdu,
  isKnownExceptionCode,
  validateResponse,
} from '../../protocols/modbus/index.js';
import type { ModbusRequest } from '../../protocols/modbus/index.js';
import { hex } from '../fixtures/modbus/annotated-hex.js';
import { responseFixtures } from '../fixtures/modbus/response-fixtures.js';

function req(pdu: Buffer): ModbusRequest {
  const d = decodeRequest(pdu);
  if (!d.ok) throw new Error(`fixture request does not decode: ${d.reason}`);
  return d.value;
}

for (const f of responseFixtures) {
  t.test(f.name, async (t) => {
    const d = decodeResponse(f.pdu, req(f.requestPdu));
    if (!d.ok) throw new Error(`expected ok, got: ${d.reason}`);
    t.same(d.value, f.response, 'decodes');
    t.equal(encodeResponse(f.response).toString('hex'), f.pdu.toString('hex'), 'encodes to the same bytes');
    t.same(validateResponse(f.requestPdu, f.pdu), { ok: true }, 'validates');
  });
}

/** [request PDU, response PDU, reason] triples a gateway must not pass back to a client. */
const invalid: [string, Buffer, Buffer, RegExp][] = [
  ['empty response', hex('03 00 00 00 01 # FC3 qty 1'), Buffer.alloc(0), /empty/],
  ['wrong FC', hex('03 00 00 00 01 # FC3 qty 1'), hex('04 02 00 01 # FC4 answer'), /does not answer 3/],
  ['exception for another FC', hex('03 00 00 00 01 # FC3'), hex('84 02 # FC4 exception'), /does not answer/],
  ['exception too long', hex('03 00 00 00 01 # FC3'), hex('83 02 00 # 3 bytes'), /exception PDU length 3/],
  [
    'unknown exception code',
    hex('03 00 00 00 01 # FC3'),
    hex('83 07 # NAK, not in the table'),
    /unknown exception code 0x7/,
  ],
  [
    'FC3 byte count != 2 x quantity',
    hex('03 00 00 00 02 # FC3 qty 2'),
    hex('03 02 00 01 # byte count 2'),
    /byte count 2, expected 4/,
  ],
  ['FC3 byte count vs length', hex('03 00 00 00 01 # FC3 qty 1'), hex('03 02 00 # 1 data byte'), /PDU length 3/],
  ['FC3 no byte count', hex('03 00 00 00 01 # FC3'), hex('03 # nothing'), /< 2/],
  [
    'FC1 byte count for 9 coils must be 2',
    hex('01 00 00 00 09 # FC1 qty 9'),
    hex('01 01 FF # byte count 1'),
    /expected 2/,
  ],
  ['FC5 echo of another address', hex('05 00 01 FF 00 # FC5 addr 1 ON'), hex('05 00 02 FF 00 # addr 2'), /echo word 0/],
  ['FC5 echo of another value', hex('05 00 01 FF 00 # FC5 addr 1 ON'), hex('05 00 01 00 00 # OFF'), /echo word 1/],
  ['FC6 echo truncated', hex('06 00 01 00 03 # FC6'), hex('06 00 01 # short'), /PDU length 3, expected 5/],
  [
    'FC16 quantity echo differs',
    hex('10 00 01 00 01 02 00 0A # FC16 qty 1'),
    hex('10 00 01 00 02 # qty 2'),
    /echo word 1/,
  ],
  [
    'FC15 address echo differs',
    hex('0F 00 00 00 01 01 01 # FC15 qty 1'),
    hex('0F 00 01 00 01 # addr 1'),
    /echo word 0/,
  ],
  [
    'FC22 mask echo differs',
    hex('16 00 04 00 F2 00 25 # FC22'),
    hex('16 00 04 00 F2 00 26 # OR differs'),
    /echo word 2/,
  ],
  [
    'FC23 byte count is for the read quantity',
    hex('17 00 00 00 02 00 00 00 01 02 00 01 # read 2 write 1'),
    hex('17 02 00 01 # 1 register'),
    /expected 4/,
  ],
  [
    'FC24 count > 31',
    hex('18 00 00 # FC24'),
    Buffer.concat([hex('18 00 42 00 20 # byte count 66, count 32'), Buffer.alloc(64)]),
    /> 31/,
  ],
  [
    'FC24 byte count mismatch',
    hex('18 00 00 # FC24'),
    hex('18 00 04 00 02 00 01 00 02 # says 4, count 2'),
    /byte count 4/,
  ],
  ['FC24 length mismatch', hex('18 00 00 # FC24'), hex('18 00 04 00 01 00 # 1 byte short'), /PDU length/],
  ['FC24 too short', hex('18 00 00 # FC24'), hex('18 00 02 # no count'), /< 5/],
  [
    'FC20 byte count vs length',
    hex('14 07 06 00 01 00 00 00 01 # FC20 len 1'),
    hex('14 05 03 06 00 # byte count 5'),
    /byte count/,
  ],
  [
    'FC20 sub-response length',
    hex('14 07 06 00 01 00 00 00 01 # FC20 len 1'),
    hex('14 04 05 06 00 01 # says 5, should be 3'),
    /length 5, expected 3/,
  ],
  [
    'FC20 sub-response truncated',
    hex('14 07 06 00 01 00 00 00 02 # FC20 len 2'),
    hex('14 04 05 06 00 01 # 1 register of 2'),
    /truncated/,
  ],
  [
    'FC20 reference type',
    hex('14 07 06 00 01 00 00 00 01 # FC20 len 1'),
    hex('14 04 03 07 00 01 # ref type 7'),
    /reference type/,
  ],
  [
    'FC20 trailing bytes',
    hex('14 07 06 00 01 00 00 00 01 # FC20 len 1'),
    hex('14 05 03 06 00 01 FF # extra'),
    /trailing/,
  ],
  [
    'FC21 not an echo',
    hex('15 09 06 00 01 00 00 00 01 00 05 # FC21'),
    hex('15 09 06 00 01 00 00 00 01 00 06 # data differs'),
    /echo/,
  ],
  ['FC43 too short', hex('2B 0E 01 00 # FC43/14'), hex('2B 0E 01 01 00 00 # 6 bytes'), /< 7/],
  ['FC43 wrong MEI', hex('2B 0E 01 00 # FC43/14'), hex('2B 0D 01 01 00 00 00 # MEI 13'), /MEI type/],
  ['FC43 wrong read code', hex('2B 0E 01 00 # FC43/14'), hex('2B 0E 02 01 00 00 00 # code 2'), /read device id code/],
  ['FC43 more-follows 01', hex('2B 0E 01 00 # FC43/14'), hex('2B 0E 01 01 01 00 00 # more 01'), /more-follows/],
  [
    'FC43 object header truncated',
    hex('2B 0E 01 00 # FC43/14'),
    hex('2B 0E 01 01 00 00 01 00 # 1 object, 1 byte'),
    /header truncated/,
  ],
  [
    'FC43 object value truncated',
    hex('2B 0E 01 00 # FC43/14'),
    hex('2B 0E 01 01 00 00 01 00 05 41 # len 5, 1 byte'),
    /value truncated/,
  ],
  ['FC43 trailing', hex('2B 0E 01 00 # FC43/14'), hex('2B 0E 01 01 00 00 00 FF # 0 objects + 1 byte'), /trailing/],
  ['FC8 other sub-function', hex('08 00 00 A5 37 # FC8 sub 0'), hex('08 00 01 A5 37 # sub 1'), /sub-function 1/],
  ['FC8 too short', hex('08 00 00 A5 37 # FC8 sub 0'), hex('08 00 # short'), /< 3/],
  ['FC7 too long', hex('07 # FC7'), hex('07 6D 00 # 2 data bytes'), /expected 2/],
  ['FC11 too short', hex('0B # FC11'), hex('0B FF FF # no count'), /expected 5/],
  ['FC12 byte count < 6', hex('0C # FC12'), hex('0C 02 00 00 # byte count 2'), /< 6/],
  ['FC17 byte count vs length', hex('11 # FC17'), hex('11 03 2A FF # says 3, has 2'), /byte count/],
  ['FC17 no byte count', hex('11 # FC17'), hex('11 # nothing'), /byte count/],
];

for (const [name, reqPdu, resPdu, reason] of invalid) {
  t.test(`refuses: ${name}`, async (t) => {
    const v = validateResponse(reqPdu, resPdu);
    if (v.ok) throw new Error('expected the response to be refused');
    t.match(v.reason, reason);
    const d = decodeResponse(resPdu, req(reqPdu));
    t.equal(d.ok, false, 'decodeResponse agrees');
    if (!d.ok) t.equal(d.exception, ExceptionCode.ServerDeviceFailure, 'failure carries 04');
  });
}

t.test('validateResponse refuses when the request itself is invalid', async (t) => {
  const v = validateResponse(hex('03 00 00 00 00 # qty 0'), hex('03 00 # whatever'));
  t.same(v.ok, false);
  if (!v.ok) t.match(v.reason, /request does not decode: quantity 0/);
});

t.test('exception builders [MB-APP 7]', async (t) => {
  t.equal(exceptionPdu(3, ExceptionCode.IllegalDataAddress).toString('hex'), '8302', 'FC3 | 0x80, code 02');
  t.equal(exceptionPdu(16, ExceptionCode.IllegalFunction).toString('hex'), '9001', 'denied write → 0x90 0x01');
  t.equal(exceptionPdu(3, ExceptionCode.GatewayPathUnavailable).toString('hex'), '830a');
  t.equal(exceptionPdu(0x83, ExceptionCode.ServerDeviceBusy).toString('hex'), '8306', 'exception bit is idempotent');
  t.equal(exceptionPdu(3, 0x107).toString('hex'), '8307', 'odd codes are kept to one byte');
  t.ok(isExceptionPdu(hex('83 02 # FC3 exception')));
  t.notOk(isExceptionPdu(hex('03 02 00 01 # normal FC3 response')));
  t.notOk(isExceptionPdu(hex('83 # too short')));
  t.notOk(isExceptionPdu(hex('83 02 00 # too long')));
  t.ok(isKnownExceptionCode(0x0b));
  t.notOk(isKnownExceptionCode(0x07));
  for (const code of Object.values(ExceptionCode)) {
    const d = decodeResponse(exceptionPdu(4, code), req(hex('04 00 00 00 01 # FC4')));
    t.same(d, { ok: true, value: { type: 'exception', fc: 4, exception: code, isException: true } });
  }
});

t.test('read-bits responses drop padding and fill only the bits asked for', async (t) => {
  const values = [true, true, false, true, true, false, true, false, true];
  const pdu = encodeResponse({ type: 'read-bits', fc: 1, values });
  t.equal(pdu.toString('hex'), '01025b01', 'LSB first, zero padding');
  const d = decodeResponse(Buffer.from('0102ffff', 'hex'), req(hex('01 00 00 00 09 # 9 coils')));
  if (!d.ok || d.value.type !== 'read-bits') throw new Error('expected read-bits');
  t.equal(d.value.values.length, 9);
});
