/**
 * What the simulated PROFINET device saw, so a test can prove from the outside what reached it — above all
 * that ZERO datagrams arrived for a request the gateway's policy denied. Every UDP datagram is counted
 * before anything else looks at it; record reads and writes are counted per (api, slot, subslot, index)
 * whatever their outcome; `applied` counts writes that changed a record.
 */
import type { RecordAddress } from '../../protocols/profinet/index.js';

export type PnOp = 'read-implicit' | 'read' | 'write' | 'connect' | 'release';

export interface PnSimCounters {
  /** Every UDP datagram received while up (fragments, duplicates and garbage included). */
  readonly datagrams: number;
  /** Whole requests decoded, by operation. */
  readonly requests: Readonly<Record<string, number>>;
  /** Reads (implicit or in an AR) addressed to `recordKey(...)`, any outcome. */
  readonly reads: Readonly<Record<string, number>>;
  /** Writes addressed to `recordKey(...)`, any outcome. */
  readonly writes: Readonly<Record<string, number>>;
  /** Writes that changed a record. */
  readonly applied: Readonly<Record<string, number>>;
  /** Answers with a PNIOStatus ≠ 0, by 8-digit hex status. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Datagrams that are no valid request (header, fragments, NDR, blocks). */
  readonly malformed: number;
  /** Non-request packets (ping, ack, …): not answered. */
  readonly ignored: number;
  /** Retransmitted requests answered again from the answer cache, not executed again. */
  readonly duplicates: number;
  /** Answer datagrams sent (fragments count one each). */
  readonly answers: number;
  /** Requests whose answer was not sent (silent / drop-answers). */
  readonly dropped: number;
  /** Garbage datagrams sent by the garbage fault. */
  readonly garbage: number;
  readonly userIndexReads: number;
  readonly ars: {
    readonly current: number;
    readonly peak: number;
    readonly established: number;
    readonly refused: number;
    readonly released: number;
    readonly expired: number;
  };
  readonly restarts: number;
}

/** Counter key of a record: `api/slot/subslot/0xINDEX` (decimal api/slot/subslot, 4 hex digits of index). */
export function recordKey(a: RecordAddress): string {
  return `${a.api}/${a.slot}/${a.subslot}/0x${a.index.toString(16).padStart(4, '0')}`;
}

interface ArCounts {
  current: number;
  peak: number;
  established: number;
  refused: number;
  released: number;
  expired: number;
}
type Mutable = {
  -readonly [K in Exclude<keyof PnSimCounters, 'ars'>]: PnSimCounters[K] extends number
    ? number
    : Record<string, number>;
} & { ars: ArCounts };

function fresh(): Mutable {
  return {
    datagrams: 0,
    requests: {},
    reads: {},
    writes: {},
    applied: {},
    statuses: {},
    malformed: 0,
    ignored: 0,
    duplicates: 0,
    answers: 0,
    dropped: 0,
    garbage: 0,
    userIndexReads: 0,
    ars: { current: 0, peak: 0, established: 0, refused: 0, released: 0, expired: 0 },
    restarts: 0,
  };
}

const bump = (m: Record<string, number>, k: string): void => {
  m[k] = (m[k] ?? 0) + 1;
};

export class PnCounterSet {
  #c = fresh();

  datagram(): void {
    this.#c.datagrams++;
  }
  request(op: PnOp): void {
    bump(this.#c.requests, op);
  }
  read(a: RecordAddress): void {
    bump(this.#c.reads, recordKey(a));
  }
  write(a: RecordAddress): void {
    bump(this.#c.writes, recordKey(a));
  }
  applied(a: RecordAddress): void {
    bump(this.#c.applied, recordKey(a));
  }
  status(hex: string): void {
    bump(this.#c.statuses, hex);
  }
  inc(
    k: 'malformed' | 'ignored' | 'duplicates' | 'answers' | 'dropped' | 'garbage' | 'userIndexReads' | 'restarts',
  ): void {
    this.#c[k]++;
  }
  ar(event: 'established' | 'refused' | 'released' | 'expired', current: number): void {
    const a = this.#c.ars;
    a[event]++;
    a.current = current;
    a.peak = Math.max(a.peak, current);
  }

  /** The live AR count changed without an AR event (a restart dropped them all). */
  arCurrent(current: number): void {
    this.#c.ars.current = current;
  }

  /** Zero everything but the live AR count. */
  reset(): void {
    const current = this.#c.ars.current;
    this.#c = fresh();
    this.#c.ars.current = current;
    this.#c.ars.peak = current;
  }

  snapshot(): PnSimCounters {
    return structuredClone(this.#c);
  }
}
