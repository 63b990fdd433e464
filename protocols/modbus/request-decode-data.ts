/**
 * Decoders for the data-access requests (FC 1–6, 15, 16, 22, 23, 24). Each takes the whole PDU (FC first).
 * Check order, as in each function's state diagram [MB-APP 6.1–6.18]: function code (caller: 01) → quantity,
 * byte count and value (03; the PDU's structure — its length against the byte count — is part of the same
 * first test) → address range (address + quantity ≤ 65536: 02) → execution (the server: 04). So FC3 at
 * 65500 with quantity 126 is 03, with quantity 100 it is 02. The address against the device's own memory
 * map is the server's check (02), after ours.
 */
import { readRegisters, unpackBits, byteCountForBits } from './bits.js';
import { badAddress, badValue, ok, type DecodeResult } from './decode-result.js';
import * as L from './limits.js';
import type {
  MaskWriteRegisterRequest,
  ReadBitsRequest,
  ReadFifoRequest,
  ReadRegistersRequest,
  ReadWriteRegistersRequest,
  WriteMultipleCoilsRequest,
  WriteMultipleRegistersRequest,
  WriteSingleCoilRequest,
  WriteSingleRegisterRequest,
} from './request-types.js';

function exactLength(pdu: Buffer, n: number): string | null {
  return pdu.length === n ? null : `PDU length ${pdu.length}, expected ${n}`;
}

function rangeFits(address: number, quantity: number): boolean {
  return address + quantity <= L.ADDRESS_SPACE;
}

function quantityIn(q: number, max: number): boolean {
  return q >= 1 && q <= max;
}

/**
 * FC1/FC2 [MB-APP 6.1, 6.2] and FC3/FC4 [MB-APP 6.3, 6.4]: address(2) quantity(2). Why such a request does
 * not decode, or null when it does: the one check of both the decoders below and the response check's fast
 * path (validate-response.ts), so they never disagree. Builds nothing for a good request (the usual one).
 */
export function readRequestFault(pdu: Buffer, max: number): DecodeResult<never> | null {
  const bad = exactLength(pdu, 5);
  if (bad) return badValue(bad);
  const address = pdu.readUInt16BE(1);
  const quantity = pdu.readUInt16BE(3);
  if (!quantityIn(quantity, max)) return badValue(`quantity ${quantity} outside 1..${max}`);
  if (!rangeFits(address, quantity)) return badAddress(`address ${address} + quantity ${quantity} > 65536`);
  return null;
}

export function decodeReadBits(pdu: Buffer, fc: 1 | 2): DecodeResult<ReadBitsRequest> {
  return (
    readRequestFault(pdu, L.MAX_READ_BITS) ??
    ok({ type: 'read-bits', fc, address: pdu.readUInt16BE(1), quantity: pdu.readUInt16BE(3) })
  );
}

export function decodeReadRegisters(pdu: Buffer, fc: 3 | 4): DecodeResult<ReadRegistersRequest> {
  return (
    readRequestFault(pdu, L.MAX_READ_REGISTERS) ??
    ok({ type: 'read-registers', fc, address: pdu.readUInt16BE(1), quantity: pdu.readUInt16BE(3) })
  );
}

/** FC5 [MB-APP 6.5]: address(2) value(2) with value 0xFF00 or 0x0000 only (03, before the address: 02). */
export function decodeWriteSingleCoil(pdu: Buffer): DecodeResult<WriteSingleCoilRequest> {
  const bad = exactLength(pdu, 5);
  if (bad) return badValue(bad);
  const raw = pdu.readUInt16BE(3);
  if (raw !== L.COIL_ON && raw !== L.COIL_OFF) return badValue(`coil value 0x${raw.toString(16)} not 0xFF00/0x0000`);
  return ok({ type: 'write-single-coil', fc: 5, address: pdu.readUInt16BE(1), value: raw === L.COIL_ON });
}

/** FC6 [MB-APP 6.6]: address(2) value(2). */
export function decodeWriteSingleRegister(pdu: Buffer): DecodeResult<WriteSingleRegisterRequest> {
  const bad = exactLength(pdu, 5);
  if (bad) return badValue(bad);
  return ok({ type: 'write-single-register', fc: 6, address: pdu.readUInt16BE(1), value: pdu.readUInt16BE(3) });
}

/** Common head of FC15/FC16: address(2) quantity(2) byteCount(1) data(byteCount). Structure only. */
function decodeMultiHead(pdu: Buffer): DecodeResult<{ address: number; quantity: number; byteCount: number }> {
  if (pdu.length < 6) return badValue(`PDU length ${pdu.length} < 6`);
  const byteCount = pdu.readUInt8(5);
  const bad = exactLength(pdu, 6 + byteCount);
  if (bad) return badValue(`${bad} (byte count ${byteCount})`);
  return ok({ address: pdu.readUInt16BE(1), quantity: pdu.readUInt16BE(3), byteCount });
}

/** FC15 [MB-APP 6.11]: quantity 1..1968, byte count = ceil(N/8). */
export function decodeWriteMultipleCoils(pdu: Buffer): DecodeResult<WriteMultipleCoilsRequest> {
  const h = decodeMultiHead(pdu);
  if (!h.ok) return h;
  const { address, quantity, byteCount } = h.value;
  if (!quantityIn(quantity, L.MAX_WRITE_COILS)) return badValue(`quantity ${quantity} outside 1..${L.MAX_WRITE_COILS}`);
  if (byteCount !== byteCountForBits(quantity)) return badValue(`byte count ${byteCount} != ceil(${quantity}/8)`);
  if (!rangeFits(address, quantity)) return badAddress(`address ${address} + quantity ${quantity} > 65536`);
  return ok({ type: 'write-multiple-coils', fc: 15, address, values: unpackBits(pdu, 6, quantity) });
}

/** FC16 [MB-APP 6.12]: quantity 1..123, byte count = 2N. */
export function decodeWriteMultipleRegisters(pdu: Buffer): DecodeResult<WriteMultipleRegistersRequest> {
  const h = decodeMultiHead(pdu);
  if (!h.ok) return h;
  const { address, quantity, byteCount } = h.value;
  const max = L.MAX_WRITE_REGISTERS;
  if (!quantityIn(quantity, max)) return badValue(`quantity ${quantity} outside 1..${max}`);
  if (byteCount !== 2 * quantity) return badValue(`byte count ${byteCount} != 2 x ${quantity}`);
  if (!rangeFits(address, quantity)) return badAddress(`address ${address} + quantity ${quantity} > 65536`);
  return ok({ type: 'write-multiple-registers', fc: 16, address, values: readRegisters(pdu, 6, quantity) });
}

/** FC22 [MB-APP 6.16]: address(2) andMask(2) orMask(2). */
export function decodeMaskWrite(pdu: Buffer): DecodeResult<MaskWriteRegisterRequest> {
  const bad = exactLength(pdu, 7);
  if (bad) return badValue(bad);
  return ok({
    type: 'mask-write-register',
    fc: 22,
    address: pdu.readUInt16BE(1),
    andMask: pdu.readUInt16BE(3),
    orMask: pdu.readUInt16BE(5),
  });
}

/**
 * FC23 [MB-APP 6.17]: readAddress(2) readQty(2) writeAddress(2) writeQty(2) byteCount(1) values.
 * read 1..125, write 1..121, byte count = 2 x writeQty (03), then both ranges (02).
 */
export function decodeReadWrite(pdu: Buffer): DecodeResult<ReadWriteRegistersRequest> {
  if (pdu.length < 10) return badValue(`PDU length ${pdu.length} < 10`);
  const byteCount = pdu.readUInt8(9);
  const bad = exactLength(pdu, 10 + byteCount);
  if (bad) return badValue(`${bad} (byte count ${byteCount})`);
  const readAddress = pdu.readUInt16BE(1);
  const readQuantity = pdu.readUInt16BE(3);
  const writeAddress = pdu.readUInt16BE(5);
  const writeQuantity = pdu.readUInt16BE(7);
  if (!quantityIn(readQuantity, L.MAX_RW_READ_REGISTERS))
    return badValue(`read quantity ${readQuantity} outside 1..125`);
  if (!quantityIn(writeQuantity, L.MAX_RW_WRITE_REGISTERS))
    return badValue(`write quantity ${writeQuantity} outside 1..121`);
  if (byteCount !== 2 * writeQuantity) return badValue(`byte count ${byteCount} != 2 x ${writeQuantity}`);
  if (!rangeFits(readAddress, readQuantity)) return badAddress(`read range ${readAddress}+${readQuantity} > 65536`);
  if (!rangeFits(writeAddress, writeQuantity))
    return badAddress(`write range ${writeAddress}+${writeQuantity} > 65536`);
  const values = readRegisters(pdu, 10, writeQuantity);
  return ok({ type: 'read-write-registers', fc: 23, readAddress, readQuantity, writeAddress, values });
}

/** FC24 [MB-APP 6.18]: FIFO pointer address(2). */
export function decodeReadFifo(pdu: Buffer): DecodeResult<ReadFifoRequest> {
  const bad = exactLength(pdu, 3);
  if (bad) return badValue(bad);
  return ok({ type: 'read-fifo', fc: 24, address: pdu.readUInt16BE(1) });
}
