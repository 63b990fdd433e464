/**
 * The NDR header in front of the PNIO blocks [IEC 61158-6-10 "PNIO request/response", NDR conformant and
 * varying array, C706 14.3.3]. Request: ArgsMaximum, ArgsLength, MaximumCount, Offset, ActualCount.
 * Response: PNIOStatus, ArgsLength, MaximumCount, Offset, ActualCount. All u32 in DREP order.
 * Checks: Offset 0; ActualCount = ArgsLength; ActualCount ≤ MaximumCount; a request's ArgsLength ≤
 * ArgsMaximum; ArgsLength = the bytes that follow (neither more nor fewer).
 */
import { Reader, Writer } from './bytes.js';
import { NDR_HEADER_LENGTH } from './constants.js';
import { pnioStatusFromU32, pnioStatusToU32, type PnioStatus } from './pnio-status.js';
import { fail, ok, type Decoded } from './result.js';

export interface NdrArray {
  readonly argsLength: number;
  readonly maximumCount: number;
  readonly offset: number;
  readonly actualCount: number;
  /** The ArgsLength bytes of blocks. */
  readonly args: Buffer;
}

export interface NdrRequest extends NdrArray {
  readonly argsMaximum: number;
}

export interface NdrResponse extends NdrArray {
  readonly status: PnioStatus;
}

export function decodeNdrRequest(body: Buffer, littleEndian: boolean): Decoded<NdrRequest> {
  if (body.length < NDR_HEADER_LENGTH)
    return fail('truncated', `body of ${body.length} bytes, NDR header needs ${NDR_HEADER_LENGTH}`);
  const r = new Reader(body, 0, littleEndian);
  const argsMaximum = r.u32();
  const a = decodeArray(r, body);
  if (!a.ok) return a;
  if (a.value.argsLength > argsMaximum)
    return fail('ndr', `ArgsLength ${a.value.argsLength} > ArgsMaximum ${argsMaximum}`);
  return ok({ argsMaximum, ...a.value });
}

export function decodeNdrResponse(body: Buffer, littleEndian: boolean): Decoded<NdrResponse> {
  if (body.length < NDR_HEADER_LENGTH)
    return fail('truncated', `body of ${body.length} bytes, NDR header needs ${NDR_HEADER_LENGTH}`);
  const r = new Reader(body, 0, littleEndian);
  const status = pnioStatusFromU32(r.u32());
  const a = decodeArray(r, body);
  return a.ok ? ok({ status, ...a.value }) : a;
}

function decodeArray(r: Reader, body: Buffer): Decoded<NdrArray> {
  const argsLength = r.u32();
  const maximumCount = r.u32();
  const offset = r.u32();
  const actualCount = r.u32();
  if (offset !== 0) return fail('ndr', `Offset ${offset}, expected 0`);
  if (actualCount !== argsLength) return fail('ndr', `ActualCount ${actualCount} ≠ ArgsLength ${argsLength}`);
  if (actualCount > maximumCount) return fail('ndr', `ActualCount ${actualCount} > MaximumCount ${maximumCount}`);
  const present = body.length - NDR_HEADER_LENGTH;
  if (argsLength > present) return fail('truncated', `ArgsLength ${argsLength}, ${present} bytes present`);
  if (argsLength < present) return fail('trailing-bytes', `ArgsLength ${argsLength}, ${present} bytes present`);
  return ok({ argsLength, maximumCount, offset, actualCount, args: body.subarray(NDR_HEADER_LENGTH) });
}

/** Request body: MaximumCount = ArgsMaximum (the answer size the caller accepts), Offset 0. */
export function encodeNdrRequest(argsMaximum: number, args: Buffer, littleEndian: boolean): Buffer {
  const w = new Writer(littleEndian);
  w.u32(argsMaximum).u32(args.length).u32(argsMaximum).u32(0).u32(args.length);
  return Buffer.concat([w.toBuffer(), args]);
}

/** Response body: MaximumCount echoes the request's ArgsMaximum (as common stacks do), Offset 0. */
export function encodeNdrResponse(
  status: PnioStatus,
  maximumCount: number,
  args: Buffer,
  littleEndian: boolean,
): Buffer {
  const w = new Writer(littleEndian);
  w.u32(pnioStatusToU32(status)).u32(args.length).u32(Math.max(maximumCount, args.length)).u32(0).u32(args.length);
  return Buffer.concat([w.toBuffer(), args]);
}
