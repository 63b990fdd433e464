/**
 * Fragment acknowledgement (fack, packet type 9) [C706 12.5.3.1, 12.5.3.9 "fack body"]. A server that sends
 * a fragmented answer without the `NoFragmentAck` flag waits for a fack after each fragment before it sends
 * the next one (common device stacks do: one fragment, then wait). The body (version 0) is: vers u8, pad
 * u8, window_size u16, max_tsdu u32, max_frag_size u32, serial_num u16, selack_len u16, selack u32[...],
 * in the sender's DREP. The header repeats the call's activity and sequence; its fragment number is the
 * highest in-order fragment received and its serial the serial of the fragment that caused the fack.
 */
import { Reader, Writer } from './bytes.js';
import { PacketType } from './constants.js';
import { encodeRpcDatagram, type RpcHeader } from './rpc-header.js';
import { fail, ok, type Decoded } from './result.js';

export interface FackBody {
  readonly version: number;
  readonly windowSize: number;
  readonly maxTsdu: number;
  readonly maxFragSize: number;
  readonly serialNumber: number;
  readonly selectiveAcks: readonly number[];
}

const FACK_FIXED = 16;

export function encodeFackBody(f: FackBody, littleEndian: boolean): Buffer {
  const w = new Writer(littleEndian);
  w.u8(f.version)
    .u8(0)
    .u16(f.windowSize)
    .u32(f.maxTsdu)
    .u32(f.maxFragSize)
    .u16(f.serialNumber)
    .u16(f.selectiveAcks.length);
  for (const s of f.selectiveAcks) w.u32(s);
  return w.toBuffer();
}

export function decodeFackBody(body: Buffer, littleEndian: boolean): Decoded<FackBody> {
  if (body.length < FACK_FIXED) return fail('truncated', `fack body of ${body.length} bytes, needs ${FACK_FIXED}`);
  const r = new Reader(body, 0, littleEndian);
  const version = r.u8();
  r.skip(1);
  const windowSize = r.u16();
  const maxTsdu = r.u32();
  const maxFragSize = r.u32();
  const serialNumber = r.u16();
  const n = r.u16();
  if (n * 4 !== r.remaining)
    return fail(n * 4 > r.remaining ? 'truncated' : 'trailing-bytes', `selack_len ${n}, ${r.remaining} bytes left`);
  const selectiveAcks = Array.from({ length: n }, () => r.u32());
  return ok({ version, windowSize, maxTsdu, maxFragSize, serialNumber, selectiveAcks });
}

/**
 * The fack a client sends after the answer fragment `fragment` (its header as decoded): the serial is that
 * fragment's; the fragment number acknowledged is `inOrder` (the highest with no gap before it, from
 * FragmentAssembler.inOrder), or the fragment's own number when not given.
 */
export function fackDatagram(
  fragment: RpcHeader,
  o: { littleEndian: boolean; inOrder?: number; windowSize?: number; maxTsdu?: number; maxFragSize?: number },
): Buffer {
  const fragmentNumber = o.inOrder ?? fragment.fragmentNumber;
  const header: RpcHeader = {
    ...fragment,
    packetType: PacketType.Fack,
    flags1: 0,
    flags2: 0,
    fragmentNumber,
    littleEndian: o.littleEndian,
    bodyLength: 0,
  };
  const body = encodeFackBody(
    {
      version: 0,
      windowSize: o.windowSize ?? 1,
      maxTsdu: o.maxTsdu ?? 1472,
      maxFragSize: o.maxFragSize ?? 1472,
      serialNumber: fragment.serial,
      selectiveAcks: [],
    },
    o.littleEndian,
  );
  return encodeRpcDatagram(header, body);
}
