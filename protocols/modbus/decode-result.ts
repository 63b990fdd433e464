/**
 * The result of decoding hostile bytes: a value, or the Modbus exception a server would answer with and a
 * human reason for logs and audit. Decoders never throw on input [docs/architecture.md "Errors and outcomes"].
 */
import { ExceptionCode } from './types.js';

export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly exception: ExceptionCode; readonly reason: string };

export function ok<T>(value: T): DecodeResult<T> {
  return { ok: true, value };
}

export function fail<T>(exception: ExceptionCode, reason: string): DecodeResult<T> {
  return { ok: false, exception, reason };
}

/** Exception 03: the structure of the request is wrong (implied length, byte count) [MB-APP 7]. */
export function badValue<T>(reason: string): DecodeResult<T> {
  return fail(ExceptionCode.IllegalDataValue, reason);
}

/** Exception 02: the address range is not addressable [MB-APP 7]. */
export function badAddress<T>(reason: string): DecodeResult<T> {
  return fail(ExceptionCode.IllegalDataAddress, reason);
}
