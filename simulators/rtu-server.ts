/**
 * The Modbus RTU side of a simulated line of servers [MB-SERIAL]: on a serial port (a PTY in tests and the lab)
 * or on TCP connections carrying raw RTU frames (a serial device server's "TCP server" mode). Behaves like the
 * servers on an RS-485 line:
 * - Requests are framed by length and CRC (protocols/modbus rtu-*); a bad frame is ignored (no answer), and
 *   the server waits for silence before it listens again.
 * - Each unit answers only its own address; an address no unit has gets no answer. Address 0 (broadcast) is
 *   executed by every unit and answered by none [MB-SERIAL 2.1].
 * - One request at a time: a frame that begins while the server is still busy (scan delay or sending) is a
 *   collision on a half-duplex line — logged and ignored.
 * - Answers leave at the line's baud rate (bytes paced per character time), so a slow baud rate is slow.
 * - The `noise` fault corrupts one bit of every n-th answer (a CRC error at the master) or cuts it short.
 */
import type { Duplex } from 'node:stream';
import {
  charTimeMs,
  encodeRtuFrame,
  interFrameSilenceMs,
  RTU_BROADCAST_ADDRESS,
  rtuRequestLength,
  RtuFramer,
  type LineFormat,
  type RtuFrameResult,
} from '../protocols/modbus/index.js';
import type { Fault } from './fault.js';
import type { RtuLineLog } from './rtu-line-log.js';
import type { CounterSet } from './sim-counters.js';
import type { SimLogger } from './sim-logger.js';
import type { SimTimerHandle, SimTimers } from './sim-timers.js';

export type RtuPace = 'bytes' | 'frame' | 'none';

export interface RtuServerOptions {
  readonly format: LineFormat;
  /**
   * Answers take their time on the wire at the baud rate: `bytes` writes them character by character (a serial
   * port); `frame` writes each whole frame once its time has passed (a serial device server's packet delimiter
   * puts one frame in one TCP segment); `none` at once.
   */
  readonly pace: RtuPace;
  readonly scanDelayMs: number;
  /** Executes one request for one unit: the response PDU, or null. */
  readonly handle: (unit: number, pdu: Buffer) => Buffer | null;
  /** Whether a unit of this line answers `unit`. */
  readonly serves: (unit: number) => boolean;
  readonly units: () => number[];
  readonly fault: () => Fault;
  readonly counters: CounterSet;
  readonly log: RtuLineLog;
  readonly logger: SimLogger;
  /** The line's clock and timers: inter-frame silence, scan delay, character pacing (sim-timers.ts). */
  readonly timers: SimTimers;
}

/** Serves one stream (a port, or one TCP connection) until it closes. */
export function serveRtu(stream: Duplex, o: RtuServerOptions): void {
  new RtuSession(stream, o).start();
}

class RtuSession {
  readonly #framer = new RtuFramer(rtuRequestLength);
  readonly #charMs: number;
  readonly #gapMs: number;
  #busy = false;
  #gapTimer: SimTimerHandle | undefined;
  #answers = 0;
  #closed = false;

  constructor(
    private readonly stream: Duplex,
    private readonly o: RtuServerOptions,
  ) {
    this.#charMs = charTimeMs(o.format);
    // Not below 100 ms: a PTY relay can be descheduled mid-frame on a busy box (see gateway rtu-transports.ts)
    this.#gapMs = Math.max(interFrameSilenceMs(o.format), 100);
  }

  start(): void {
    this.stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.stream.on('error', (err) => this.o.logger.debug({ err: err.message }, 'RTU stream error'));
    this.stream.once('close', () => {
      this.#closed = true;
      this.o.timers.clearTimeout(this.#gapTimer);
    });
  }

  #onData(chunk: Buffer): void {
    const at = this.o.timers.now();
    if (this.#busy) this.o.log.record('collision', chunk[0] ?? 0, chunk[1] ?? 0, at);
    this.#framer.push(chunk);
    for (let r = this.#framer.next(); r.kind !== 'need-more'; r = this.#framer.next()) this.#onFrame(r, at);
    this.o.timers.clearTimeout(this.#gapTimer);
    this.#gapTimer = this.o.timers.setTimeout(() => {
      const r = this.#framer.silence();
      if (r.kind !== 'need-more') this.#onFrame(r, this.o.timers.now());
    }, this.#gapMs);
  }

  #onFrame(r: Exclude<RtuFrameResult, { kind: 'need-more' }>, at: number): void {
    if (r.kind === 'corrupt') {
      this.o.counters.malformed();
      this.o.log.record('bad-frame', 0, 0, at);
      return;
    }
    const fc = r.pdu[0] ?? 0;
    if (this.#busy) return; // a collision, already logged: a half-duplex server cannot take it
    if (r.address === RTU_BROADCAST_ADDRESS) {
      this.o.log.record('broadcast', 0, fc, at);
      this.o.counters.request(fc);
      for (const unit of this.o.units()) this.o.handle(unit, r.pdu);
      return;
    }
    if (!this.o.serves(r.address)) {
      this.o.log.notForUs();
      return;
    }
    this.o.log.record('request', r.address, fc, at, r.pdu.length >= 3 ? r.pdu.readUInt16BE(1) : -1);
    this.o.counters.request(fc);
    this.#serve(r.address, r.pdu);
  }

  #serve(unit: number, pdu: Buffer): void {
    const fault = this.o.fault();
    if (fault.mode === 'silent') {
      this.o.counters.dropped();
      return;
    }
    this.#busy = true;
    const delay = this.o.scanDelayMs + (fault.mode === 'slow' ? fault.delayMs : 0);
    this.o.timers.setTimeout(() => this.#answer(unit, pdu), delay);
  }

  #answer(unit: number, pdu: Buffer): void {
    const fault = this.o.fault();
    const res =
      fault.mode === 'exception' ? Buffer.from([(pdu[0] ?? 0) | 0x80, fault.code & 0xff]) : this.o.handle(unit, pdu);
    if (res === null || this.#closed) {
      this.#busy = false;
      return;
    }
    if ((res[0] ?? 0) & 0x80) this.o.counters.exception(res[1] ?? 0);
    let frame = encodeRtuFrame(unit, res);
    if (fault.mode === 'noise' && ++this.#answers % fault.every === 0) {
      frame = fault.kind === 'crc' ? flipDataBit(frame) : frame.subarray(0, Math.max(1, frame.length >> 1));
      this.o.log.record('noise', unit, pdu[0] ?? 0, this.o.timers.now());
    }
    this.#send(frame, unit, pdu[0] ?? 0);
  }

  /** Writes the frame at the line's speed; the server is busy until its last byte has left. */
  #send(frame: Buffer, unit: number, fc: number): void {
    // The last character has left one character time after its write (logged as computed, not as a timer fires).
    const timers = this.o.timers;
    let lastWrite = timers.now();
    const done = (): void => {
      this.o.log.record('answer-end', unit, fc, lastWrite + (this.o.pace === 'none' ? 0 : this.#charMs));
      this.#busy = false;
    };
    if (this.o.pace === 'none') {
      this.stream.write(frame);
      done();
      return;
    }
    if (this.o.pace === 'frame') {
      timers.setTimeout(() => {
        if (!this.#closed) this.stream.write(frame);
        lastWrite = timers.now();
        done();
      }, frame.length * this.#charMs);
      return;
    }
    const start = timers.now();
    let sent = 0;
    const step = (): void => {
      if (this.#closed) return;
      const due = Math.min(frame.length, Math.max(1, Math.floor((timers.now() - start) / this.#charMs)));
      if (due > sent) {
        this.stream.write(frame.subarray(sent, due));
        sent = due;
        lastWrite = timers.now();
      }
      if (sent < frame.length) timers.setTimeout(step, 1);
      else timers.setTimeout(done, this.#charMs); // the last character is on the wire for one character time
    };
    step();
  }
}

/** One bit of the last data byte flipped, the CRC kept: the master must see a CRC error, never this value. */
function flipDataBit(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  const at = Math.max(1, out.length - 3);
  out[at] = (out[at] as number) ^ 0x01;
  return out;
}
