/**
 * What happened on one RTU line, kept across reopenings of the port (one object per line, owned by its
 * transport): the evidence that noise was seen and never passed on. Plain numbers, read by `stats()`.
 */
import type { RtuCorruptReason } from '../../protocols/modbus/index.js';

export interface LineCounters {
  /** Unicast requests sent. */
  requests: number;
  /** Broadcast writes sent (no answer awaited). */
  broadcasts: number;
  /** Answers that passed CRC and the response check and went to the client. */
  responses: number;
  /** Bad frames by reason (CRC error, cut short by silence, impossible length): each answered 0x0B or dropped. */
  readonly corrupt: Record<RtuCorruptReason, number>;
  /** Well-formed frames that do not answer the request (other address, other function code, bad structure). */
  invalid: number;
  /** Requests whose deadline passed before an answer. */
  timeouts: number;
  /** Answers that came after their request timed out (dropped). */
  lateAnswers: number;
  /** Timed-out requests whose answer never came within the grace period. */
  noAnswer: number;
  /** Frames (or bad frames) received while no request was waiting. */
  unsolicited: number;
  /** Bytes dropped: after a bad frame until silence, or left over when a new exchange began. */
  garbageBytes: number;
  /** Times the port (or device-server connection) was opened. */
  opened: number;
}

export function newLineCounters(): LineCounters {
  return {
    requests: 0,
    broadcasts: 0,
    responses: 0,
    corrupt: { crc: 0, truncated: 0, 'too-long': 0, 'too-short': 0 },
    invalid: 0,
    timeouts: 0,
    lateAnswers: 0,
    noAnswer: 0,
    unsolicited: 0,
    garbageBytes: 0,
    opened: 0,
  };
}

/** A copy safe to hand out (logs, JSON, tests). */
export function snapshotLineCounters(c: LineCounters): LineCounters {
  return { ...c, corrupt: { ...c.corrupt } };
}
