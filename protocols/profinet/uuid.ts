/**
 * UUIDs on the wire. In DCE/RPC (and so in PNIO-CM headers) a UUID is a struct: time_low (u32), time_mid
 * (u16), time_hi_and_version (u16) follow the sender's DREP byte order; the last 8 bytes are plain bytes
 * [C706 Appendix A; IEC 61158-6-10 RPC header]. UUIDs inside PNIO blocks (ARUUID, TargetARUUID,
 * CMInitiatorObjectUUID) are always big-endian like the rest of the block.
 */
import { randomUUID } from 'node:crypto';

/** Canonical lowercase text form, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
export type Uuid = string;

export const NIL_UUID: Uuid = '00000000-0000-0000-0000-000000000000';
/** PNIO interface UUIDs [IEC 61158-6-10]: the device interface is the one a client calls. */
export const PNIO_DEVICE_INTERFACE: Uuid = 'dea00001-6c97-11d1-8271-00a02442df7d';
export const PNIO_CONTROLLER_INTERFACE: Uuid = 'dea00002-6c97-11d1-8271-00a02442df7d';
export const PNIO_SUPERVISOR_INTERFACE: Uuid = 'dea00003-6c97-11d1-8271-00a02442df7d';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

export function randomActivityUuid(): Uuid {
  return randomUUID();
}

/**
 * PNIO object UUID of a device instance [IEC 61158-6-10]: DEA00000-6C97-11D1-8271- then InstanceHigh/Low,
 * DeviceID, VendorID (two bytes each).
 */
export function pnioObjectUuid(vendorId: number, deviceId: number, instance = 1): Uuid {
  const h4 = (n: number): string => (n & 0xffff).toString(16).padStart(4, '0');
  return `dea00000-6c97-11d1-8271-${h4(instance)}${h4(deviceId)}${h4(vendorId)}`;
}

/** 16 wire bytes of `uuid`; `littleEndian` swaps the first three fields (DREP 0x10). */
export function uuidToBytes(uuid: Uuid, littleEndian = false): Buffer {
  const b = Buffer.from(uuid.replace(/-/g, ''), 'hex');
  if (b.length !== 16) throw new RangeError(`not a UUID: ${uuid}`);
  if (littleEndian) swapFields(b);
  return b;
}

/** Text form of the 16 bytes at `offset` (the caller has checked they are present). */
export function uuidFromBytes(buf: Buffer, offset = 0, littleEndian = false): Uuid {
  const b = Buffer.from(buf.subarray(offset, offset + 16));
  if (littleEndian) swapFields(b);
  const h = b.toString('hex').padEnd(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function swapFields(b: Buffer): void {
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
}
