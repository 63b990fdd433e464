/**
 * Response check on the gateway's return path [docs/architecture.md "Request path" 10]: the PLC's PDU must answer
 * the request PDU (same FC or FC | 0x80, lengths and echoes consistent). Built on the decoders so the two never
 * disagree.
 */
import { decodeRequest } from './request.js';
import { decodeResponse } from './response.js';

export type ValidationResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export function validateResponse(requestPdu: Buffer, responsePdu: Buffer): ValidationResult {
  const req = decodeRequest(requestPdu);
  if (!req.ok) return { ok: false, reason: `request does not decode: ${req.reason}` };
  const res = decodeResponse(responsePdu, req.value);
  return res.ok ? { ok: true } : { ok: false, reason: res.reason };
}
