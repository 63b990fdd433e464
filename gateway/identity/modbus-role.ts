/**
 * Modbus/TCP Security role extension [MB-TCP-SEC R-21..R-23]: OID 1.3.6.1.4.1.50316.802.1, value an ASN.1
 * UTF8String, exactly one per certificate. Absent, malformed or duplicated → NULL role (`null`).
 */
import * as asn1js from 'asn1js';
import { readExtensions, toArrayBuffer } from './cert-fields.js';

export const OID_MODBUS_ROLE = '1.3.6.1.4.1.50316.802.1';

export function extractModbusRole(certDer: Buffer): string | null {
  const exts = readExtensions(certDer);
  if (exts === null) return null;
  const roles = exts.filter((e) => e.oid === OID_MODBUS_ROLE);
  if (roles.length !== 1 || roles[0] === undefined) return null;
  return decodeUtf8String(roles[0].value);
}

/** The extension value must be exactly one DER UTF8String with nothing after it. */
function decodeUtf8String(value: Buffer): string | null {
  const parsed = asn1js.fromBER(toArrayBuffer(value));
  if (parsed.offset !== value.length) return null;
  if (!(parsed.result instanceof asn1js.Utf8String)) return null;
  if (parsed.result.valueBlock.error) return null;
  return parsed.result.valueBlock.value;
}

/** DER of the extension value for `role` (used by the dev CA and test builders). */
export function encodeModbusRoleValue(role: string): Buffer {
  return Buffer.from(new asn1js.Utf8String({ value: role }).toBER(false));
}
