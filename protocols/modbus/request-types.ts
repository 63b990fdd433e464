/**
 * Decoded Modbus requests: a union discriminated on `type` (narrow with `switch (req.type)`); `fc` is kept on
 * every variant. Addresses are 0-based protocol addresses [MB-APP 4.4].
 */

/** FC1 read coils, FC2 read discrete inputs [MB-APP 6.1, 6.2]. */
export interface ReadBitsRequest {
  readonly type: 'read-bits';
  readonly fc: 1 | 2;
  readonly address: number;
  readonly quantity: number;
}

/** FC3 read holding registers, FC4 read input registers [MB-APP 6.3, 6.4]. */
export interface ReadRegistersRequest {
  readonly type: 'read-registers';
  readonly fc: 3 | 4;
  readonly address: number;
  readonly quantity: number;
}

/** FC5 [MB-APP 6.5]: `true` is 0xFF00 on the wire, `false` 0x0000. */
export interface WriteSingleCoilRequest {
  readonly type: 'write-single-coil';
  readonly fc: 5;
  readonly address: number;
  readonly value: boolean;
}

/** FC6 [MB-APP 6.6]. */
export interface WriteSingleRegisterRequest {
  readonly type: 'write-single-register';
  readonly fc: 6;
  readonly address: number;
  readonly value: number;
}

/** FC15 [MB-APP 6.11]. */
export interface WriteMultipleCoilsRequest {
  readonly type: 'write-multiple-coils';
  readonly fc: 15;
  readonly address: number;
  readonly values: readonly boolean[];
}

/** FC16 [MB-APP 6.12]. */
export interface WriteMultipleRegistersRequest {
  readonly type: 'write-multiple-registers';
  readonly fc: 16;
  readonly address: number;
  readonly values: readonly number[];
}

/** FC22 [MB-APP 6.16]: result = (current AND andMask) OR (orMask AND NOT andMask). */
export interface MaskWriteRegisterRequest {
  readonly type: 'mask-write-register';
  readonly fc: 22;
  readonly address: number;
  readonly andMask: number;
  readonly orMask: number;
}

/** FC23 [MB-APP 6.17]: the write is performed before the read. */
export interface ReadWriteRegistersRequest {
  readonly type: 'read-write-registers';
  readonly fc: 23;
  readonly readAddress: number;
  readonly readQuantity: number;
  readonly writeAddress: number;
  readonly values: readonly number[];
}

/** FC24 [MB-APP 6.18]. */
export interface ReadFifoRequest {
  readonly type: 'read-fifo';
  readonly fc: 24;
  readonly address: number;
}

/** One sub-request of FC20/FC21 [MB-APP 6.14, 6.15]. Reference type is always 6. */
export interface FileSubRequest {
  readonly fileNumber: number;
  readonly recordNumber: number;
  readonly recordLength: number;
  /** FC21 only: the registers written (recordLength of them). */
  readonly values?: readonly number[];
}

/** FC20 read file record, FC21 write file record. */
export interface FileRecordRequest {
  readonly type: 'file-record';
  readonly fc: 20 | 21;
  readonly subRequests: readonly FileSubRequest[];
}

/** FC43 / MEI 14 read device identification [MB-APP 6.21]. */
export interface DeviceIdRequest {
  readonly type: 'device-id';
  readonly fc: 43;
  readonly meiType: 14;
  /** 1 basic stream, 2 regular stream, 3 extended stream, 4 one specific object. */
  readonly readDeviceIdCode: number;
  readonly objectId: number;
}

/** FC8 diagnostics [MB-APP 6.8]; `data` is what follows the sub-function. */
export interface DiagnosticsRequest {
  readonly type: 'diagnostics';
  readonly fc: 8;
  readonly subFunction: number;
  readonly data: Buffer;
}

/** FC7, 11, 12, 17: serial-line diagnostics with no (expected) request data. */
export interface SerialDiagnosticRequest {
  readonly type: 'serial-diagnostic';
  readonly fc: 7 | 11 | 12 | 17;
  readonly data: Buffer;
}

/**
 * Any other function code 1..127 (user-defined 65–72/100–110, reserved, FC43 with an MEI type other than 14):
 * kept as raw bytes so it can be classified and refused by policy.
 */
export interface OtherRequest {
  readonly type: 'other';
  readonly fc: number;
  /** The PDU bytes after the function code. */
  readonly data: Buffer;
}

export type ModbusRequest =
  | ReadBitsRequest
  | ReadRegistersRequest
  | WriteSingleCoilRequest
  | WriteSingleRegisterRequest
  | WriteMultipleCoilsRequest
  | WriteMultipleRegistersRequest
  | MaskWriteRegisterRequest
  | ReadWriteRegistersRequest
  | ReadFifoRequest
  | FileRecordRequest
  | DeviceIdRequest
  | DiagnosticsRequest
  | SerialDiagnosticRequest
  | OtherRequest;

export type ModbusRequestType = ModbusRequest['type'];
