/**
 * Does a decoded answer fit the request it answers? Checked after the RPC match (activity + sequence):
 * the record the device talks about must be the one asked for, a read must not return more than asked,
 * a write must acknowledge the length written, a connect/release must name the same AR [IEC 61158-6-10].
 */
import type { CmRequest } from './request-pdu.js';
import type { CmResponse } from './response-pdu.js';
import { sameRecord } from './record-rw.js';
import { fail, ok, type Decoded } from './result.js';

export function validateCmResponse(req: CmRequest, res: CmResponse): Decoded<true> {
  if (req.op !== res.op) return fail('mismatch', `${res.op} answer to a ${req.op} request`);
  if (req.op === 'read' || req.op === 'read-implicit') {
    if (res.op !== 'read' && res.op !== 'read-implicit') return fail('mismatch', 'not a read answer');
    if (!res.record) return ok(true);
    const same = sameRecord(req.record, res.record);
    if (!same.ok) return same;
    if (res.record.recordDataLength > req.record.recordDataLength) {
      return fail(
        'mismatch',
        `read answer of ${res.record.recordDataLength} bytes, ${req.record.recordDataLength} asked`,
      );
    }
    if (res.data.length > req.argsMaximum) return fail('mismatch', `read answer over ArgsMaximum ${req.argsMaximum}`);
    return ok(true);
  }
  if (req.op === 'write') {
    if (res.op !== 'write' || !res.record) return ok(true);
    const same = sameRecord(req.record, res.record);
    if (!same.ok) return same;
    if (res.record.recordDataLength !== req.data.length) {
      return fail('mismatch', `write answer for ${res.record.recordDataLength} bytes, ${req.data.length} written`);
    }
    return ok(true);
  }
  if (req.op === 'connect') {
    if (res.op !== 'connect' || !res.ar) return ok(true);
    if (res.ar.arUuid !== req.ar.arUuid)
      return fail('mismatch', `connect answer for AR ${res.ar.arUuid}, asked ${req.ar.arUuid}`);
    if (res.ar.arType !== req.ar.arType)
      return fail('mismatch', `connect answer ARType ${res.ar.arType}, asked ${req.ar.arType}`);
    if (res.ar.sessionKey !== req.ar.sessionKey)
      return fail('mismatch', `connect answer SessionKey ${res.ar.sessionKey}, asked ${req.ar.sessionKey}`);
    return ok(true);
  }
  if (req.op !== 'release' || res.op !== 'release' || !res.control) return ok(true);
  if (res.control.arUuid !== req.control.arUuid)
    return fail('mismatch', `release answer for AR ${res.control.arUuid}, asked ${req.control.arUuid}`);
  return ok(true);
}
