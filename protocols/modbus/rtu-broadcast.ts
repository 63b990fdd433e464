/**
 * Broadcast on a serial line [MB-SERIAL 2.1]: a request to address 0 is executed by every server and answered by
 * none, so only writes make sense. `broadcastReply` gives the answer a gateway hands its (TCP) client for a
 * broadcast write it sent: the normal response a single server returns for that request [MB-APP 6.5, 6.6,
 * 6.11, 6.12, 6.16], which says "sent", not "executed by all". Any other request cannot be broadcast: null.
 */
import { FunctionCode as F } from './function-codes.js';

/** Request PDU lengths of the broadcastable writes whose normal response is fixed by the request. */
const ECHO_LENGTH: Readonly<Record<number, number>> = {
  [F.WriteSingleCoil]: 5,
  [F.WriteSingleRegister]: 5,
  [F.MaskWriteRegister]: 7,
};

export function broadcastReply(requestPdu: Buffer): Buffer | null {
  const fc = requestPdu[0];
  if (fc === undefined) return null;
  const echo = ECHO_LENGTH[fc];
  if (echo !== undefined) return requestPdu.length === echo ? Buffer.from(requestPdu) : null;
  // FC15/16: function code, starting address, quantity.
  if (fc === F.WriteMultipleCoils || fc === F.WriteMultipleRegisters)
    return requestPdu.length >= 6 ? Buffer.from(requestPdu.subarray(0, 5)) : null;
  return null;
}
