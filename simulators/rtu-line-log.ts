/**
 * What a simulated RTU server saw on its line, for tests that check the master's manners [MB-SERIAL 2.5.1.1]:
 * the time each request began and each answer finished leaving, broadcasts, and frames that arrived while the
 * server was still busy (two frames on the line at once). Bounded: the newest `limit` events.
 */
export type LineEventKind = 'request' | 'broadcast' | 'answer-end' | 'collision' | 'bad-frame' | 'noise';

export interface LineEvent {
  /** The line's clock (SimTimers.now(); real: performance.now()), ms. */
  readonly at: number;
  readonly kind: LineEventKind;
  readonly unit: number;
  readonly fc: number;
  /** The first word after the function code (a request's start address), or -1. */
  readonly ref: number;
}

export interface RtuStats {
  readonly requests: number;
  readonly broadcasts: number;
  readonly answers: number;
  /** Frames that began while this server was still working on or sending the previous answer. */
  readonly collisions: number;
  /** Frames dropped for a CRC error or an impossible length (a real server ignores them). */
  readonly badFrames: number;
  /** Answers corrupted or cut short on purpose (`noise` fault). */
  readonly noiseInjected: number;
  /** Requests to an address no unit of this line has: no answer, as on a real line. */
  readonly notForUs: number;
}

export class RtuLineLog {
  readonly #events: LineEvent[] = [];
  readonly #limit: number;
  #stats = { requests: 0, broadcasts: 0, answers: 0, collisions: 0, badFrames: 0, noiseInjected: 0, notForUs: 0 };

  constructor(limit = 2000) {
    this.#limit = limit;
  }

  record(kind: LineEventKind, unit: number, fc: number, at: number, ref = -1): void {
    this.#events.push({ at, kind, unit, fc, ref });
    if (this.#events.length > this.#limit) this.#events.shift();
    if (kind === 'request') this.#stats.requests++;
    else if (kind === 'broadcast') this.#stats.broadcasts++;
    else if (kind === 'answer-end') this.#stats.answers++;
    else if (kind === 'collision') this.#stats.collisions++;
    else if (kind === 'bad-frame') this.#stats.badFrames++;
    else this.#stats.noiseInjected++;
  }

  notForUs(): void {
    this.#stats.notForUs++;
  }

  events(): LineEvent[] {
    return [...this.#events];
  }

  stats(): RtuStats {
    return { ...this.#stats };
  }

  reset(): void {
    this.#events.length = 0;
    this.#stats = {
      requests: 0,
      broadcasts: 0,
      answers: 0,
      collisions: 0,
      badFrames: 0,
      noiseInjected: 0,
      notForUs: 0,
    };
  }
}
