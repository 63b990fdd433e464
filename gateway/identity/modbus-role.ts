/**
 * Modbus/TCP Security role extension [MB-TCP-SEC R-21..R-23]: OID 1.3.6.1.4.1.50316.802.1, value an ASN.1
 * UTF8String, exactly one per certificate. Absent, malformed or duplicated → NULL role (`null`).
 */
import { readExtensions, type RawExtension } from './cert-fields.js';
import { TAG, contents, readWhole } from './der-reader.js';
import { utf8 } from './der-writer.js';

export const OID_MODBUS_ROLE = '1.3.6.1.4.1.50316.802.1';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function extractModbusRole(certDer: Buffer): string | null {
  const exts = readExtensions(certDer);
  return exts === null ? null : modbusRoleOf(exts);
}

/** The role from already-read extensions (peer-verifier.ts reads each certificate once). */
export function modbusRoleOf(extensions: readonly RawExtension[]): string | null {
  const roles = extensions.filter((e) => e.oid === OID_MODBUS_ROLE);
  if (roles.length !== 1 || roles[0] === undefined) return null;
  return decodeUtf8String(roles[0].value);
}

/** The extension value must be exactly one DER UTF8String of valid UTF-8 with nothing after it. */
function decodeUtf8String(value: Buffer): string | null {
  const t = readWhole(value, TAG.UTF8_STRING);
  if (t === null) return null;
  try {
    return strictUtf8.decode(contents(value, t));
  } catch {
    return null;
  }
}

/** DER of the extension value for `role` (used by the dev CA and test builders). */
export function encodeModbusRoleValue(role: string): Buffer {
  return utf8(role);
}
