/**
 * Modbus RTU frames [MB-SERIAL 2.5.1]: address(1) PDU(1..253) CRC(2, low byte first). Address 0 is the
 * broadcast address (every server executes, none answers); 1..247 are servers; 248..255 are reserved
 * [MB-SERIAL 2.2]. Pure: bytes in, values out; hostile input never throws.
 */
import { crc16Modbus } from './rtu-crc.js';
import { MAX_PDU_LENGTH } from './limits.js';

/** Largest RTU ADU: 1 address + 253 PDU + 2 CRC [MB-SERIAL 2.5.1]. */
export const MAX_RTU_ADU_LENGTH = 256;
/** Smallest RTU ADU that can carry a PDU: address, function code, CRC. */
export const MIN_RTU_ADU_LENGTH = 4;
export const RTU_BROADCAST_ADDRESS = 0;
/** Highest individual server address [MB-SERIAL 2.2]. */
export const MAX_RTU_SERVER_ADDRESS = 247;

export type RtuDecodeResult =
  | { readonly ok: true; readonly address: number; readonly pdu: Buffer }
  | { readonly ok: false; readonly reason: 'too-short' | 'too-long' | 'crc'; readonly detail: string };

/** Builds one ADU. Our own output: a PDU outside 1..253 or an address outside 0..255 throws RangeError. */
export function encodeRtuFrame(address: number, pdu: Buffer): Buffer {
  if (pdu.length < 1 || pdu.length > MAX_PDU_LENGTH)
    throw new RangeError(`modbus-rtu: PDU length ${pdu.length} outside 1..253`);
  const adu = Buffer.allocUnsafe(pdu.length + 3);
  adu.writeUInt8(address, 0); // RangeError outside 0..255
  pdu.copy(adu, 1);
  adu.writeUInt16LE(crc16Modbus(adu, 0, pdu.length + 1), pdu.length + 1);
  return adu;
}

/** Checks the length and the CRC of one whole ADU; the PDU is a copy the caller owns. */
export function decodeRtuFrame(adu: Buffer): RtuDecodeResult {
  if (adu.length < MIN_RTU_ADU_LENGTH)
    return { ok: false, reason: 'too-short', detail: `RTU frame of ${adu.length} bytes` };
  if (adu.length > MAX_RTU_ADU_LENGTH)
    return { ok: false, reason: 'too-long', detail: `RTU frame of ${adu.length} bytes` };
  const got = adu.readUInt16LE(adu.length - 2);
  const want = crc16Modbus(adu, 0, adu.length - 2);
  if (got !== want) return { ok: false, reason: 'crc', detail: `CRC 0x${hex4(got)}, computed 0x${hex4(want)}` };
  return { ok: true, address: adu.readUInt8(0), pdu: Buffer.from(adu.subarray(1, adu.length - 2)) };
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
