/**
 * Fault and reject PDUs [C706 12.5.3.1, Appendix E]: the body is one u32 NCA status in DREP order. A device
 * answers a call it cannot run (unknown interface or opnum, bad stub data) with one of these, not a
 * PNIOStatus.
 */
import { Reader, Writer } from './bytes.js';
import { fail, ok, type Decoded } from './result.js';

const NCA_NAMES: Record<number, string> = {
  0x1c010002: 'nca_s_op_rng_error',
  0x1c010003: 'nca_s_unk_if',
  0x1c010006: 'nca_s_wrong_boot_time',
  0x1c010009: 'nca_s_you_crashed',
  0x1c01000b: 'nca_s_proto_error',
  0x1c010013: 'nca_s_out_args_too_big',
  0x1c010014: 'nca_s_server_too_busy',
  0x1c010017: 'nca_s_unsupported_type',
  0x1c000001: 'nca_s_fault_int_div_by_zero',
  0x1c00001b: 'nca_s_fault_remote_no_memory',
  0x1c000012: 'nca_s_fault_ndr',
  0x1c000019: 'nca_s_fault_unspec',
};

export interface RpcFault {
  readonly status: number;
  /** NCA name when known, else `nca 0x…`. */
  readonly name: string;
}

export function decodeFaultBody(body: Buffer, littleEndian: boolean): Decoded<RpcFault> {
  if (body.length < 4) return fail('truncated', `fault body of ${body.length} bytes, status needs 4`);
  const status = new Reader(body, 0, littleEndian).u32();
  return ok({ status, name: NCA_NAMES[status] ?? `nca 0x${status.toString(16).padStart(8, '0')}` });
}

export function encodeFaultBody(status: number, littleEndian: boolean): Buffer {
  return new Writer(littleEndian).u32(status).toBuffer();
}

export const NcaStatus = {
  OpRangeError: 0x1c010002,
  UnknownInterface: 0x1c010003,
  ProtocolError: 0x1c01000b,
  ServerTooBusy: 0x1c010014,
} as const;
