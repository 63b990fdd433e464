/**
 * One request on an RTU line (rtu-line.ts) and what a whole answer frame becomes for it. Separate from the line,
 * which decides when a frame is whole (length, silence) and whose turn the wire is: here only what was asked
 * and whether the answer fits it (response-check.ts: address, function code, structure).
 */
import type { Logger } from '../logger.js';
import type { TimerHandle } from '../timers.js';
import { checkResponse } from './response-check.js';
import type { LineCounters } from './rtu-line-counters.js';
import type { UpstreamResult } from './types.js';

/** The request on the wire: `late` once its deadline passed (the line stays reserved for its late answer). */
export interface Exchange<J> {
  readonly tag: number;
  readonly job: J;
  readonly unitId: number;
  readonly reqPdu: Buffer;
  state: 'live' | 'late';
  grace?: TimerHandle;
}

/** A frame cut by length, waiting for t3.5 of silence to prove it ended there. */
export interface HeldAnswer<J> {
  readonly cur: Exchange<J>;
  readonly address: number;
  readonly pdu: Buffer;
  readonly bytes: number;
}

/** A whole frame for the live request `cur`: counted, and the answer when it fits, else `invalid-response` (0x0B). */
export function judgeAnswer<J>(
  cur: Exchange<J>,
  address: number,
  pdu: Buffer,
  counters: LineCounters,
  log: Logger,
  line: number,
): UpstreamResult {
  const check = checkResponse(cur.unitId, cur.reqPdu, address, pdu);
  if (!check.ok) {
    counters.invalid++;
    log.debug({ line, unit: cur.unitId, reason: check.reason }, 'RTU answer does not fit its request: 0x0B');
    return { kind: 'invalid-response', reason: check.reason };
  }
  counters.responses++;
  return { kind: 'response', pdu, latencyMs: 0 };
}
