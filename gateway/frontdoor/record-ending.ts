/**
 * The ProfinetClient's result → how the record request ended (outcome, the client's text, the audit facts).
 * One place decides what the client and the trail are told about a request that reached the device: once it
 * was sent and no valid answer says how it ended, its fate is unknown (`mayHaveExecuted`), whatever the answer's
 * shape — nothing sent says "nothing sent", and a failure in front of a write (its AR connect) says "nothing
 * written". The gRPC status of each outcome is in grpc-record-status.ts.
 */
import type { ProfinetResult } from '../upstream/profinet-types.js';
import type { Ending } from './record-events.js';

const NOTHING_WRITTEN = 'AR connect; nothing written';

/**
 * `timeout`: a read unanswered after its one retry, or the AR connect in front of a write (nothing written).
 * `write-lost`: sent, unanswered. `malformed-answer`: sent, and the answer is no valid answer to it. `rpc-fault`:
 * sent, and the device answered a DCE/RPC fault (it failed while executing the call [C706 12.5.3.6]) or reject.
 * A failure of the AR connect in front of a write (fault, reject, malformed answer) is `unavailable`: nothing
 * was written.
 */
export function recordEnding(r: ProfinetResult, write: boolean): Ending {
  switch (r.kind) {
    case 'record':
      return write ? { outcome: 'ok' } : { outcome: 'ok', data: r.data };
    case 'pnio-error':
      return {
        outcome: 'pnio-error',
        pnioStatus: r.status.toString('hex'),
        pnioMeaning: r.name,
        detail: `pnio-error ${r.name}${r.stage === 'connect' ? ` (${NOTHING_WRITTEN})` : ''}: ${r.meaning}`,
      };
    case 'rpc-fault':
      if (r.stage === 'connect')
        return { outcome: 'unavailable', detail: `rpc-${r.packet} ${r.name} (${NOTHING_WRITTEN})` };
      return {
        outcome: 'rpc-fault',
        detail: `rpc-${r.packet} ${r.name} (${r.stage}): the request was sent; it may have been executed`,
        mayHaveExecuted: true,
      };
    case 'timeout':
      return r.stage === 'connect'
        ? { outcome: 'timeout', detail: 'timeout: the AR connect got no answer; nothing written' }
        : { outcome: 'timeout', detail: 'timeout: no answer from the device', mayHaveExecuted: true };
    case 'write-lost':
      return {
        outcome: 'write-lost',
        detail: 'write-lost: the write was sent and no answer came; it may have been executed',
        mayHaveExecuted: true,
      };
    case 'unavailable':
      return { outcome: 'unavailable', detail: `unavailable: ${r.reason}; nothing sent` };
    case 'malformed-answer':
      if (r.stage === 'connect')
        return {
          outcome: 'unavailable',
          detail: `malformed-answer ${r.reason} (${NOTHING_WRITTEN})`,
          raw: r.raw.toString('hex'),
        };
      return {
        outcome: 'malformed-answer',
        detail: `malformed-answer: ${r.reason}; the request was sent; it may have been executed`,
        raw: r.raw.toString('hex'),
        mayHaveExecuted: true,
      };
    case 'queue-full':
      return { outcome: 'queue-full', detail: 'queue-full: the device queue is full; nothing sent' };
    case 'aborted':
      return r.sent === true
        ? {
            outcome: 'aborted',
            detail:
              'aborted: the session ended or a lock stopped the read after it was sent, before its retransmission',
            mayHaveExecuted: true,
          }
        : { outcome: 'aborted', detail: 'aborted: the session ended or a lock stopped the request before it was sent' };
    case 'invalid-argument':
      return { outcome: 'invalid-request', detail: `invalid-request ${r.reason}` };
  }
}
