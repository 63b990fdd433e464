/**
 * The device logbook (index 0xF830, LogBookData block 0x0019) [IEC 61158-6-10]: a ring of the last N events
 * with a local timestamp, the AR concerned and a PNIOStatus. The simulator logs AR establishment, release,
 * refusal and timeout itself, like device stacks do; tests and operators add entries through the control
 * channel. Timestamps are the injected clock in milliseconds (the device defines the epoch).
 */
import {
  encodeLogBook,
  NIL_UUID,
  PNIO_OK,
  type LogEntry,
  type PnioStatus,
  type Uuid,
} from '../../protocols/profinet/index.js';

/** EntryDetail values this simulator writes (manufacturer specific in the spec). */
export const LogDetail = {
  Injected: 0,
  ArEstablished: 1,
  ArReleased: 2,
  ArRefused: 3,
  ArTimedOut: 4,
  Restarted: 5,
} as const;

export class LogbookRing {
  #entries: LogEntry[] = [];

  constructor(
    private readonly size: number,
    private readonly now: () => number,
  ) {}

  add(status: PnioStatus = PNIO_OK, entryDetail = LogDetail.Injected as number, arUuid: Uuid = NIL_UUID): LogEntry {
    const e: LogEntry = { localTimeStamp: stamp(this.now()), arUuid, status, entryDetail: entryDetail >>> 0 };
    this.#entries.push(e);
    if (this.#entries.length > this.size) this.#entries.shift();
    return e;
  }

  clear(): void {
    this.#entries = [];
  }

  list(): readonly LogEntry[] {
    return this.#entries;
  }

  record(): Buffer {
    return encodeLogBook({ actualLocalTimeStamp: stamp(this.now()), entries: this.#entries });
  }
}

function stamp(ms: number): string {
  return BigInt(Math.max(0, Math.floor(ms)))
    .toString(16)
    .padStart(16, '0');
}
