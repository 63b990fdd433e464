/**
 * PNIO-CM responses (what a device or simulator sends, what the gateway receives): NDR response header
 * (PNIOStatus first) + blocks [IEC 61158-6-10]. With PNIOStatus ≠ 0 a device may send no blocks at all;
 * with PNIOStatus = 0 the blocks must be there and consistent with their lengths.
 */
import { BlockType, DEFAULT_MAX_FRAGMENT_BODY, Opnum, PacketType } from './constants.js';
import { readBlock, readBlocks, readOneBlock, type Block } from './block.js';
import { answerHeader, type AnswerInit } from './call.js';
import { decodeArBlockRes, encodeArBlockRes, type ArBlockRes } from './connect.js';
import { decodeControlBlock, releaseResponseBlock, type ControlBlock } from './control.js';
import { fragmentDatagrams } from './fragments.js';
import { decodeNdrResponse, encodeNdrResponse } from './ndr.js';
import { isPnioOk, type PnioStatus } from './pnio-status.js';
import {
  decodeReadResBlock,
  decodeWriteResBlock,
  encodeReadResBlock,
  encodeWriteResBlock,
  type ReadResHeader,
  type WriteResHeader,
} from './record-rw.js';
import { fail, hex16, ok, within, type Decoded } from './result.js';
import type { RpcHeader } from './rpc-header.js';

export type CmResponse =
  | {
      readonly op: 'read-implicit' | 'read';
      readonly status: PnioStatus;
      readonly record?: ReadResHeader;
      readonly data: Buffer;
    }
  | { readonly op: 'write'; readonly status: PnioStatus; readonly record?: WriteResHeader }
  | {
      readonly op: 'connect';
      readonly status: PnioStatus;
      readonly ar?: ArBlockRes;
      readonly otherBlocks: readonly Block[];
    }
  | { readonly op: 'release'; readonly status: PnioStatus; readonly control?: ControlBlock };

const OP_OF_OPNUM: Record<number, CmResponse['op']> = {
  [Opnum.Connect]: 'connect',
  [Opnum.Release]: 'release',
  [Opnum.Read]: 'read',
  [Opnum.Write]: 'write',
  [Opnum.ReadImplicit]: 'read-implicit',
};

/** The blocks of a response; none when the status is an error and no header is given. */
export function responseArgs(res: CmResponse): Buffer {
  switch (res.op) {
    case 'read':
    case 'read-implicit':
      return res.record
        ? Buffer.concat([encodeReadResBlock({ ...res.record, recordDataLength: res.data.length }), res.data])
        : Buffer.alloc(0);
    case 'write':
      return res.record ? encodeWriteResBlock(res.record) : Buffer.alloc(0);
    case 'connect':
      return res.ar ? encodeArBlockRes(res.ar) : Buffer.alloc(0);
    case 'release':
      return res.control ? releaseResponseBlock(res.control.arUuid, res.control.sessionKey) : Buffer.alloc(0);
  }
}

export interface ResponseOptions extends AnswerInit {
  /** NDR MaximumCount: the request's ArgsMaximum. */
  readonly maximumCount: number;
  readonly maxFragmentBody?: number;
}

/** Datagrams answering `request` (fragmented above `maxFragmentBody`). Trusts its input. */
export function encodeCmResponse(
  request: RpcHeader,
  res: CmResponse,
  o: ResponseOptions,
): { header: RpcHeader; datagrams: Buffer[] } {
  const header = answerHeader(request, o);
  const body = encodeNdrResponse(res.status, o.maximumCount, responseArgs(res), header.littleEndian);
  return {
    header: { ...header, bodyLength: body.length },
    datagrams: fragmentDatagrams(header, body, o.maxFragmentBody ?? DEFAULT_MAX_FRAGMENT_BODY),
  };
}

/** A whole (reassembled) response body → the operation's answer, by the response's opnum. */
export function decodeCmResponse(header: RpcHeader, body: Buffer): Decoded<CmResponse> {
  if (header.packetType !== PacketType.Response)
    return fail('packet-type', `packet type ${header.packetType}, expected response (2)`);
  const op = OP_OF_OPNUM[header.opnum];
  if (!op) return fail('field-value', `response opnum ${header.opnum} not supported`);
  const ndr = decodeNdrResponse(body, header.littleEndian);
  if (!ndr.ok) return within('NDR response', ndr);
  const { status, args } = ndr.value;
  if (args.length === 0) {
    if (isPnioOk(status)) return fail('truncated', `${op} response with status OK and no blocks`);
    return ok(
      op === 'read' || op === 'read-implicit'
        ? { op, status, data: Buffer.alloc(0) }
        : op === 'connect'
          ? { op, status, otherBlocks: [] }
          : { op, status },
    );
  }
  switch (op) {
    case 'read':
    case 'read-implicit':
      return decodeReadRes(op, status, args);
    case 'write':
      return decodeOne(
        args,
        (b) => decodeWriteResBlock(b),
        (record) => ({ op, status, record }),
      );
    case 'release':
      return decodeOne(
        args,
        (b) =>
          b.header.type === BlockType.ReleaseBlockRes
            ? decodeControlBlock(b)
            : fail('block-type', `release answer block ${hex16(b.header.type)}`),
        (control) => ({ op, status, control }),
      );
    case 'connect':
      return decodeConnectRes(status, args);
  }
}

function decodeReadRes(op: 'read' | 'read-implicit', status: PnioStatus, args: Buffer): Decoded<CmResponse> {
  const b = readBlock(args, 0);
  if (!b.ok) return within('read response', b);
  const h = decodeReadResBlock(b.value);
  if (!h.ok) return h;
  const data = args.subarray(b.value.end);
  if (data.length < h.value.recordDataLength)
    return fail('truncated', `RecordDataLength ${h.value.recordDataLength}, ${data.length} bytes of data`);
  if (data.length > h.value.recordDataLength)
    return fail('trailing-bytes', `RecordDataLength ${h.value.recordDataLength}, ${data.length} bytes of data`);
  return ok({ op, status, record: h.value, data });
}

function decodeOne<T>(args: Buffer, decode: (b: Block) => Decoded<T>, wrap: (v: T) => CmResponse): Decoded<CmResponse> {
  const b = readOneBlock(args);
  if (!b.ok) return b;
  const v = decode(b.value);
  return v.ok ? ok(wrap(v.value)) : v;
}

function decodeConnectRes(status: PnioStatus, args: Buffer): Decoded<CmResponse> {
  const blocks = readBlocks(args, 64);
  if (!blocks.ok) return within('connect response', blocks);
  const arBlocks = blocks.value.filter((b) => b.header.type === BlockType.ARBlockRes);
  if (arBlocks.length !== 1 || !arBlocks[0])
    return fail('block-type', `connect response with ${arBlocks.length} ARBlockRes`);
  const ar = decodeArBlockRes(arBlocks[0]);
  if (!ar.ok) return ar;
  return ok({ op: 'connect', status, ar: ar.value, otherBlocks: blocks.value.filter((b) => b !== arBlocks[0]) });
}
