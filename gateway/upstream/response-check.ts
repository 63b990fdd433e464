/**
 * Is this reply an acceptable answer to that request? [docs/architecture.md "Request path" 10]: same unit, same FC
 * or FC|0x80 [MB-APP 7], and the codec's structural check (byte counts, echoed address/quantity). The transaction id
 * was already matched by the connection. Returns a value, never throws (the PLC side is untrusted too).
 */
import { validateResponse } from '../../protocols/modbus/index.js';

export type ResponseCheck = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const EXCEPTION_BIT = 0x80;

export function checkResponse(reqUnit: number, reqPdu: Buffer, resUnit: number, resPdu: Buffer): ResponseCheck {
  if (resUnit !== reqUnit) return { ok: false, reason: `unit id ${resUnit} answers a request to unit ${reqUnit}` };
  const reqFc = reqPdu[0];
  const resFc = resPdu[0];
  if (reqFc === undefined || resFc === undefined) return { ok: false, reason: 'empty PDU' };
  if (resFc !== reqFc && resFc !== (reqFc | EXCEPTION_BIT)) {
    return { ok: false, reason: `function code 0x${hex(resFc)} answers a request with 0x${hex(reqFc)}` };
  }
  // the codec's verdict has our shape: passed on as it is (no object per reply)
  return validateResponse(reqPdu, resPdu);
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
