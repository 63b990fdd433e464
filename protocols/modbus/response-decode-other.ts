/** Response decoders for FC20/21, FC43/14, FC8, the serial diagnostics and unknown codes [MB-APP 6.x]. */
import { readRegisters } from './bits.js';
import { ok } from './decode-result.js';
import * as L from './limits.js';
import { encodeRequest } from './request-encode.js';
import type { DeviceIdRequest, DiagnosticsRequest, FileRecordRequest } from './request-types.js';
import { badResponse, type R } from './response-decode-data.js';
import type { DeviceIdObject } from './response-types.js';

/** FC20 [MB-APP 6.14]: byteCount(1), then per sub-request: length(1) = 1 + 2N, refType(1) = 6, N registers. */
function decodeReadFile(pdu: Buffer, req: FileRecordRequest): R {
  if (pdu.length < 2 || pdu.length !== 2 + pdu.readUInt8(1)) return badResponse('byte count does not match PDU length');
  const records: number[][] = [];
  let at = 2;
  for (const [i, sub] of req.subRequests.entries()) {
    const len = 1 + 2 * sub.recordLength;
    if (at + 1 + len > pdu.length) return badResponse(`sub-response ${i} truncated`);
    if (pdu.readUInt8(at) !== len) return badResponse(`sub-response ${i} length ${pdu.readUInt8(at)}, expected ${len}`);
    if (pdu.readUInt8(at + 1) !== L.FILE_REFERENCE_TYPE) return badResponse(`sub-response ${i} reference type not 6`);
    records.push(readRegisters(pdu, at + 2, sub.recordLength));
    at += 1 + len;
  }
  if (at !== pdu.length) return badResponse(`${pdu.length - at} trailing bytes`);
  return ok({ type: 'read-file-record', fc: 20, records });
}

export function decodeFileRecordResponse(pdu: Buffer, req: FileRecordRequest): R {
  if (req.fc === 20) return decodeReadFile(pdu, req);
  // FC21: the normal response is an echo of the request [MB-APP 6.15].
  if (!pdu.equals(encodeRequest(req))) return badResponse('write file record response is not an echo of the request');
  return ok({ type: 'write-file-record', fc: 21, subRequests: req.subRequests });
}

/** FC43/14 [MB-APP 6.21]: mei, code, conformity, moreFollows 00/FF, nextObjectId, count, then id,len,value. */
export function decodeDeviceIdResponse(pdu: Buffer, req: DeviceIdRequest): R {
  if (pdu.length < 7) return badResponse(`PDU length ${pdu.length} < 7`);
  if (pdu.readUInt8(1) !== L.MEI_READ_DEVICE_ID) return badResponse('MEI type is not 14');
  if (pdu.readUInt8(2) !== req.readDeviceIdCode) return badResponse('read device id code differs from the request');
  const more = pdu.readUInt8(4);
  if (more !== 0x00 && more !== 0xff) return badResponse(`more-follows 0x${more.toString(16)} not 00/FF`);
  const count = pdu.readUInt8(6);
  const objects: DeviceIdObject[] = [];
  let at = 7;
  for (let i = 0; i < count; i++) {
    if (at + 2 > pdu.length) return badResponse(`object ${i} header truncated`);
    const len = pdu.readUInt8(at + 1);
    if (at + 2 + len > pdu.length) return badResponse(`object ${i} value truncated`);
    objects.push({ id: pdu.readUInt8(at), value: Buffer.from(pdu.subarray(at + 2, at + 2 + len)) });
    at += 2 + len;
  }
  if (at !== pdu.length) return badResponse(`${pdu.length - at} trailing bytes`);
  return ok({
    type: 'device-id',
    fc: 43,
    meiType: 14,
    readDeviceIdCode: req.readDeviceIdCode,
    conformityLevel: pdu.readUInt8(3),
    moreFollows: more === 0xff,
    nextObjectId: pdu.readUInt8(5),
    objects,
  });
}

/** FC8 [MB-APP 6.8]: sub-function echoed, then data. */
export function decodeDiagnosticsResponse(pdu: Buffer, req: DiagnosticsRequest): R {
  if (pdu.length < 3) return badResponse(`PDU length ${pdu.length} < 3`);
  const subFunction = pdu.readUInt16BE(1);
  if (subFunction !== req.subFunction)
    return badResponse(`sub-function ${subFunction}, request had ${req.subFunction}`);
  return ok({ type: 'diagnostics', fc: 8, subFunction, data: Buffer.from(pdu.subarray(3)) });
}

/**
 * FC7: status(1) [6.7]; FC11: status(2) count(2) [6.9]; FC12: byteCount(1) ≥ 6 then data [6.10];
 * FC17: byteCount(1) then data [6.13]; other codes: anything.
 */
export function decodeRawResponse(pdu: Buffer, fc: number): R {
  const fixed: Record<number, number> = { 7: 2, 11: 5 };
  const want = fixed[fc];
  if (want !== undefined && pdu.length !== want) return badResponse(`PDU length ${pdu.length}, expected ${want}`);
  if (fc === 12 || fc === 17) {
    if (pdu.length < 2 || pdu.length !== 2 + pdu.readUInt8(1))
      return badResponse('byte count does not match PDU length');
    const byteCount = pdu.readUInt8(1);
    if (fc === 12 && byteCount < 6) return badResponse(`byte count ${byteCount} < 6`);
  }
  return ok({ type: 'raw', fc, data: Buffer.from(pdu.subarray(1)) });
}
