/**
 * Answers are matched by activity UUID + sequence number [C706 12.2 "activity"], never by source port: a
 * device may answer from another port, and anything on the segment can send to ours. The caller adds the
 * device address to the key; this codec does not know addresses.
 */
import { PacketType } from './constants.js';
import { fail, ok, type Decoded } from './result.js';
import type { RpcHeader } from './rpc-header.js';
import type { Uuid } from './uuid.js';

/** Key of one call: activity UUID (lowercase) + sequence number. */
export function callKey(activityUuid: Uuid, sequenceNumber: number): string {
  return `${activityUuid.toLowerCase()}#${sequenceNumber >>> 0}`;
}

export function callKeyOf(h: RpcHeader): string {
  return callKey(h.activityUuid, h.sequenceNumber);
}

/** The packet types a server sends back to a request [C706 12.5.3.1]. */
const ANSWER_TYPES = new Set<number>([
  PacketType.Response,
  PacketType.Fault,
  PacketType.Reject,
  PacketType.Working,
  PacketType.NoCall,
  PacketType.Fack,
  PacketType.CancelAck,
]);

/**
 * Does `answer` belong to the call `request`? Same activity and sequence, an answer packet type, and for a
 * response the same opnum and interface (PNIO stacks echo both).
 */
export function answersCall(request: RpcHeader, answer: RpcHeader): Decoded<true> {
  if (callKeyOf(request) !== callKeyOf(answer)) {
    return fail('mismatch', `answer for ${callKeyOf(answer)}, call is ${callKeyOf(request)}`);
  }
  if (!ANSWER_TYPES.has(answer.packetType)) return fail('packet-type', `packet type ${answer.packetType} is no answer`);
  if (answer.packetType === PacketType.Response) {
    if (answer.opnum !== request.opnum)
      return fail('mismatch', `response opnum ${answer.opnum}, call opnum ${request.opnum}`);
    if (answer.interfaceUuid !== request.interfaceUuid) {
      return fail('mismatch', `response interface ${answer.interfaceUuid}, call interface ${request.interfaceUuid}`);
    }
  }
  return ok(true);
}
