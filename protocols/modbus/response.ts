/**
 * Response PDU decode/encode entry points. `decodeResponse` judges a response against the request it answers:
 * same FC, or FC | 0x80 with a 2-byte exception PDU and a known exception code [MB-APP 7]; lengths and byte
 * counts consistent with the request; echoes equal to the request. A failure carries exception 04 and a reason.
 */
import { ok } from './decode-result.js';
import { isKnownExceptionCode } from './exception.js';
import { EXCEPTION_BIT } from './function-codes.js';
import type { ModbusRequest } from './request-types.js';
import * as D from './response-decode-data.js';
import * as O from './response-decode-other.js';

export { encodeResponse } from './response-encode.js';
export type * from './response-types.js';

function decodeException(pdu: Buffer, fc: number): D.R {
  if (pdu.length !== 2) return D.badResponse(`exception PDU length ${pdu.length}, expected 2`);
  const code = pdu.readUInt8(1);
  if (!isKnownExceptionCode(code)) return D.badResponse(`unknown exception code 0x${code.toString(16)}`);
  return ok({ type: 'exception', fc, exception: code, isException: true });
}

export function decodeResponse(pdu: Buffer, request: ModbusRequest): D.R {
  if (pdu.length === 0) return D.badResponse('empty PDU');
  const fc = pdu.readUInt8(0);
  if (fc === (request.fc | EXCEPTION_BIT)) return decodeException(pdu, request.fc);
  if (fc !== request.fc) return D.badResponse(`function code ${fc} does not answer ${request.fc}`);
  switch (request.type) {
    case 'read-bits':
      return D.decodeReadBitsResponse(pdu, request);
    case 'read-registers':
    case 'read-write-registers':
      return D.decodeReadRegistersResponse(pdu, request);
    case 'write-single-coil':
      return D.decodeWriteSingleCoilResponse(pdu, request);
    case 'write-single-register':
      return D.decodeWriteSingleRegisterResponse(pdu, request);
    case 'write-multiple-coils':
    case 'write-multiple-registers':
      return D.decodeWriteMultipleResponse(pdu, request);
    case 'mask-write-register':
      return D.decodeMaskWriteResponse(pdu, request);
    case 'read-fifo':
      return D.decodeReadFifoResponse(pdu);
    case 'file-record':
      return O.decodeFileRecordResponse(pdu, request);
    case 'device-id':
      return O.decodeDeviceIdResponse(pdu, request);
    case 'diagnostics':
      return O.decodeDiagnosticsResponse(pdu, request);
    case 'serial-diagnostic':
    case 'other':
      return O.decodeRawResponse(pdu, fc);
  }
}
