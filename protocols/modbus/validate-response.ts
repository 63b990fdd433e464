/**
 * Response check on the gateway's return path [docs/architecture.md "Request path" 10]: the PLC's PDU must answer
 * the request PDU (same FC or FC | 0x80, lengths and echoes consistent). Built on the decoders so the two never
 * disagree.
 */
import { byteCountForBits } from './bits.js';
import { FunctionCode as F } from './function-codes.js';
import { MAX_READ_BITS, MAX_READ_REGISTERS } from './limits.js';
import { readRequestFault } from './request-decode-data.js';
import { decodeRequest } from './request.js';
import { countedBody } from './response-decode-data.js';
import { decodeResponse } from './response.js';

export type ValidationResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const VALID: ValidationResult = Object.freeze({ ok: true });

export function validateResponse(requestPdu: Buffer, responsePdu: Buffer): ValidationResult {
  const quick = readAnswer(requestPdu, responsePdu);
  if (quick !== undefined) return quick;
  const req = decodeRequest(requestPdu);
  if (!req.ok) return { ok: false, reason: `request does not decode: ${req.reason}` };
  const res = decodeResponse(responsePdu, req.value);
  return res.ok ? VALID : { ok: false, reason: res.reason };
}

/**
 * The everyday case — a good FC1–4 read answered with data — judged by the very checks of the decoders
 * (`readRequestFault`, `countedBody`, as decodeRequest + decodeRead…Response run them) without building the
 * request or the values, for every reply from a PLC. Undefined: anything else (exceptions, other FCs, a bad
 * request), judged by the full decode.
 */
function readAnswer(requestPdu: Buffer, responsePdu: Buffer): ValidationResult | undefined {
  const fc = requestPdu[0];
  if (fc === undefined || fc < F.ReadCoils || fc > F.ReadInputRegisters || responsePdu[0] !== fc) return undefined;
  const bits = fc === F.ReadCoils || fc === F.ReadDiscreteInputs;
  if (readRequestFault(requestPdu, bits ? MAX_READ_BITS : MAX_READ_REGISTERS) !== null) return undefined;
  const quantity = requestPdu.readUInt16BE(3);
  const bad = countedBody(responsePdu, bits ? byteCountForBits(quantity) : 2 * quantity);
  return bad === null ? VALID : { ok: false, reason: bad };
}
