/**
 * Connect blocks for a supervisor device-access AR [IEC 61158-6-10 ARBlockReq, ARBlockRes, ARProperties]:
 * ARType 0x0006 (IOSAR) with ARProperties.DeviceAccess = 1 and no IOCR/AlarmCR/ExpectedSubmodule blocks. A
 * gateway never builds an IOCAR (0x0001): that AR is the PLC's, and a second controller would take the
 * device over when the PLC is down.
 */
import { Reader, Writer } from './bytes.js';
import { BlockType } from './constants.js';
import { encodeBlock, expectBlock, type Block } from './block.js';
import { fail, ok, type Decoded } from './result.js';
import type { Uuid } from './uuid.js';

/** ARProperties bits [IEC 61158-6-10]. */
export const ARProperties = {
  StateActive: 0x00000001,
  SupervisorTakeoverAllowed: 0x00000008,
  ParametrizationServerCmInitiator: 0x00000010,
  DeviceAccess: 0x00000100,
  AcknowledgeCompanionAR: 0x00000800,
  StartupModeAdvanced: 0x40000000,
  PullModuleAlarmAllowed: 0x80000000,
} as const;

/** Device-access AR: active, parameters by the CM initiator, device access. */
export const DEVICE_ACCESS_AR_PROPERTIES =
  ARProperties.StateActive | ARProperties.ParametrizationServerCmInitiator | ARProperties.DeviceAccess;

export interface ArBlockReq {
  readonly arType: number;
  readonly arUuid: Uuid;
  readonly sessionKey: number;
  /** `aa:bb:cc:dd:ee:ff`. */
  readonly initiatorMac: string;
  readonly initiatorObjectUuid: Uuid;
  readonly arProperties: number;
  /** Units of 100 ms, 1..1000 [IEC 61158-6-10 CMInitiatorActivityTimeoutFactor]. */
  readonly activityTimeoutFactor: number;
  readonly initiatorUdpRtPort: number;
  readonly stationName: string;
}

export interface ArBlockRes {
  readonly arType: number;
  readonly arUuid: Uuid;
  readonly sessionKey: number;
  readonly responderMac: string;
  readonly responderUdpRtPort: number;
}

export const isDeviceAccess = (props: number): boolean => (props & ARProperties.DeviceAccess) !== 0;

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const macBytes = (mac: string): Buffer => Buffer.from(mac.replace(/:/g, ''), 'hex');
const macText = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

const AR_REQ_FIXED = 52; // content before the station name

export function encodeArBlockReq(a: ArBlockReq): Buffer {
  if (!MAC_RE.test(a.initiatorMac)) throw new RangeError(`initiator MAC ${a.initiatorMac}`);
  const name = Buffer.from(a.stationName, 'latin1');
  const w = new Writer();
  w.u16(a.arType).uuid(a.arUuid).u16(a.sessionKey).bytes(macBytes(a.initiatorMac)).uuid(a.initiatorObjectUuid);
  w.u32(a.arProperties).u16(a.activityTimeoutFactor).u16(a.initiatorUdpRtPort).u16(name.length).bytes(name);
  return encodeBlock(BlockType.ARBlockReq, w.toBuffer());
}

export function decodeArBlockReq(b: Block): Decoded<ArBlockReq> {
  const e = expectBlock(b, BlockType.ARBlockReq);
  if (!e.ok) return e;
  if (b.content.length < AR_REQ_FIXED)
    return fail('block-length', `ARBlockReq content ${b.content.length} < ${AR_REQ_FIXED}`);
  const r = new Reader(b.content);
  const arType = r.u16();
  const arUuid = r.uuid();
  const sessionKey = r.u16();
  const initiatorMac = macText(r.bytes(6));
  const initiatorObjectUuid = r.uuid();
  const arProperties = r.u32();
  const activityTimeoutFactor = r.u16();
  const initiatorUdpRtPort = r.u16();
  const nameLength = r.u16();
  if (nameLength < 1 || nameLength > 240) return fail('field-value', `StationNameLength ${nameLength} outside 1..240`);
  if (r.remaining !== nameLength)
    return fail('block-length', `StationNameLength ${nameLength}, ${r.remaining} bytes left in block`);
  const stationName = r.bytes(nameLength).toString('latin1');
  return ok({
    arType,
    arUuid,
    sessionKey,
    initiatorMac,
    initiatorObjectUuid,
    arProperties,
    activityTimeoutFactor,
    initiatorUdpRtPort,
    stationName,
  });
}

export function encodeArBlockRes(a: ArBlockRes): Buffer {
  if (!MAC_RE.test(a.responderMac)) throw new RangeError(`responder MAC ${a.responderMac}`);
  const w = new Writer();
  w.u16(a.arType).uuid(a.arUuid).u16(a.sessionKey).bytes(macBytes(a.responderMac)).u16(a.responderUdpRtPort);
  return encodeBlock(BlockType.ARBlockRes, w.toBuffer());
}

export function decodeArBlockRes(b: Block): Decoded<ArBlockRes> {
  const e = expectBlock(b, BlockType.ARBlockRes, 28);
  if (!e.ok) return e;
  const r = new Reader(b.content);
  return ok({
    arType: r.u16(),
    arUuid: r.uuid(),
    sessionKey: r.u16(),
    responderMac: macText(r.bytes(6)),
    responderUdpRtPort: r.u16(),
  });
}
