/**
 * PNIO-CM over connectionless DCE/RPC: numbers from IEC 61158-6-10 (PNIO-CM RPC interface, block types,
 * record indices) and The Open Group C706 chapter 12 (connectionless RPC PDUs).
 */

/** UDP port of the PNIO-CM RPC endpoint (the EPM port 34964 = 0x8894) [IEC 61158-6-10]. */
export const PNIO_CM_UDP_PORT = 34964;
/** Connectionless RPC header [C706 12.5]. */
export const RPC_HEADER_LENGTH = 80;
/** NDR header of a PNIO request (ArgsMaximum + array header) or response (PNIOStatus + array header). */
export const NDR_HEADER_LENGTH = 20;
/** A whole DCE/RPC body fits a 1500-byte MTU: 1472 bytes of UDP payload minus the 80-byte header. */
export const DEFAULT_MAX_FRAGMENT_BODY = 1392;
/** RecordDataLength is u32 on the wire; the gateway's API bounds it to 65535 (one record). */
export const MAX_RECORD_LENGTH = 0xffff;

/** Connectionless PDU types [C706 12.5.3.1]. */
export const PacketType = {
  Request: 0,
  Ping: 1,
  Response: 2,
  Fault: 3,
  Working: 4,
  NoCall: 5,
  Reject: 6,
  Ack: 7,
  ClCancel: 8,
  Fack: 9,
  CancelAck: 10,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];
export const PACKET_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(PacketType).map(([k, v]) => [
    v,
    k.replace(/[A-Z]/g, (c, i: number) => (i ? '-' : '') + c.toLowerCase()),
  ]),
);

/** Header flags1 bits [C706 12.5.3.3]. */
export const Flags1 = {
  LastFragment: 0x02,
  Fragment: 0x04,
  NoFragmentAck: 0x08,
  Maybe: 0x10,
  Idempotent: 0x20,
  Broadcast: 0x40,
} as const;
/** Header flags2 bits [C706 12.5.3.3]. */
export const Flags2 = { CancelPending: 0x02 } as const;

/** PNIO-CM operations of the device interface [IEC 61158-6-10]. */
export const Opnum = {
  Connect: 0,
  Release: 1,
  Read: 2,
  Write: 3,
  Control: 4,
  ReadImplicit: 5,
} as const;
export type Opnum = (typeof Opnum)[keyof typeof Opnum];

/** Block types used here [IEC 61158-6-10 BlockType]. Responses are the request type | 0x8000. */
export const BlockType = {
  IODWriteReqHeader: 0x0008,
  IODReadReqHeader: 0x0009,
  DiagnosisData: 0x0010,
  RealIdentificationData: 0x0013,
  LogBookData: 0x0019,
  IM0: 0x0020,
  IM1: 0x0021,
  IM2: 0x0022,
  IM3: 0x0023,
  ARBlockReq: 0x0101,
  IODControlReqConnectEnd: 0x0110,
  ReleaseBlockReq: 0x0114,
  IODWriteResHeader: 0x8008,
  IODReadResHeader: 0x8009,
  ARBlockRes: 0x8101,
  ReleaseBlockRes: 0x8114,
} as const;

/** ARType [IEC 61158-6-10]: a gateway only ever opens IOSAR (supervisor); IOCAR belongs to the PLC. */
export const ARType = {
  IOCARSingle: 0x0001,
  IOSAR: 0x0006,
  IOCARSingleRTClass3: 0x0010,
  IOCARSR: 0x0020,
} as const;

/** Record indices with a parser [IEC 61158-6-10 Index]; every other index is opaque bytes. */
export const RecordIndex = {
  DiagnosisSubslot: 0x800a,
  DiagnosisSlot: 0xc00a,
  DiagnosisApi: 0xf00a,
  DiagnosisDevice: 0xf80c,
  RealIdentificationData: 0xf000,
  LogBookData: 0xf830,
  IM0: 0xaff0,
  IM1: 0xaff1,
  IM2: 0xaff2,
  IM3: 0xaff3,
} as const;

/** User-specific indices (vendor records, 0x0000–0x7FFF): allow-listed one by one, never by wildcard. */
export function isUserIndex(index: number): boolean {
  return index >= 0 && index <= 0x7fff;
}

/** IODControl ControlCommand bits [IEC 61158-6-10]. */
export const ControlCommand = {
  PrmEnd: 0x0001,
  ApplicationReady: 0x0002,
  Release: 0x0004,
  Done: 0x0008,
} as const;
