/** Exception response PDUs [MB-APP 7]: FC | 0x80, then one exception code byte. */
import { EXCEPTION_BIT } from './function-codes.js';
import { ExceptionCode } from './types.js';

const KNOWN = new Set<number>(Object.values(ExceptionCode));

/** `code` is usually an ExceptionCode; any byte is accepted so simulators can inject odd codes. */
export function exceptionPdu(fc: number, code: number): Buffer {
  return Buffer.from([(fc | EXCEPTION_BIT) & 0xff, code & 0xff]);
}

/** True for a 2-byte PDU whose FC has the exception bit set. The code itself is not judged here. */
export function isExceptionPdu(pdu: Buffer): boolean {
  return pdu.length === 2 && ((pdu[0] ?? 0) & EXCEPTION_BIT) !== 0;
}

export function isKnownExceptionCode(code: number): code is ExceptionCode {
  return KNOWN.has(code);
}
