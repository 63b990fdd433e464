/**
 * Response decoders for the data-access FCs (1–6, 15, 16, 22, 23, 24), checked against the request they
 * answer: byte counts must match the quantity asked for and echoes must repeat the request [MB-APP 6.x].
 * Failures use exception 04 as a neutral code: a bad response is the server's fault, not the client's.
 */
import { byteCountForBits, readRegisters, unpackBits } from './bits.js';
import { fail, ok, type DecodeResult } from './decode-result.js';
import * as L from './limits.js';
import type {
  MaskWriteRegisterRequest,
  ReadBitsRequest,
  ReadRegistersRequest,
  ReadWriteRegistersRequest,
  WriteMultipleCoilsRequest,
  WriteMultipleRegistersRequest,
  WriteSingleCoilRequest,
  WriteSingleRegisterRequest,
} from './request-types.js';
import type { ModbusResponse } from './response-types.js';
import { ExceptionCode } from './types.js';

export type R = DecodeResult<ModbusResponse>;

export function badResponse(reason: string): R {
  return fail(ExceptionCode.ServerDeviceFailure, reason);
}

/** fc, byteCount(1), data(byteCount) with byteCount fixed by the request; why not, or null. */
export function countedBody(pdu: Buffer, expected: number): string | null {
  if (pdu.length < 2) return `PDU length ${pdu.length} < 2`;
  const byteCount = pdu.readUInt8(1);
  if (byteCount !== expected) return `byte count ${byteCount}, expected ${expected}`;
  if (pdu.length !== 2 + byteCount) return `PDU length ${pdu.length} != 2 + byte count ${byteCount}`;
  return null;
}

/** An echo response must repeat these 16-bit words of the request exactly. */
function echo(pdu: Buffer, expected: readonly number[]): string | null {
  if (pdu.length !== 1 + 2 * expected.length) return `PDU length ${pdu.length}, expected ${1 + 2 * expected.length}`;
  const got = readRegisters(pdu, 1, expected.length);
  const i = got.findIndex((w, k) => w !== expected[k]);
  return i < 0 ? null : `echo word ${i} is ${got[i]}, request had ${expected[i]}`;
}

export function decodeReadBitsResponse(pdu: Buffer, req: ReadBitsRequest): R {
  const bad = countedBody(pdu, byteCountForBits(req.quantity));
  return bad ? badResponse(bad) : ok({ type: 'read-bits', fc: req.fc, values: unpackBits(pdu, 2, req.quantity) });
}

export function decodeReadRegistersResponse(pdu: Buffer, req: ReadRegistersRequest | ReadWriteRegistersRequest): R {
  const quantity = req.type === 'read-registers' ? req.quantity : req.readQuantity;
  const bad = countedBody(pdu, 2 * quantity);
  if (bad) return badResponse(bad);
  const values = readRegisters(pdu, 2, quantity);
  return ok(
    req.type === 'read-registers'
      ? { type: 'read-registers', fc: req.fc, values }
      : { type: 'read-write-registers', fc: 23, values },
  );
}

export function decodeWriteSingleCoilResponse(pdu: Buffer, req: WriteSingleCoilRequest): R {
  const bad = echo(pdu, [req.address, req.value ? L.COIL_ON : L.COIL_OFF]);
  return bad ? badResponse(bad) : ok({ type: 'write-single-coil', fc: 5, address: req.address, value: req.value });
}

export function decodeWriteSingleRegisterResponse(pdu: Buffer, req: WriteSingleRegisterRequest): R {
  const bad = echo(pdu, [req.address, req.value]);
  return bad ? badResponse(bad) : ok({ type: 'write-single-register', fc: 6, address: req.address, value: req.value });
}

export function decodeWriteMultipleResponse(
  pdu: Buffer,
  req: WriteMultipleCoilsRequest | WriteMultipleRegistersRequest,
): R {
  const quantity = req.values.length;
  const bad = echo(pdu, [req.address, quantity]);
  return bad ? badResponse(bad) : ok({ type: 'write-multiple', fc: req.fc, address: req.address, quantity });
}

export function decodeMaskWriteResponse(pdu: Buffer, req: MaskWriteRegisterRequest): R {
  const bad = echo(pdu, [req.address, req.andMask, req.orMask]);
  if (bad) return badResponse(bad);
  return ok({ type: 'mask-write-register', fc: 22, address: req.address, andMask: req.andMask, orMask: req.orMask });
}

/** FC24 [MB-APP 6.18]: byteCount(2) fifoCount(2) values; byteCount = 2 + 2 x fifoCount, fifoCount ≤ 31. */
export function decodeReadFifoResponse(pdu: Buffer): R {
  if (pdu.length < 5) return badResponse(`PDU length ${pdu.length} < 5`);
  const byteCount = pdu.readUInt16BE(1);
  const fifoCount = pdu.readUInt16BE(3);
  if (fifoCount > L.MAX_FIFO_COUNT) return badResponse(`FIFO count ${fifoCount} > 31`);
  if (byteCount !== 2 + 2 * fifoCount) return badResponse(`byte count ${byteCount} != 2 + 2 x ${fifoCount}`);
  if (pdu.length !== 3 + byteCount) return badResponse(`PDU length ${pdu.length} != 3 + byte count ${byteCount}`);
  return ok({ type: 'read-fifo', fc: 24, values: readRegisters(pdu, 5, fifoCount) });
}
