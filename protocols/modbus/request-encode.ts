/**
 * Request PDU encoder (clients, simulators' tests, the gRPC front door). Trusted input: values are written
 * as given (masked to 16 bits); limits are not re-checked here — `decodeRequest(encodeRequest(r))` does that.
 */
import { byteCountForBits, packBits, writeRegisters } from './bits.js';
import { COIL_OFF, COIL_ON, FILE_REFERENCE_TYPE } from './limits.js';
import type { FileSubRequest, ModbusRequest } from './request-types.js';

function u16s(fc: number, ...words: number[]): Buffer {
  const out = Buffer.alloc(1 + 2 * words.length);
  out.writeUInt8(fc, 0);
  writeRegisters(out, 1, words);
  return out;
}

function encodeFileRecord(fc: 20 | 21, subs: readonly FileSubRequest[]): Buffer {
  const parts = subs.map((s) => {
    const values = fc === 21 ? (s.values ?? []) : [];
    const b = Buffer.alloc(7 + 2 * values.length);
    b.writeUInt8(FILE_REFERENCE_TYPE, 0);
    b.writeUInt16BE(s.fileNumber, 1);
    b.writeUInt16BE(s.recordNumber, 3);
    b.writeUInt16BE(s.recordLength, 5);
    writeRegisters(b, 7, values);
    return b;
  });
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([fc, body.length & 0xff]), body]);
}

export function encodeRequest(req: ModbusRequest): Buffer {
  switch (req.type) {
    case 'read-bits':
    case 'read-registers':
      return u16s(req.fc, req.address, req.quantity);
    case 'write-single-coil':
      return u16s(5, req.address, req.value ? COIL_ON : COIL_OFF);
    case 'write-single-register':
      return u16s(6, req.address, req.value);
    case 'write-multiple-coils': {
      const n = req.values.length;
      return Buffer.concat([u16s(15, req.address, n), Buffer.from([byteCountForBits(n) & 0xff]), packBits(req.values)]);
    }
    case 'write-multiple-registers': {
      const n = req.values.length;
      const data = Buffer.alloc(2 * n);
      writeRegisters(data, 0, req.values);
      return Buffer.concat([u16s(16, req.address, n), Buffer.from([(2 * n) & 0xff]), data]);
    }
    case 'mask-write-register':
      return u16s(22, req.address, req.andMask, req.orMask);
    case 'read-write-registers': {
      const n = req.values.length;
      const data = Buffer.alloc(2 * n);
      writeRegisters(data, 0, req.values);
      const head = u16s(23, req.readAddress, req.readQuantity, req.writeAddress, n);
      return Buffer.concat([head, Buffer.from([(2 * n) & 0xff]), data]);
    }
    case 'read-fifo':
      return u16s(24, req.address);
    case 'file-record':
      return encodeFileRecord(req.fc, req.subRequests);
    case 'device-id':
      return Buffer.from([43, req.meiType, req.readDeviceIdCode, req.objectId]);
    case 'diagnostics':
      return Buffer.concat([u16s(8, req.subFunction), req.data]);
    case 'serial-diagnostic':
    case 'other':
      return Buffer.concat([Buffer.from([req.fc]), req.data]);
  }
}
