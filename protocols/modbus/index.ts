/** Public surface of the pure Modbus codec. Import from `protocols/modbus/index.js`. */
export * from './types.js';
export * from './limits.js';
export * from './function-codes.js';
export type { DecodeResult } from './decode-result.js';
export { MbapFramer } from './framer.js';
export { encodeAdu } from './adu.js';
export { decodeRequest, encodeRequest } from './request.js';
export type * from './request-types.js';
export { decodeResponse, encodeResponse } from './response.js';
export type * from './response-types.js';
export { exceptionPdu, isExceptionPdu, isKnownExceptionCode } from './exception.js';
export { validateResponse, type ValidationResult } from './validate-response.js';
export { classify, isMutating } from './classify.js';
export { packBits, unpackBits } from './bits.js';
