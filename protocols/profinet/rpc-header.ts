/**
 * Connectionless DCE/RPC v4 header, 80 bytes [C706 12.5; IEC 61158-6-10 uses it for PNIO-CM on UDP]. Byte 4
 * (DREP[0]) says how the integers and the first three UUID fields are ordered: 0x10 little-endian, 0x00
 * big-endian. Common device stacks accept both and answer big-endian, so a decoder must take either.
 */
import { Reader, Writer } from './bytes.js';
import { Flags1, PacketType, RPC_HEADER_LENGTH } from './constants.js';
import { fail, ok, type Decoded } from './result.js';
import { NIL_UUID, PNIO_DEVICE_INTERFACE, type Uuid } from './uuid.js';

export interface RpcHeader {
  readonly packetType: number;
  readonly flags1: number;
  readonly flags2: number;
  /** DREP byte 0 = 0x10. */
  readonly littleEndian: boolean;
  /** 16-bit fragment serial number (serial_hi << 8 | serial_lo). */
  readonly serial: number;
  readonly objectUuid: Uuid;
  readonly interfaceUuid: Uuid;
  readonly activityUuid: Uuid;
  readonly serverBoot: number;
  readonly interfaceVersion: number;
  readonly sequenceNumber: number;
  readonly opnum: number;
  readonly interfaceHint: number;
  readonly activityHint: number;
  /** Body bytes of this datagram (the fragment length). */
  readonly bodyLength: number;
  readonly fragmentNumber: number;
}

export interface RpcDatagram {
  readonly header: RpcHeader;
  /** This datagram's body (a fragment of the call's body when `Flags1.Fragment` is set). */
  readonly body: Buffer;
}

export const isFragment = (h: RpcHeader): boolean => (h.flags1 & Flags1.Fragment) !== 0;
export const isLastFragment = (h: RpcHeader): boolean => (h.flags1 & Flags1.LastFragment) !== 0;

/** One UDP payload → header + body. The body length must equal what the datagram holds. */
export function decodeRpcDatagram(datagram: Buffer): Decoded<RpcDatagram> {
  if (datagram.length < RPC_HEADER_LENGTH) {
    return fail('truncated', `datagram of ${datagram.length} bytes, an RPC header needs ${RPC_HEADER_LENGTH}`);
  }
  const version = datagram[0] ?? 0;
  if (version !== 4) return fail('rpc-version', `RPC version ${version}, expected 4 (connectionless)`);
  const packetType = datagram[1] ?? 0;
  if (packetType > PacketType.CancelAck)
    return fail('packet-type', `packet type ${packetType} is not a connectionless PDU`);
  const drep0 = datagram[4] ?? 0;
  if (drep0 !== 0x00 && drep0 !== 0x10) {
    return fail(
      'drep',
      `DREP 0x${drep0.toString(16).padStart(2, '0')}: only ASCII with big (0x00) or little (0x10) endian`,
    );
  }
  if ((datagram[5] ?? 0) !== 0) return fail('drep', `DREP float format ${datagram[5]}, only IEEE (0)`);
  const r = new Reader(datagram, 8, drep0 === 0x10);
  const header: RpcHeader = {
    packetType,
    flags1: datagram[2] ?? 0,
    flags2: datagram[3] ?? 0,
    littleEndian: drep0 === 0x10,
    serial: ((datagram[7] ?? 0) << 8) | (datagram[79] ?? 0),
    objectUuid: r.uuid(),
    interfaceUuid: r.uuid(),
    activityUuid: r.uuid(),
    serverBoot: r.u32(),
    interfaceVersion: r.u32(),
    sequenceNumber: r.u32(),
    opnum: r.u16(),
    interfaceHint: r.u16(),
    activityHint: r.u16(),
    bodyLength: r.u16(),
    fragmentNumber: r.u16(),
  };
  const authProto = datagram[78] ?? 0;
  if (authProto !== 0) return fail('auth', `authentication protocol ${authProto}, PNIO-CM uses none (0)`);
  const present = datagram.length - RPC_HEADER_LENGTH;
  if (header.bodyLength > present)
    return fail('truncated', `fragment length ${header.bodyLength}, ${present} body bytes present`);
  if (header.bodyLength < present)
    return fail('trailing-bytes', `fragment length ${header.bodyLength}, ${present} body bytes present`);
  return ok({ header, body: datagram.subarray(RPC_HEADER_LENGTH) });
}

/** What a caller states to build a header; everything else has the PNIO defaults. */
export interface RpcHeaderInit {
  packetType: number;
  activityUuid: Uuid;
  sequenceNumber: number;
  opnum: number;
  objectUuid?: Uuid;
  interfaceUuid?: Uuid;
  littleEndian?: boolean;
  flags1?: number;
  flags2?: number;
  serial?: number;
  serverBoot?: number;
  interfaceVersion?: number;
  interfaceHint?: number;
  activityHint?: number;
  fragmentNumber?: number;
}

export function rpcHeader(init: RpcHeaderInit, bodyLength = 0): RpcHeader {
  return {
    packetType: init.packetType,
    flags1: init.flags1 ?? 0,
    flags2: init.flags2 ?? 0,
    littleEndian: init.littleEndian ?? false,
    serial: init.serial ?? 0,
    objectUuid: init.objectUuid ?? NIL_UUID,
    interfaceUuid: init.interfaceUuid ?? PNIO_DEVICE_INTERFACE,
    activityUuid: init.activityUuid,
    serverBoot: init.serverBoot ?? 0,
    interfaceVersion: init.interfaceVersion ?? 1,
    sequenceNumber: init.sequenceNumber,
    opnum: init.opnum,
    interfaceHint: init.interfaceHint ?? 0xffff,
    activityHint: init.activityHint ?? 0xffff,
    bodyLength,
    fragmentNumber: init.fragmentNumber ?? 0,
  };
}

/** Header + body → one datagram; `bodyLength` is taken from the body. Trusts its input (encoder). */
export function encodeRpcDatagram(header: RpcHeader, body: Buffer): Buffer {
  const w = new Writer(header.littleEndian);
  w.u8(4).u8(header.packetType).u8(header.flags1).u8(header.flags2);
  w.u8(header.littleEndian ? 0x10 : 0x00)
    .u8(0)
    .u8(0);
  w.u8(header.serial >> 8);
  w.uuid(header.objectUuid).uuid(header.interfaceUuid).uuid(header.activityUuid);
  w.u32(header.serverBoot).u32(header.interfaceVersion).u32(header.sequenceNumber);
  w.u16(header.opnum).u16(header.interfaceHint).u16(header.activityHint);
  w.u16(body.length).u16(header.fragmentNumber);
  w.u8(0).u8(header.serial & 0xff);
  w.bytes(body);
  return w.toBuffer();
}
