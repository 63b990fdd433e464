/** MBAP ADU builder [MB-TCP 3.1.3]: transaction id(2) protocol id(2)=0 length(2) unit id(1) PDU. */
import { MAX_PDU_LENGTH, MBAP_HEADER_LENGTH } from './limits.js';

/**
 * Build an ADU around `pdu`. Our own output, so limits are programmer errors: a PDU that is empty or longer
 * than 253 bytes, or ids out of range, throw RangeError.
 */
export function encodeAdu(transactionId: number, unitId: number, pdu: Buffer): Buffer {
  if (pdu.length < 1 || pdu.length > MAX_PDU_LENGTH)
    throw new RangeError(`modbus: PDU length ${pdu.length} outside 1..253`);
  const adu = Buffer.allocUnsafe(MBAP_HEADER_LENGTH + pdu.length);
  adu.writeUInt16BE(transactionId, 0); // RangeError if outside 0..65535
  adu.writeUInt16BE(0, 2);
  adu.writeUInt16BE(pdu.length + 1, 4);
  adu.writeUInt8(unitId, 6); // RangeError if outside 0..255
  pdu.copy(adu, MBAP_HEADER_LENGTH);
  return adu;
}
