/** PNIO-CM bodies [IEC 61158-6-10]: NDR headers, record read/write, device-access connect, release, PNIOStatus. */
import t from 'tap';
import {
  ARProperties,
  BlockType,
  decodeCmRequest,
  decodeCmResponse,
  decodeFaultBody,
  decodeNdrRequest,
  decodeNdrResponse,
  decodeRpcDatagram,
  describePnioStatus,
  encodeCmRequest,
  encodeCmResponse,
  encodeFaultBody,
  encodeNdrResponse,
  isDeviceAccess,
  NcaStatus,
  PNIO_OK,
  PnioErrors,
  pnioStatusFromHex,
  pnioStatusFromU32,
  pnioStatusHex,
  readBlocks,
  validateCmResponse,
  type CmRequest,
  type CmResponse,
  type Decoded,
  type RpcHeader,
} from '../../protocols/profinet/index.js';
import { hex } from '../fixtures/modbus/annotated-hex.js';
import { AR_UUID, call, CONNECT_DA, READ_IM0, RELEASE_DA, WRITE_PARAM } from '../fixtures/profinet/calls.js';

function sent(req: CmRequest, le = false): { header: RpcHeader; body: Buffer } {
  const [dg] = encodeCmRequest(call(le), req).datagrams;
  const d = decodeRpcDatagram(dg as Buffer);
  if (!d.ok) throw new Error(d.detail);
  return d.value;
}

function answered(req: RpcHeader, res: CmResponse, le = false): Decoded<CmResponse> {
  const [dg] = encodeCmResponse(req, res, { maximumCount: 4096, littleEndian: le }).datagrams;
  const d = decodeRpcDatagram(dg as Buffer);
  if (!d.ok) throw new Error(d.detail);
  return decodeCmResponse(d.value.header, d.value.body);
}

const reason = <T>(d: Decoded<T>): string => (d.ok ? 'ok' : d.reason);

t.test('NDR request header consistency', async (t) => {
  const ndr = (argsMax: number, len: number, max: number, off: number, act: number, extra = len): Buffer => {
    const b = Buffer.alloc(20 + extra);
    [argsMax, len, max, off, act].forEach((v, i) => b.writeUInt32BE(v, i * 4));
    return b;
  };
  t.match(decodeNdrRequest(ndr(100, 10, 100, 0, 10), false), { ok: true, value: { argsMaximum: 100, argsLength: 10 } });
  t.equal(reason(decodeNdrRequest(ndr(100, 10, 100, 4, 10), false)), 'ndr', 'Offset ≠ 0');
  t.equal(reason(decodeNdrRequest(ndr(100, 10, 100, 0, 9), false)), 'ndr', 'ActualCount ≠ ArgsLength');
  t.equal(reason(decodeNdrRequest(ndr(100, 10, 9, 0, 10), false)), 'ndr', 'ActualCount > MaximumCount');
  t.equal(reason(decodeNdrRequest(ndr(5, 10, 100, 0, 10), false)), 'ndr', 'ArgsLength > ArgsMaximum');
  t.equal(reason(decodeNdrRequest(ndr(100, 10, 100, 0, 10, 9), false)), 'truncated', 'ArgsLength beyond the body');
  t.equal(reason(decodeNdrRequest(ndr(100, 10, 100, 0, 10, 11), false)), 'trailing-bytes', 'bytes after the args');
  t.equal(reason(decodeNdrRequest(Buffer.alloc(19), false)), 'truncated');
  t.equal(reason(decodeNdrResponse(Buffer.alloc(19), true)), 'truncated');
});

t.test('NDR response: PNIOStatus is a u32 in DREP order', async (t) => {
  const be = encodeNdrResponse(PnioErrors.readInvalidIndex, 4096, Buffer.alloc(0), false);
  const le = encodeNdrResponse(PnioErrors.readInvalidIndex, 4096, Buffer.alloc(0), true);
  t.equal(be.subarray(0, 4).toString('hex'), 'de80b00a', 'big-endian: ErrorCode first');
  t.equal(le.subarray(0, 4).toString('hex'), '0ab080de', 'little-endian: ErrorCode last');
  t.same(decodeNdrResponse(le, true), decodeNdrResponse(be, false));
});

t.test('PNIOStatus meanings', async (t) => {
  const name = (h: string): string => describePnioStatus(pnioStatusFromHex(h)).name;
  t.equal(name('00000000'), 'ok');
  t.equal(name('de80b00a'), 'invalid-index');
  t.equal(name('de80b200'), 'invalid-slot-subslot');
  t.equal(name('df80b100'), 'write-length');
  t.equal(name('df80b600'), 'access-denied');
  t.equal(name('df80a100'), 'application-write-error');
  t.equal(name('db810104'), 'ar-type-not-supported');
  t.equal(name('db814004'), 'out-of-ar-resources');
  t.equal(name('df814005'), 'unknown-ar');
  t.equal(name('dc814005'), 'unknown-ar', 'any service');
  t.equal(name('de80d000'), 'pniorw-error', 'user-specific class');
  t.equal(name('db810900'), 'pnio-error');
  t.equal(name('db82ffff'), 'unknown');
  t.match(describePnioStatus(pnioStatusFromHex('de80b00a')).meaning, /IODReadRes: access: invalid index/);
  t.match(
    describePnioStatus(pnioStatusFromHex('db810900')).meaning,
    /IODConnectRes: Connect: faulty IRInfoBlock|ErrorCode1 0x9/,
  );
  t.equal(pnioStatusHex(pnioStatusFromU32(0xdf80b600)), 'df80b600');
});

const READ_RES_BLOCK = hex(`
  80 09 00 3c 01 00                    # IODReadResHeader, BlockLength 60, version 1.0
  00 03                                # SeqNumber 3 (echo)
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 # ARUUID nil
  00 00 00 00                          # API 0
  00 00 00 01                          # slot 0, subslot 1
  00 00                                # padding
  af f0                                # index 0xAFF0
  00 00 00 04                          # RecordDataLength 4
  00 00 00 00                          # AdditionalValue1, AdditionalValue2
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 # padding
  de ad be ef                          # record data`);

t.test('read: request ↔ response, both byte orders', async (t) => {
  for (const le of [false, true]) {
    const req = sent(READ_IM0, le);
    const res: CmResponse = {
      op: 'read-implicit',
      status: PNIO_OK,
      record: { ...READ_IM0.record, recordDataLength: 4, additionalValue1: 0, additionalValue2: 0 },
      data: Buffer.from('deadbeef', 'hex'),
    };
    const [dg] = encodeCmResponse(req.header, res, { maximumCount: 4096, littleEndian: le }).datagrams;
    t.equal(dg?.subarray(100).toString('hex'), READ_RES_BLOCK.toString('hex'), `block bytes (${le ? 'LE' : 'BE'})`);
    const back = answered(req.header, res, le);
    if (!back.ok) throw new Error(back.detail);
    t.same(back.value.op, 'read-implicit');
    t.same(validateCmResponse(READ_IM0, back.value), { ok: true, value: true });
  }
  const req = sent(READ_IM0);
  const err = answered(req.header, { op: 'read-implicit', status: PnioErrors.readInvalidIndex, data: Buffer.alloc(0) });
  t.match(
    err,
    { ok: true, value: { op: 'read-implicit', status: { errorCode: 0xde, errorCode1: 0xb0 } } },
    'error status, no blocks',
  );
  t.equal(
    reason(answered(req.header, { op: 'read-implicit', status: PNIO_OK, data: Buffer.alloc(0) })),
    'truncated',
    'OK status needs blocks',
  );
});

t.test('read response refusals and mismatches', async (t) => {
  const req = sent(READ_IM0);
  const good = {
    op: 'read-implicit',
    status: PNIO_OK,
    record: { ...READ_IM0.record, recordDataLength: 4, additionalValue1: 0, additionalValue2: 0 },
    data: Buffer.alloc(4),
  } as CmResponse;
  const body = (args: Buffer): Buffer => encodeNdrResponse(PNIO_OK, 4096, args, false);
  const resHeader = { ...req.header, packetType: 2 };
  const blockAndData = Buffer.concat([READ_RES_BLOCK.subarray(0, 64), Buffer.alloc(3)]);
  t.equal(reason(decodeCmResponse(resHeader, body(blockAndData))), 'truncated', 'data shorter than RecordDataLength');
  t.equal(
    reason(decodeCmResponse(resHeader, body(Buffer.concat([READ_RES_BLOCK, Buffer.alloc(1)])))),
    'trailing-bytes',
  );
  const wrongType = Buffer.from(READ_RES_BLOCK);
  wrongType.writeUInt16BE(0x8008, 0);
  t.equal(reason(decodeCmResponse(resHeader, body(wrongType))), 'block-type');
  const wrongLength = Buffer.from(READ_RES_BLOCK);
  wrongLength.writeUInt16BE(0x3d, 2);
  t.equal(reason(decodeCmResponse(resHeader, body(wrongLength))), 'block-length');
  const v2 = Buffer.from(READ_RES_BLOCK);
  v2[4] = 2;
  t.equal(reason(decodeCmResponse(resHeader, body(v2))), 'block-version');
  t.equal(reason(decodeCmResponse({ ...resHeader, packetType: 0 }, body(READ_RES_BLOCK))), 'packet-type');
  t.equal(reason(decodeCmResponse({ ...resHeader, opnum: 4 }, body(READ_RES_BLOCK))), 'field-value');
  const mismatch = (edit: Partial<Record<string, unknown>>, data = 4): string => {
    const r = {
      ...good,
      record: { ...(good as { record: object }).record, ...edit },
      data: Buffer.alloc(data),
    } as unknown as CmResponse;
    return reason(validateCmResponse(READ_IM0, r));
  };
  t.equal(mismatch({ index: 0xaff1 }), 'mismatch', 'other index');
  t.equal(mismatch({ slot: 2 }), 'mismatch', 'other slot');
  t.equal(mismatch({ sequenceNumber: 4 }), 'mismatch', 'other record sequence');
  t.equal(mismatch({ recordDataLength: 5000 }, 5000), 'mismatch', 'more than asked');
  t.equal(reason(validateCmResponse(READ_IM0, { op: 'write', status: PNIO_OK })), 'mismatch', 'other operation');
});

const WRITE_REQ_ARGS = hex(`
  00 08 00 3c 01 00                    # IODWriteReqHeader, BlockLength 60, version 1.0
  00 04                                # SeqNumber 4
  11 11 22 22 33 33 44 44 55 55 66 66 77 77 88 88 # ARUUID of the device-access AR
  00 00 00 00                          # API 0
  00 01 00 01                          # slot 1, subslot 1
  00 00                                # padding
  00 10                                # index 0x0010 (vendor parameter record)
  00 00 00 04                          # RecordDataLength 4
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 # padding
  00 64 01 f4                          # record data`);

t.test('write: request bytes, decode, response with PNIOStatus in the block', async (t) => {
  const req = sent(WRITE_PARAM, true);
  t.equal(req.body.subarray(20).toString('hex'), WRITE_REQ_ARGS.toString('hex'));
  t.same(decodeCmRequest(req.header, req.body), { ok: true, value: WRITE_PARAM });
  const rec = {
    ...WRITE_PARAM.record,
    additionalValue1: 0,
    additionalValue2: 0,
    status: PnioErrors.writeLength,
  } as never;
  const res = answered(req.header, { op: 'write', status: PnioErrors.writeLength, record: rec });
  if (!res.ok || res.value.op !== 'write') throw new Error('write answer');
  t.equal(pnioStatusHex(res.value.record?.status ?? PNIO_OK), 'df80b100', 'status inside the block');
  t.same(validateCmResponse(WRITE_PARAM, res.value), { ok: true, value: true });
  const short = { ...res.value, record: { ...(res.value.record as object), recordDataLength: 3 } } as CmResponse;
  t.equal(reason(validateCmResponse(WRITE_PARAM, short)), 'mismatch', 'acknowledged length ≠ written');
  const cut = { ...req, body: req.body.subarray(0, req.body.length - 1) };
  t.equal(reason(decodeCmRequest(cut.header, cut.body)), 'truncated', 'ArgsLength beyond the body');
});

const AR_BLOCK_REQ = hex(`
  01 01 00 3e 01 00                    # ARBlockReq, BlockLength 62 = 2 + 52 + 8, version 1.0
  00 06                                # ARType 0x0006 IOSAR (supervisor)
  11 11 22 22 33 33 44 44 55 55 66 66 77 77 88 88 # ARUUID
  00 01                                # SessionKey 1
  02 00 00 00 00 01                    # CMInitiatorMacAdd
  de a0 00 00 6c 97 11 d1 82 71 00 01 00 01 00 01 # CMInitiatorObjectUUID
  00 00 01 11                          # ARProperties: State active, CM initiator parametrises, DeviceAccess
  00 64                                # CMInitiatorActivityTimeoutFactor 100 (10 s)
  88 92                                # CMInitiatorUDPRTPort
  00 08                                # StationNameLength 8
  "verigate"                           # CMInitiatorStationName`);

t.test('connect: device-access AR request and response', async (t) => {
  const req = sent(CONNECT_DA);
  t.equal(req.body.subarray(20).toString('hex'), AR_BLOCK_REQ.toString('hex'));
  const d = decodeCmRequest(req.header, req.body);
  t.same(d, { ok: true, value: CONNECT_DA });
  t.ok(isDeviceAccess(ARProperties.DeviceAccess) && !isDeviceAccess(ARProperties.StateActive));
  const ar = {
    arType: 6,
    arUuid: AR_UUID,
    sessionKey: 1,
    responderMac: '02:00:00:00:00:99',
    responderUdpRtPort: 0x8892,
  };
  const res = answered(req.header, { op: 'connect', status: PNIO_OK, ar, otherBlocks: [] });
  t.same(res, { ok: true, value: { op: 'connect', status: PNIO_OK, ar, otherBlocks: [] } });
  if (!res.ok) return;
  t.same(validateCmResponse(CONNECT_DA, res.value), { ok: true, value: true });
  for (const k of ['arUuid', 'arType', 'sessionKey'] as const) {
    const other = {
      ...res.value,
      ar: { ...ar, [k]: k === 'arUuid' ? '00000000-0000-0000-0000-000000000001' : 9 },
    } as CmResponse;
    t.equal(reason(validateCmResponse(CONNECT_DA, other)), 'mismatch', `other ${k}`);
  }
  const refused = answered(req.header, {
    op: 'connect',
    status: PnioErrors.connectArTypeNotSupported,
    otherBlocks: [],
  });
  t.match(refused, { ok: true, value: { status: { errorCode: 0xdb, errorCode1: 0x01, errorCode2: 0x04 } } });
  const noName = Buffer.from(AR_BLOCK_REQ);
  noName.writeUInt16BE(0, 56);
  const parsed = readBlocks(noName);
  t.ok(parsed.ok);
  const rebody = (args: Buffer): Buffer => {
    const b = Buffer.concat([req.body.subarray(0, 20), args]);
    b.writeUInt32BE(args.length, 4);
    b.writeUInt32BE(args.length, 16);
    b.writeUInt32BE(Math.max(1024, args.length), 0);
    b.writeUInt32BE(Math.max(1024, args.length), 8);
    return b;
  };
  t.equal(reason(decodeCmRequest(req.header, rebody(noName))), 'field-value', 'StationNameLength 0');
  t.equal(
    reason(decodeCmRequest(req.header, rebody(Buffer.concat([AR_BLOCK_REQ, AR_BLOCK_REQ])))),
    'block-type',
    'two ARBlockReq',
  );
  t.equal(
    reason(decodeCmRequest(req.header, rebody(WRITE_REQ_ARGS.subarray(0, 64)))),
    'block-type',
    'connect without ARBlockReq',
  );
  t.equal(reason(decodeCmRequest(req.header, rebody(Buffer.alloc(0)))), 'block-type', 'connect without blocks');
});

t.test('release: IODControlReq 0x0114 and its answer', async (t) => {
  const req = sent(RELEASE_DA, true);
  t.same(decodeCmRequest(req.header, req.body), { ok: true, value: RELEASE_DA });
  t.equal(req.body.readUInt16BE(20), BlockType.ReleaseBlockReq);
  const control = { ...RELEASE_DA.control, blockType: 0x8114, controlCommand: 0x0008 } as never;
  const res = answered(req.header, { op: 'release', status: PNIO_OK, control });
  t.same(res, { ok: true, value: { op: 'release', status: PNIO_OK, control } });
  if (res.ok) t.same(validateCmResponse(RELEASE_DA, res.value), { ok: true, value: true });
  const other = {
    op: 'release',
    status: PNIO_OK,
    control: { ...(control as object), arUuid: '00000000-0000-0000-0000-000000000002' },
  } as CmResponse;
  t.equal(reason(validateCmResponse(RELEASE_DA, other)), 'mismatch');
});

t.test('request refusals', async (t) => {
  const req = sent(READ_IM0);
  t.equal(
    reason(decodeCmRequest({ ...req.header, opnum: 2 }, req.body)),
    'field-value',
    'Read (opnum 2) with a nil ARUUID',
  );
  const readWithAr: CmRequest = {
    ...READ_IM0,
    op: 'read',
    record: { ...READ_IM0.record, arUuid: AR_UUID },
  };
  const r2 = sent(readWithAr);
  t.match(
    decodeCmRequest(r2.header, r2.body),
    { ok: true, value: { op: 'read', record: { arUuid: AR_UUID } } },
    'Read with an AR',
  );
  t.equal(reason(decodeCmRequest({ ...r2.header, opnum: 5 }, r2.body)), 'field-value', 'Read Implicit with an AR');
  t.equal(
    reason(decodeCmRequest({ ...req.header, opnum: 4 }, req.body)),
    'field-value',
    'Control (opnum 4) not served',
  );
  t.equal(reason(decodeCmRequest({ ...req.header, packetType: 2 }, req.body)), 'packet-type');
  t.equal(
    reason(decodeCmRequest({ ...req.header, interfaceUuid: AR_UUID }, req.body)),
    'field-value',
    'other interface',
  );
  const w = sent(WRITE_PARAM);
  t.equal(
    reason(decodeCmRequest({ ...w.header, opnum: 1 }, w.body)),
    'trailing-bytes',
    'release with a write block + data',
  );
  t.equal(
    reason(decodeCmRequest({ ...w.header, opnum: 2 }, w.body)),
    'trailing-bytes',
    'read with data after its block',
  );
  const nilWrite = sent({
    ...WRITE_PARAM,
    record: { ...WRITE_PARAM.record, arUuid: '00000000-0000-0000-0000-000000000000' },
  });
  t.equal(reason(decodeCmRequest(nilWrite.header, nilWrite.body)), 'field-value', 'write without an AR');
});

t.test('fault and reject bodies', async (t) => {
  t.same(decodeFaultBody(encodeFaultBody(NcaStatus.OpRangeError, true), true), {
    ok: true,
    value: { status: 0x1c010002, name: 'nca_s_op_rng_error' },
  });
  t.match(decodeFaultBody(encodeFaultBody(0x12345678, false), false), { ok: true, value: { name: 'nca 0x12345678' } });
  t.equal(reason(decodeFaultBody(Buffer.alloc(3), false)), 'truncated');
});
