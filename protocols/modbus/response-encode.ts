/** Response PDU encoder (simulators, the gateway's own answers). Trusted input, written as given. */
import { packBits, writeRegisters } from './bits.js';
import { exceptionPdu } from './exception.js';
import { COIL_OFF, COIL_ON, FILE_REFERENCE_TYPE, MEI_READ_DEVICE_ID } from './limits.js';
import { encodeRequest } from './request-encode.js';
import type { DeviceIdResponse, ModbusResponse } from './response-types.js';

function words(fc: number, ...w: number[]): Buffer {
  const out = Buffer.alloc(1 + 2 * w.length);
  out.writeUInt8(fc, 0);
  writeRegisters(out, 1, w);
  return out;
}

/** fc, byteCount(1), registers. */
function registerList(fc: number, values: readonly number[]): Buffer {
  const out = Buffer.alloc(2 + 2 * values.length);
  out.writeUInt8(fc, 0);
  out.writeUInt8((2 * values.length) & 0xff, 1);
  writeRegisters(out, 2, values);
  return out;
}

function encodeFifo(values: readonly number[]): Buffer {
  const out = Buffer.alloc(5 + 2 * values.length);
  out.writeUInt8(24, 0);
  out.writeUInt16BE(2 + 2 * values.length, 1);
  out.writeUInt16BE(values.length, 3);
  writeRegisters(out, 5, values);
  return out;
}

function encodeFileRead(records: readonly (readonly number[])[]): Buffer {
  const parts = records.map((r) => {
    const b = Buffer.alloc(2 + 2 * r.length);
    b.writeUInt8((1 + 2 * r.length) & 0xff, 0);
    b.writeUInt8(FILE_REFERENCE_TYPE, 1);
    writeRegisters(b, 2, r);
    return b;
  });
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([20, body.length & 0xff]), body]);
}

function encodeDeviceId(r: DeviceIdResponse): Buffer {
  const head = Buffer.from([
    43,
    MEI_READ_DEVICE_ID,
    r.readDeviceIdCode,
    r.conformityLevel,
    r.moreFollows ? 0xff : 0x00,
    r.nextObjectId,
    r.objects.length,
  ]);
  const objs = r.objects.map((o) => Buffer.concat([Buffer.from([o.id, o.value.length & 0xff]), o.value]));
  return Buffer.concat([head, ...objs]);
}

export function encodeResponse(res: ModbusResponse): Buffer {
  switch (res.type) {
    case 'read-bits': {
      const bits = packBits(res.values);
      return Buffer.concat([Buffer.from([res.fc, bits.length & 0xff]), bits]);
    }
    case 'read-registers':
    case 'read-write-registers':
      return registerList(res.fc, res.values);
    case 'write-single-coil':
      return words(5, res.address, res.value ? COIL_ON : COIL_OFF);
    case 'write-single-register':
      return words(6, res.address, res.value);
    case 'write-multiple':
      return words(res.fc, res.address, res.quantity);
    case 'mask-write-register':
      return words(22, res.address, res.andMask, res.orMask);
    case 'read-fifo':
      return encodeFifo(res.values);
    case 'read-file-record':
      return encodeFileRead(res.records);
    case 'write-file-record':
      return encodeRequest({ type: 'file-record', fc: 21, subRequests: res.subRequests });
    case 'device-id':
      return encodeDeviceId(res);
    case 'diagnostics':
      return Buffer.concat([words(8, res.subFunction), res.data]);
    case 'raw':
      return Buffer.concat([Buffer.from([res.fc]), res.data]);
    case 'exception':
      return exceptionPdu(res.fc, res.exception);
  }
}
