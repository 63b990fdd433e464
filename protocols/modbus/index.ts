/** Public surface of the pure Modbus codec. Import from `protocols/modbus/index.js`. */
export * from './types.js';
export * from './limits.js';
export * from './function-codes.js';
export type { DecodeResult } from './decode-result.js';
export { MbapFramer } from './framer.js';
export { encodeAdu } from './adu.js';
export { AduBatch } from './adu-batch.js';
export { decodeRequest, encodeRequest } from './request.js';
export type * from './request-types.js';
export { decodeResponse, encodeResponse } from './response.js';
export type * from './response-types.js';
export { exceptionPdu, isExceptionPdu, isKnownExceptionCode } from './exception.js';
export { validateResponse, type ValidationResult } from './validate-response.js';
export { classify, isMutating } from './classify.js';
export { packBits, unpackBits } from './bits.js';
export { crc16Modbus } from './rtu-crc.js';
export {
  encodeRtuFrame,
  decodeRtuFrame,
  MAX_RTU_ADU_LENGTH,
  MIN_RTU_ADU_LENGTH,
  RTU_BROADCAST_ADDRESS,
  MAX_RTU_SERVER_ADDRESS,
  type RtuDecodeResult,
} from './rtu-frame.js';
export { rtuRequestLength, rtuResponseLength, type RtuLength } from './rtu-length.js';
export { RtuFramer, UNKNOWN_LENGTH, type RtuExpect, type RtuFrameResult, type RtuCorruptReason } from './rtu-framer.js';
export {
  bitsPerChar,
  charTimeMs,
  interFrameSilenceMs,
  transmitTimeMs,
  FIXED_T35_MS,
  FIXED_TIMING_ABOVE_BAUD,
  type LineFormat,
  type Parity,
} from './rtu-timing.js';
export { broadcastReply } from './rtu-broadcast.js';
