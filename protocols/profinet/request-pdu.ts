/**
 * PNIO-CM requests (what the gateway sends, what a device or simulator receives): the RPC body = NDR
 * request header + blocks [IEC 61158-6-10]. Read Implicit (opnum 5) carries a nil ARUUID; Read (2) and
 * Write (3) name an AR; Connect (0) carries an ARBlockReq; Release (1) an IODControlReq 0x0114.
 */
import { BlockType, DEFAULT_MAX_FRAGMENT_BODY, Opnum, PacketType } from './constants.js';
import { readBlock, readBlocks, readOneBlock, type Block } from './block.js';
import { requestHeader, type CallInit } from './call.js';
import { decodeArBlockReq, encodeArBlockReq, type ArBlockReq } from './connect.js';
import { decodeControlBlock, releaseRequestBlock, type ControlBlock } from './control.js';
import { fragmentDatagrams } from './fragments.js';
import { decodeNdrRequest, encodeNdrRequest } from './ndr.js';
import {
  decodeReadReqBlock,
  decodeWriteReqBlock,
  encodeReadReqBlock,
  encodeWriteReqBlock,
  type ReadReqHeader,
  type RecordHeader,
} from './record-rw.js';
import { fail, hex16, ok, within, type Decoded } from './result.js';
import type { RpcHeader } from './rpc-header.js';
import { NIL_UUID, PNIO_DEVICE_INTERFACE } from './uuid.js';

export type CmRequest =
  | { readonly op: 'read-implicit' | 'read'; readonly argsMaximum: number; readonly record: ReadReqHeader }
  | { readonly op: 'write'; readonly argsMaximum: number; readonly record: RecordHeader; readonly data: Buffer }
  | {
      readonly op: 'connect';
      readonly argsMaximum: number;
      readonly ar: ArBlockReq;
      readonly otherBlocks: readonly Block[];
    }
  | { readonly op: 'release'; readonly argsMaximum: number; readonly control: ControlBlock };

export const OPNUM_OF: Record<CmRequest['op'], number> = {
  connect: Opnum.Connect,
  release: Opnum.Release,
  read: Opnum.Read,
  write: Opnum.Write,
  'read-implicit': Opnum.ReadImplicit,
};

/** The blocks of a request, in order. */
export function requestArgs(req: CmRequest): Buffer {
  switch (req.op) {
    case 'read':
    case 'read-implicit':
      return encodeReadReqBlock(req.record);
    case 'write':
      return Buffer.concat([encodeWriteReqBlock({ ...req.record, recordDataLength: req.data.length }), req.data]);
    case 'connect':
      return Buffer.concat([encodeArBlockReq(req.ar), ...req.otherBlocks.map(rawBlock)]);
    case 'release':
      return releaseRequestBlock(req.control.arUuid, req.control.sessionKey);
  }
}

function rawBlock(b: Block): Buffer {
  const head = Buffer.alloc(6);
  head.writeUInt16BE(b.header.type, 0);
  head.writeUInt16BE(b.content.length + 2, 2);
  head[4] = b.header.versionHigh;
  head[5] = b.header.versionLow;
  return Buffer.concat([head, b.content]);
}

/** RPC header + datagrams (fragmented above `maxFragmentBody`) of one request. Trusts its input. */
export function encodeCmRequest(
  call: CallInit,
  req: CmRequest,
  maxFragmentBody = DEFAULT_MAX_FRAGMENT_BODY,
): { header: RpcHeader; datagrams: Buffer[] } {
  const header = requestHeader(call, OPNUM_OF[req.op]);
  const body = encodeNdrRequest(req.argsMaximum, requestArgs(req), header.littleEndian);
  return {
    header: { ...header, bodyLength: body.length },
    datagrams: fragmentDatagrams(header, body, maxFragmentBody),
  };
}

/** A whole (reassembled) request body → the operation. Only the device interface's ops 0,1,2,3,5. */
export function decodeCmRequest(header: RpcHeader, body: Buffer): Decoded<CmRequest> {
  if (header.packetType !== PacketType.Request)
    return fail('packet-type', `packet type ${header.packetType}, expected request (0)`);
  if (header.interfaceUuid !== PNIO_DEVICE_INTERFACE)
    return fail('field-value', `interface ${header.interfaceUuid} is not the PNIO device interface`);
  const ndr = decodeNdrRequest(body, header.littleEndian);
  if (!ndr.ok) return within('NDR request', ndr);
  const { args, argsMaximum } = ndr.value;
  switch (header.opnum) {
    case Opnum.ReadImplicit:
    case Opnum.Read:
      return decodeRead(header.opnum, args, argsMaximum);
    case Opnum.Write:
      return decodeWrite(args, argsMaximum);
    case Opnum.Connect:
      return decodeConnect(args, argsMaximum);
    case Opnum.Release:
      return decodeRelease(args, argsMaximum);
    default:
      return fail(
        'field-value',
        `opnum ${header.opnum} not supported (0 connect, 1 release, 2 read, 3 write, 5 read implicit)`,
      );
  }
}

function decodeRead(opnum: number, args: Buffer, argsMaximum: number): Decoded<CmRequest> {
  const b = readOneBlock(args);
  if (!b.ok) return within('read request', b);
  const h = decodeReadReqBlock(b.value);
  if (!h.ok) return h;
  const implicit = opnum === Opnum.ReadImplicit;
  if (implicit !== (h.value.arUuid === NIL_UUID)) {
    return fail(
      'field-value',
      implicit ? 'Read Implicit with an ARUUID (must be nil)' : 'Read with a nil ARUUID (use Read Implicit)',
    );
  }
  return ok({ op: implicit ? 'read-implicit' : 'read', argsMaximum, record: h.value });
}

function decodeWrite(args: Buffer, argsMaximum: number): Decoded<CmRequest> {
  const b = readBlock(args, 0);
  if (!b.ok) return within('write request', b);
  const h = decodeWriteReqBlock(b.value);
  if (!h.ok) return h;
  if (h.value.arUuid === NIL_UUID) return fail('field-value', 'Write with a nil ARUUID (writes need an AR)');
  const data = args.subarray(b.value.end);
  if (data.length < h.value.recordDataLength)
    return fail('truncated', `RecordDataLength ${h.value.recordDataLength}, ${data.length} bytes of data`);
  if (data.length > h.value.recordDataLength)
    return fail('trailing-bytes', `RecordDataLength ${h.value.recordDataLength}, ${data.length} bytes of data`);
  return ok({ op: 'write', argsMaximum, record: h.value, data });
}

function decodeConnect(args: Buffer, argsMaximum: number): Decoded<CmRequest> {
  const blocks = readBlocks(args, 64);
  if (!blocks.ok) return within('connect request', blocks);
  const [first, ...otherBlocks] = blocks.value;
  if (!first || first.header.type !== BlockType.ARBlockReq)
    return fail(
      'block-type',
      `connect request must start with ARBlockReq, got ${first ? hex16(first.header.type) : 'nothing'}`,
    );
  const ar = decodeArBlockReq(first);
  if (!ar.ok) return ar;
  if (otherBlocks.some((x) => x.header.type === BlockType.ARBlockReq))
    return fail('block-type', 'two ARBlockReq in one connect');
  return ok({ op: 'connect', argsMaximum, ar: ar.value, otherBlocks });
}

function decodeRelease(args: Buffer, argsMaximum: number): Decoded<CmRequest> {
  const b = readOneBlock(args);
  if (!b.ok) return within('release request', b);
  if (b.value.header.type !== BlockType.ReleaseBlockReq)
    return fail('block-type', `release request block ${hex16(b.value.header.type)}, expected 0x0114`);
  const c = decodeControlBlock(b.value);
  return c.ok ? ok({ op: 'release', argsMaximum, control: c.value }) : c;
}
