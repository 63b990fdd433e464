/**
 * Request PDU decode/encode entry points.
 *
 * What `decodeRequest` returns (the gateway must *classify* every request, so policy refuses with 0x01):
 * - FC 0 or FC ≥ 0x80, or an empty PDU → `{ ok: false, exception: 01 }`: not a function code at all [MB-APP 5.1].
 * - a known FC whose bytes are structurally wrong, or a quantity, byte count or value outside the spec's
 *   limits → 03; then an address range past 65535 → 02. Check order: FC (01) → quantity/structure/value (03)
 *   → address (02) → execution (04, the server's) [MB-APP 6.x state diagrams].
 * - FC 7/8/11/12/17, FC43 with any MEI type, user-defined (65–72, 100–110) and unassigned codes → `ok: true`
 *   (types 'serial-diagnostic', 'diagnostics', 'device-id', 'other'): decoding is not permission; `classify`
 *   labels them and policy answers 0x01.
 */
import { fail, type DecodeResult } from './decode-result.js';
import { FunctionCode as F, isValidRequestFc } from './function-codes.js';
import * as D from './request-decode-data.js';
import * as O from './request-decode-other.js';
import type { ModbusRequest } from './request-types.js';
import { ExceptionCode } from './types.js';

export { encodeRequest } from './request-encode.js';
export type * from './request-types.js';

export function decodeRequest(pdu: Buffer): DecodeResult<ModbusRequest> {
  if (pdu.length === 0) return fail(ExceptionCode.IllegalFunction, 'empty PDU');
  const fc = pdu.readUInt8(0);
  if (!isValidRequestFc(fc)) return fail(ExceptionCode.IllegalFunction, `function code ${fc} is not a request`);
  switch (fc) {
    case F.ReadCoils:
    case F.ReadDiscreteInputs:
      return D.decodeReadBits(pdu, fc);
    case F.ReadHoldingRegisters:
    case F.ReadInputRegisters:
      return D.decodeReadRegisters(pdu, fc);
    case F.WriteSingleCoil:
      return D.decodeWriteSingleCoil(pdu);
    case F.WriteSingleRegister:
      return D.decodeWriteSingleRegister(pdu);
    case F.WriteMultipleCoils:
      return D.decodeWriteMultipleCoils(pdu);
    case F.WriteMultipleRegisters:
      return D.decodeWriteMultipleRegisters(pdu);
    case F.MaskWriteRegister:
      return D.decodeMaskWrite(pdu);
    case F.ReadWriteMultipleRegisters:
      return D.decodeReadWrite(pdu);
    case F.ReadFifoQueue:
      return D.decodeReadFifo(pdu);
    case F.ReadFileRecord:
      return O.decodeReadFileRecord(pdu);
    case F.WriteFileRecord:
      return O.decodeWriteFileRecord(pdu);
    case F.EncapsulatedInterface:
      return O.decodeEncapsulated(pdu);
    case F.Diagnostics:
      return O.decodeDiagnostics(pdu);
    case F.ReadExceptionStatus:
    case F.GetCommEventCounter:
    case F.GetCommEventLog:
    case F.ReportServerId:
      return O.decodeSerialDiagnostic(pdu, fc);
    default:
      return { ok: true, value: O.decodeOther(pdu) };
  }
}
