/**
 * What identifies one PNIO-CM call on the wire, and the RPC header of its request and of its answer.
 * The gateway picks a fresh activity UUID per device AR/session and a new sequence number per call; the
 * answer repeats both, plus the opnum and interface [C706 12.2; IEC 61158-6-10].
 */
import { PacketType } from './constants.js';
import { rpcHeader, type RpcHeader } from './rpc-header.js';
import { PNIO_DEVICE_INTERFACE, type Uuid } from './uuid.js';

export interface CallInit {
  readonly activityUuid: Uuid;
  readonly sequenceNumber: number;
  /** The device's object UUID (`pnioObjectUuid(vendor, device, instance)`). */
  readonly objectUuid: Uuid;
  /** DREP 0x10; big-endian when absent. */
  readonly littleEndian?: boolean;
  readonly interfaceUuid?: Uuid;
  readonly flags1?: number;
  readonly serverBoot?: number;
}

export function requestHeader(call: CallInit, opnum: number): RpcHeader {
  return rpcHeader({
    packetType: PacketType.Request,
    activityUuid: call.activityUuid,
    sequenceNumber: call.sequenceNumber,
    opnum,
    objectUuid: call.objectUuid,
    interfaceUuid: call.interfaceUuid ?? PNIO_DEVICE_INTERFACE,
    littleEndian: call.littleEndian ?? false,
    flags1: call.flags1 ?? 0,
    serverBoot: call.serverBoot ?? 0,
  });
}

export interface AnswerInit {
  /** Byte order of the answer; common stacks always answer big-endian, whatever the request used. */
  readonly littleEndian?: boolean;
  readonly serverBoot?: number;
  readonly packetType?: number;
  readonly flags1?: number;
}

/** The header of an answer to `request`: same activity, sequence, opnum, object and interface. */
export function answerHeader(request: RpcHeader, a: AnswerInit = {}): RpcHeader {
  return {
    ...request,
    packetType: a.packetType ?? PacketType.Response,
    littleEndian: a.littleEndian ?? false,
    flags1: a.flags1 ?? 0,
    flags2: 0,
    serial: 0,
    serverBoot: a.serverBoot ?? 0,
    bodyLength: 0,
    fragmentNumber: 0,
  };
}
