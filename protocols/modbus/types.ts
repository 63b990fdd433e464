/**
 * Shared Modbus types: the contract between the pure codec, the policy evaluator, the simulators and the
 * gateway. Values are plain data so they can be logged, hashed and compared.
 * Spec references: [MB-APP] Modbus Application Protocol v1.1b3, [MB-TCP] Messaging Implementation Guide v1.0b.
 */

/** The four primary tables of the Modbus data model [MB-APP 4.3]. */
export type Table = 'coils' | 'discrete' | 'holding' | 'input';

/** Exception codes [MB-APP 7]. */
export const ExceptionCode = {
  IllegalFunction: 0x01,
  IllegalDataAddress: 0x02,
  IllegalDataValue: 0x03,
  ServerDeviceFailure: 0x04,
  Acknowledge: 0x05,
  ServerDeviceBusy: 0x06,
  MemoryParityError: 0x08,
  GatewayPathUnavailable: 0x0a,
  GatewayTargetFailedToRespond: 0x0b,
} as const;
export type ExceptionCode = (typeof ExceptionCode)[keyof typeof ExceptionCode];

/** MBAP header [MB-TCP 3.1.3]: 7 bytes, big-endian. */
export interface MbapHeader {
  readonly transactionId: number;
  readonly protocolId: number;
  /** Bytes that follow the length field, unit id included. */
  readonly length: number;
  readonly unitId: number;
}

/** One complete ADU cut from the stream. `pdu` is a view (function code first). */
export interface Frame {
  readonly header: MbapHeader;
  readonly pdu: Buffer;
  /** The whole ADU bytes (header + pdu), for forwarding unchanged. */
  readonly adu: Buffer;
}

/** Result of feeding the framer: never thrown, never null. */
export type FrameResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'frame'; readonly frame: Frame }
  | { readonly kind: 'malformed'; readonly reason: MalformedReason; readonly detail: string };

export type MalformedReason = 'protocol-id' | 'length-out-of-range' | 'pdu-too-long';

/** A contiguous register/bit range touched by a request. */
export interface ReadRange {
  readonly table: Table;
  readonly start: number;
  readonly count: number;
}

export interface WriteRange extends ReadRange {
  /**
   * Values written, one per address: 0/1 for bits, 0..65535 for registers.
   * `null` when the resulting value cannot be known from the request (FC22 mask write).
   */
  readonly values: readonly number[] | null;
}

/** Classification for policy [docs/architecture.md "Request path" 4]. */
export type RequestKind =
  | 'read' // FC 1,2,3,4
  | 'write' // FC 5,6,15,16,22
  | 'read-write' // FC 23 (write happens before the read [MB-APP 6.17])
  | 'fifo' // FC 24
  | 'file-record' // FC 20, 21
  | 'device-id' // FC 43/14
  | 'diagnostic' // FC 7, 8, 11, 12, 17
  | 'user-defined' // FC 65-72, 100-110
  | 'unknown';

export interface ClassifiedRequest {
  readonly fc: number;
  /** Sub-function for FC 8 / MEI type for FC 43, when present. */
  readonly subFunction?: number;
  readonly unit: number;
  readonly kind: RequestKind;
  readonly reads: readonly ReadRange[];
  readonly writes: readonly WriteRange[];
}
