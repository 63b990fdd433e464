/**
 * Transport outcomes → the results a caller sees. One place decides what "no answer" means: a read that
 * got no answer after its retransmission is `timeout`; a write that was sent and got no answer is
 * `write-lost` (it may have been executed, like Modbus exception 0x0B); an AR connect that got no answer is
 * `timeout` with stage `connect` (nothing was written).
 */
import { describePnioStatus, isPnioOk, pnioStatusToU32, type PnioStatus } from '../../protocols/profinet/index.js';
import type { CallOutcome } from './profinet-transport.js';
import type { ProfinetResult, ProfinetStage } from './profinet-types.js';

/** The 4 PNIOStatus bytes, ErrorCode first. */
export function statusBytes(s: PnioStatus): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(pnioStatusToU32(s));
  return b;
}

export function pnioError(s: PnioStatus, stage: ProfinetStage): ProfinetResult {
  const d = describePnioStatus(s);
  return { kind: 'pnio-error', status: statusBytes(s), name: d.name, meaning: d.meaning, stage };
}

/** `unknown-ar` (xx 81 40 05): the device does not know the AR the call named; it did not run the call. */
export function isUnknownAr(s: PnioStatus): boolean {
  return !isPnioOk(s) && describePnioStatus(s).name === 'unknown-ar';
}

/** Every outcome but `answer`, mapped for the given stage. */
export function failedOutcome(o: Exclude<CallOutcome, { kind: 'answer' }>, stage: ProfinetStage): ProfinetResult {
  switch (o.kind) {
    case 'malformed':
      return { kind: 'malformed-answer', raw: o.raw, reason: o.reason, detail: o.detail, stage };
    case 'fault':
      return { kind: 'rpc-fault', packet: o.packet, nca: o.nca, name: o.name, stage };
    case 'silent':
      return stage === 'write' ? { kind: 'write-lost' } : { kind: 'timeout', stage };
    case 'not-sent':
      return { kind: 'unavailable', sent: false, reason: o.reason };
    case 'aborted':
      // A write aborted before its transmission was never sent (writes are sent once). A read aborted before its
      // retransmission DID reach the device: the trail must say so (a read of an unexpected index can be what
      // brought a device stack down).
      return o.sent ? { kind: 'aborted', sent: true } : { kind: 'aborted' };
  }
}
