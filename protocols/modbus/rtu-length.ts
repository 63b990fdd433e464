/**
 * How long an RTU frame is, from its first bytes. An RTU frame has no length field: a receiver either waits for
 * 3.5 character times of silence [MB-SERIAL 2.5.1.1] or knows the length from the function code (and, for the
 * variable ones, a byte count). Timing is unreliable behind a USB adapter, a PTY or a serial device server
 * (bytes arrive in chunks milliseconds apart), so both sides frame by length wherever the function code fixes it
 * and fall back to silence only for codes of unknown shape.
 *
 * Each function returns the whole ADU length (address + PDU + 2 CRC bytes), `'need-more'` when the bytes that
 * decide it have not arrived yet, or `'unknown'` when only silence can end the frame.
 */
import { FunctionCode as F, EXCEPTION_BIT } from './function-codes.js';
import { MEI_READ_DEVICE_ID } from './limits.js';
import { MAX_RTU_ADU_LENGTH } from './rtu-frame.js';

export type RtuLength = number | 'need-more' | 'unknown';

const CRC = 2;

/** ADU length of a byte-counted frame: `at` is the offset of the count, `width` its size (1 or 2 bytes). */
function counted(head: Buffer, at: number, width: 1 | 2, before: number): RtuLength {
  if (head.length < at + width) return 'need-more';
  const count = width === 1 ? head.readUInt8(at) : head.readUInt16BE(at);
  return before + count + CRC;
}

/** A request as a server receives it [MB-APP 6.x request layouts, behind the address byte]. */
export function rtuRequestLength(head: Buffer): RtuLength {
  if (head.length < 2) return 'need-more';
  const fc = head.readUInt8(1);
  switch (fc) {
    case F.ReadCoils:
    case F.ReadDiscreteInputs:
    case F.ReadHoldingRegisters:
    case F.ReadInputRegisters:
    case F.WriteSingleCoil:
    case F.WriteSingleRegister:
      return 1 + 5 + CRC;
    case F.Diagnostics:
      // sub-function(2) data(2) for every sub-function but 00 Return Query Data, whose data is "any" [MB-APP 6.8.1]
      if (head.length < 4) return 'need-more';
      return head.readUInt16BE(2) === 0 ? 'unknown' : 1 + 5 + CRC;
    case F.ReadExceptionStatus:
    case F.GetCommEventCounter:
    case F.GetCommEventLog:
    case F.ReportServerId:
      return 1 + 1 + CRC;
    case F.WriteMultipleCoils:
    case F.WriteMultipleRegisters:
      return counted(head, 6, 1, 7); // addr fc address(2) quantity(2) byteCount
    case F.ReadFileRecord:
    case F.WriteFileRecord:
      return counted(head, 2, 1, 3);
    case F.MaskWriteRegister:
      return 1 + 7 + CRC;
    case F.ReadWriteMultipleRegisters:
      return counted(head, 10, 1, 11); // addr fc readAddr readQty writeAddr writeQty byteCount
    case F.ReadFifoQueue:
      return 1 + 3 + CRC;
    case F.EncapsulatedInterface:
      if (head.length < 3) return 'need-more';
      return head.readUInt8(2) === MEI_READ_DEVICE_ID ? 1 + 4 + CRC : 'unknown';
    default:
      return 'unknown';
  }
}

/** Read Device Identification answer [MB-APP 6.21]: header, then `count` objects of id(1) length(1) value. */
function deviceIdLength(head: Buffer): RtuLength {
  if (head.length < 8) return 'need-more';
  const count = head.readUInt8(7);
  let at = 8;
  for (let i = 0; i < count; i++) {
    if (at > MAX_RTU_ADU_LENGTH) return at + CRC; // already too long: the framer refuses it now
    if (head.length < at + 2) return 'need-more';
    at += 2 + head.readUInt8(at + 1);
  }
  return at + CRC;
}

function u16(pdu: Buffer, at: number): number | null {
  return pdu.length >= at + 2 ? pdu.readUInt16BE(at) : null;
}

/**
 * A response as the client receives it, judged by the request it answers: an exception is always 5 bytes;
 * a function code that is neither the request's nor its exception is of unknown shape (silence ends it, and
 * the response check refuses it). Lengths follow the request where it fixes them (a read's quantity), the
 * answer's byte count where only the answer knows (FIFO, file records, device identification).
 */
export function rtuResponseLength(requestPdu: Buffer, head: Buffer): RtuLength {
  if (head.length < 2) return 'need-more';
  const reqFc = requestPdu[0];
  const fc = head.readUInt8(1);
  if (reqFc === undefined) return 'unknown';
  if (fc === (reqFc | EXCEPTION_BIT)) return 1 + 2 + CRC;
  if (fc !== reqFc) return 'unknown';
  switch (fc) {
    case F.ReadCoils:
    case F.ReadDiscreteInputs: {
      const q = u16(requestPdu, 3);
      return q === null ? 'unknown' : 1 + 2 + Math.ceil(q / 8) + CRC;
    }
    case F.ReadHoldingRegisters:
    case F.ReadInputRegisters: {
      const q = u16(requestPdu, 3);
      return q === null ? 'unknown' : 1 + 2 + 2 * q + CRC;
    }
    case F.ReadWriteMultipleRegisters: {
      const q = u16(requestPdu, 3);
      return q === null ? 'unknown' : 1 + 2 + 2 * q + CRC;
    }
    case F.WriteSingleCoil:
    case F.WriteSingleRegister:
    case F.WriteMultipleCoils:
    case F.WriteMultipleRegisters:
      return 1 + 5 + CRC;
    case F.MaskWriteRegister:
      return 1 + 7 + CRC;
    case F.ReadExceptionStatus:
      return 1 + 2 + CRC;
    case F.GetCommEventCounter:
      return 1 + 5 + CRC;
    case F.Diagnostics: // an echo of the request, or data of the same size [MB-APP 6.8]
    case F.WriteFileRecord: // an echo of the request [MB-APP 6.15]
      return 1 + requestPdu.length + CRC;
    case F.GetCommEventLog:
    case F.ReportServerId:
    case F.ReadFileRecord:
      return counted(head, 2, 1, 3);
    case F.ReadFifoQueue:
      return counted(head, 2, 2, 4);
    case F.EncapsulatedInterface:
      if (head.length < 3) return 'need-more';
      return head.readUInt8(2) === MEI_READ_DEVICE_ID ? deviceIdLength(head) : 'unknown';
    default:
      return 'unknown';
  }
}
