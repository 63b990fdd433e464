/** Decoded Modbus responses: a union discriminated on `type`, mirroring request-types.ts [MB-APP 6]. */
import type { FileSubRequest } from './request-types.js';
import type { ExceptionCode } from './types.js';

/** FC1/FC2: exactly `quantity` values (the padding bits of the last byte are dropped). */
export interface ReadBitsResponse {
  readonly type: 'read-bits';
  readonly fc: 1 | 2;
  readonly values: readonly boolean[];
}

/** FC3/FC4. */
export interface ReadRegistersResponse {
  readonly type: 'read-registers';
  readonly fc: 3 | 4;
  readonly values: readonly number[];
}

/** FC5 echo. */
export interface WriteSingleCoilResponse {
  readonly type: 'write-single-coil';
  readonly fc: 5;
  readonly address: number;
  readonly value: boolean;
}

/** FC6 echo. */
export interface WriteSingleRegisterResponse {
  readonly type: 'write-single-register';
  readonly fc: 6;
  readonly address: number;
  readonly value: number;
}

/** FC15/FC16: address and quantity echoed. */
export interface WriteMultipleResponse {
  readonly type: 'write-multiple';
  readonly fc: 15 | 16;
  readonly address: number;
  readonly quantity: number;
}

/** FC22 echo. */
export interface MaskWriteRegisterResponse {
  readonly type: 'mask-write-register';
  readonly fc: 22;
  readonly address: number;
  readonly andMask: number;
  readonly orMask: number;
}

/** FC23: the registers read (after the write). */
export interface ReadWriteRegistersResponse {
  readonly type: 'read-write-registers';
  readonly fc: 23;
  readonly values: readonly number[];
}

/** FC24: the queued values (count register not included). */
export interface ReadFifoResponse {
  readonly type: 'read-fifo';
  readonly fc: 24;
  readonly values: readonly number[];
}

/** FC20: one array of registers per sub-request, in order. */
export interface ReadFileRecordResponse {
  readonly type: 'read-file-record';
  readonly fc: 20;
  readonly records: readonly (readonly number[])[];
}

/** FC21: echo of the request. */
export interface WriteFileRecordResponse {
  readonly type: 'write-file-record';
  readonly fc: 21;
  readonly subRequests: readonly FileSubRequest[];
}

export interface DeviceIdObject {
  readonly id: number;
  readonly value: Buffer;
}

/** FC43/14 [MB-APP 6.21]. */
export interface DeviceIdResponse {
  readonly type: 'device-id';
  readonly fc: 43;
  readonly meiType: 14;
  readonly readDeviceIdCode: number;
  readonly conformityLevel: number;
  readonly moreFollows: boolean;
  readonly nextObjectId: number;
  readonly objects: readonly DeviceIdObject[];
}

/** FC8: sub-function and data (normally an echo). */
export interface DiagnosticsResponse {
  readonly type: 'diagnostics';
  readonly fc: 8;
  readonly subFunction: number;
  readonly data: Buffer;
}

/** FC7/11/12/17 and any other code: the bytes after the FC, length-checked where the spec fixes it. */
export interface RawResponse {
  readonly type: 'raw';
  readonly fc: number;
  readonly data: Buffer;
}

/** Exception response [MB-APP 7]; `fc` is the request's FC (without 0x80). */
export interface ExceptionResponse {
  readonly type: 'exception';
  readonly fc: number;
  readonly exception: ExceptionCode;
  readonly isException: true;
}

export type ModbusResponse =
  | ReadBitsResponse
  | ReadRegistersResponse
  | WriteSingleCoilResponse
  | WriteSingleRegisterResponse
  | WriteMultipleResponse
  | MaskWriteRegisterResponse
  | ReadWriteRegistersResponse
  | ReadFifoResponse
  | ReadFileRecordResponse
  | WriteFileRecordResponse
  | DeviceIdResponse
  | DiagnosticsResponse
  | RawResponse
  | ExceptionResponse;

export type ModbusResponseType = ModbusResponse['type'];
