/**
 * Decoders for the non-data requests: file records (FC20/21), encapsulated interface (FC43), diagnostics
 * (FC8) and the serial-line diagnostics (FC7/11/12/17). Same check order as request-decode-data.ts: structure,
 * byte counts and quantities (03) before addresses (02).
 */
import { readRegisters } from './bits.js';
import { badAddress, badValue, ok, type DecodeResult } from './decode-result.js';
import * as L from './limits.js';
import type {
  DeviceIdRequest,
  DiagnosticsRequest,
  FileRecordRequest,
  FileSubRequest,
  OtherRequest,
  SerialDiagnosticRequest,
} from './request-types.js';

const SUB_HEAD = 7; // refType(1) fileNumber(2) recordNumber(2) recordLength(2)

interface RawSub extends FileSubRequest {
  readonly referenceType: number;
}

function readSubHead(pdu: Buffer, at: number): RawSub {
  return {
    referenceType: pdu.readUInt8(at),
    fileNumber: pdu.readUInt16BE(at + 1),
    recordNumber: pdu.readUInt16BE(at + 3),
    recordLength: pdu.readUInt16BE(at + 5),
  };
}

/** [MB-APP 6.14 / 6.15]: reference type 6, file 1..65535, record 0..9999 and record + length ≤ 10000 → else 02. */
function subAddressError(s: RawSub): string | null {
  if (s.referenceType !== L.FILE_REFERENCE_TYPE) return `reference type ${s.referenceType} != 6`;
  if (s.fileNumber === 0) return 'file number 0';
  if (s.recordNumber + s.recordLength > L.MAX_FILE_RECORD_NUMBER + 1) {
    return `record ${s.recordNumber} + length ${s.recordLength} > 10000`;
  }
  return null;
}

function withoutReferenceType(s: RawSub): FileSubRequest {
  const base = { fileNumber: s.fileNumber, recordNumber: s.recordNumber, recordLength: s.recordLength };
  return s.values ? { ...base, values: s.values } : base;
}

/** Quantities (03) before addresses (02), as for the data functions [MB-APP 6.x]. */
function checkSubs(fc: 20 | 21, subs: RawSub[]): DecodeResult<FileRecordRequest> {
  if (subs.some((s) => s.recordLength === 0)) return badValue('record length 0');
  // The response must fit in one PDU: fc, byteCount, then per record length(1) refType(1) data [MB-APP 6.14].
  const responseLength = 2 + subs.reduce((n, s) => n + 2 + 2 * s.recordLength, 0);
  if (fc === 20 && responseLength > L.MAX_PDU_LENGTH)
    return badValue(`response would be ${responseLength} bytes > 253`);
  for (const s of subs) {
    const why = subAddressError(s);
    if (why) return badAddress(why);
  }
  return ok({ type: 'file-record', fc, subRequests: subs.map(withoutReferenceType) });
}

/** FC20 [MB-APP 6.14]: byteCount(1) 0x07..0xF5, then 7-byte sub-requests. */
export function decodeReadFileRecord(pdu: Buffer): DecodeResult<FileRecordRequest> {
  if (pdu.length < 2) return badValue('PDU length < 2');
  const byteCount = pdu.readUInt8(1);
  if (pdu.length !== 2 + byteCount) return badValue(`PDU length ${pdu.length} != 2 + byte count ${byteCount}`);
  if (byteCount < 0x07 || byteCount > 0xf5 || byteCount % SUB_HEAD !== 0) {
    return badValue(`byte count ${byteCount} not a multiple of 7 in 7..245`);
  }
  const subs: RawSub[] = [];
  for (let at = 2; at < pdu.length; at += SUB_HEAD) subs.push(readSubHead(pdu, at));
  return checkSubs(20, subs);
}

/** FC21 [MB-APP 6.15]: byteCount(1) 0x09..0xFB, then sub-requests each followed by 2 x recordLength bytes. */
export function decodeWriteFileRecord(pdu: Buffer): DecodeResult<FileRecordRequest> {
  if (pdu.length < 2) return badValue('PDU length < 2');
  const byteCount = pdu.readUInt8(1);
  if (pdu.length !== 2 + byteCount) return badValue(`PDU length ${pdu.length} != 2 + byte count ${byteCount}`);
  if (byteCount < 0x09 || byteCount > 0xfb) return badValue(`byte count ${byteCount} outside 9..251`);
  const subs: RawSub[] = [];
  let at = 2;
  while (at < pdu.length) {
    if (at + SUB_HEAD > pdu.length) return badValue(`truncated sub-request at byte ${at}`);
    const head = readSubHead(pdu, at);
    const end = at + SUB_HEAD + 2 * head.recordLength;
    if (end > pdu.length) return badValue(`sub-request data at byte ${at} overruns the PDU`);
    subs.push({ ...head, values: readRegisters(pdu, at + SUB_HEAD, head.recordLength) });
    at = end;
  }
  return checkSubs(21, subs);
}

/** FC43 [MB-APP 6.19–6.21]: MEI type 14 is decoded; other MEI types stay raw (kind 'other'). */
export function decodeEncapsulated(pdu: Buffer): DecodeResult<DeviceIdRequest | OtherRequest> {
  if (pdu.length < 2) return badValue('PDU length < 2: no MEI type');
  const meiType = pdu.readUInt8(1);
  if (meiType !== L.MEI_READ_DEVICE_ID) return ok(decodeOther(pdu));
  if (pdu.length !== 4) return badValue(`PDU length ${pdu.length}, expected 4 for MEI 14`);
  const readDeviceIdCode = pdu.readUInt8(2);
  if (readDeviceIdCode < 1 || readDeviceIdCode > 4)
    return badValue(`read device id code ${readDeviceIdCode} outside 1..4`);
  return ok({ type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode, objectId: pdu.readUInt8(3) });
}

/** FC8 [MB-APP 6.8]: subFunction(2) data(N). */
export function decodeDiagnostics(pdu: Buffer): DecodeResult<DiagnosticsRequest> {
  if (pdu.length < 3) return badValue(`PDU length ${pdu.length} < 3: no sub-function`);
  return ok({ type: 'diagnostics', fc: 8, subFunction: pdu.readUInt16BE(1), data: Buffer.from(pdu.subarray(3)) });
}

/** FC7/11/12/17 carry no request data; any bytes are kept so policy and audit see them. */
export function decodeSerialDiagnostic(pdu: Buffer, fc: 7 | 11 | 12 | 17): DecodeResult<SerialDiagnosticRequest> {
  return ok({ type: 'serial-diagnostic', fc, data: Buffer.from(pdu.subarray(1)) });
}

/** Anything else 1..127: raw, for classification. */
export function decodeOther(pdu: Buffer): OtherRequest {
  return { type: 'other', fc: pdu.readUInt8(0), data: Buffer.from(pdu.subarray(1)) };
}
