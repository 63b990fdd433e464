/**
 * Transports to a Modbus RTU line [MB-SERIAL]: a serial port (an RS-485 adapter, or a PTY in the lab) through
 * the `serialport` package, or raw RTU frames over TCP to a serial device server (Moxa NPort style "TCP server"
 * mode). Either way the pool gets one RtuLine with one slot: every unit on the line shares it.
 *
 * Timing: t3.5 and the character time follow the port's format (rtu-timing.ts); a device server hides the
 * wire, so its inter-frame delay is configured (default: t3.5 of 9600 baud 8E1, the spec's default format
 * [MB-SERIAL 2.5.1]). The receive gap that ends an unknown-length frame (or cuts a truncated one) is never below
 * 100 ms on a port: USB adapters deliver bytes in chunks up to ~16 ms apart (FTDI latency timer) and a PTY's
 * relay can be descheduled for tens of ms on a busy box, and a frame split that way must not read as two bad
 * ones. Frames of known length complete on their last byte, so the floor only slows the error path.
 *
 * Late-reply grace: a timed-out request keeps the line only `rtuLateGraceMs` (max(receive gap, 250 ms)), not the
 * pool's default of a whole `timeoutMs`: otherwise every request to a dead meter holds the line for twice the
 * timeout and starves the healthy units behind it. The trade-off: RTU has no transaction id, so a unit answering
 * later than timeout + grace could have its answer taken for the next request to the same unit with the same
 * shape; the response timeout must cover the slowest unit on the line [MB-SERIAL 2.4.1].
 *
 * Closing: RtuLine ends its stream with destroy(), and `serialport`'s stream does not close the port on destroy
 * (it has no `_destroy`): the descriptor, its exclusive lock (the next open failed "Cannot lock port") and the
 * read waiting on the port's poller outlived the line. When the other end then hung up (a PTY whose socat went,
 * an adapter unplugged), that read could become an endless loop of zero-byte reads (@serialport/bindings-cpp 13
 * retries a read of 0 bytes: serialport/bindings-cpp#162) and the process never exited. LinePort closes the port
 * on destroy, so a closed line holds nothing. (A line still open when its device hangs up meets the same loop.)
 */
import { SerialPort } from 'serialport';
import { charTimeMs, interFrameSilenceMs, type LineFormat } from '../../protocols/modbus/index.js';
import { errorMessage } from '../errors.js';
import { defaultDialer } from './default-dialer.js';
import { newLineCounters, snapshotLineCounters, type LineCounters } from './rtu-line-counters.js';
import { RtuLine } from './rtu-line.js';
import type { LineTiming } from './rtu-line-silence.js';
import type { PlcDialer, UpstreamTransport } from './types.js';

/** An RTU transport keeps its line's counters across reopenings. */
export interface RtuTransport extends UpstreamTransport {
  counters(): LineCounters;
  /** The line's timing (t3.5, character time, turnaround, receive gap). */
  readonly timing: LineTiming;
}

export interface SerialLineOptions {
  readonly path: string;
  readonly format: LineFormat;
  /** Silence after a broadcast [MB-SERIAL 2.4.1: typically 100–200 ms]. */
  readonly turnaroundMs: number;
  /** Overrides t3.5 from the format. */
  readonly interFrameMs?: number;
}

export interface RtuOverTcpOptions {
  readonly host: string;
  readonly port: number;
  readonly turnaroundMs: number;
  /** Inter-frame delay kept between frames; default t3.5 of 9600 baud 8E1 (≈ 4 ms). */
  readonly interFrameMs?: number;
  readonly dialer?: PlcDialer;
}

const PORT_GAP_FLOOR_MS = 100;
const TCP_GAP_FLOOR_MS = 100;
const LATE_GRACE_FLOOR_MS = 250;
export const DEFAULT_LINE_FORMAT: LineFormat = { baudRate: 9600, dataBits: 8, parity: 'even', stopBits: 1 };

/** How long a timed-out request keeps the line for its late answer (the pool's `lateReplyGraceMs`), ms. */
export function rtuLateGraceMs(timing: LineTiming): number {
  return Math.max(timing.frameGapMs, LATE_GRACE_FLOOR_MS);
}

export function serialLineTiming(o: SerialLineOptions): LineTiming {
  const silenceMs = o.interFrameMs ?? interFrameSilenceMs(o.format);
  return {
    silenceMs,
    charMs: charTimeMs(o.format),
    turnaroundMs: o.turnaroundMs,
    frameGapMs: Math.max(silenceMs, PORT_GAP_FLOOR_MS),
  };
}

export function rtuOverTcpTiming(o: RtuOverTcpOptions): LineTiming {
  const silenceMs = o.interFrameMs ?? interFrameSilenceMs(DEFAULT_LINE_FORMAT);
  return {
    silenceMs,
    charMs: charTimeMs(DEFAULT_LINE_FORMAT),
    turnaroundMs: o.turnaroundMs,
    frameGapMs: Math.max(silenceMs, TCP_GAP_FLOOR_MS),
  };
}

export function serialTransport(o: SerialLineOptions): RtuTransport {
  const counters = newLineCounters();
  const timing = serialLineTiming(o);
  return {
    target: o.path,
    maxLinks: 1,
    timing,
    counters: () => snapshotLineCounters(counters),
    async open(settings, signal) {
      const port = await openPort(o, signal);
      counters.opened++;
      return new RtuLine(port, settings, timing, counters);
    },
  };
}

export function rtuOverTcpTransport(o: RtuOverTcpOptions): RtuTransport {
  const counters = newLineCounters();
  const timing = rtuOverTcpTiming(o);
  const dial = o.dialer ?? defaultDialer;
  return {
    target: `${o.host}:${o.port}`,
    maxLinks: 1,
    timing,
    counters: () => snapshotLineCounters(counters),
    async open(settings, signal) {
      const socket = await dial(o.host, o.port, signal);
      counters.opened++;
      return new RtuLine(socket, settings, timing, counters);
    },
  };
}

/** Opens the port with the line's format; rejects when it cannot, or when `signal` aborts first. */
function openPort(o: SerialLineOptions, signal: AbortSignal): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error(`open ${o.path} aborted`));
      return;
    }
    const f = o.format;
    const port = new LinePort({
      path: o.path,
      baudRate: f.baudRate,
      dataBits: f.dataBits,
      parity: f.parity,
      stopBits: f.stopBits,
      autoOpen: false,
    });
    const onAbort = (): void => {
      port.destroy();
      reject(new Error(`open ${o.path} timed out or was aborted`));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    port.open((err) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) {
        // Opened after the caller gave up (destroyed while opening, so destroy() had nothing to close yet).
        if (!err) port.close(() => undefined);
        return;
      }
      if (err) {
        port.destroy();
        reject(new Error(`open ${o.path}: ${errorMessage(err)}`));
      } else resolve(port);
    });
  });
}

/** A serial port that closes (descriptor, lock, poller) when destroyed; see the header. */
class LinePort extends SerialPort {
  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    const binding = this.port;
    if (binding === undefined || !binding.isOpen) {
      callback(err);
      return;
    }
    // Closing the binding cancels the read waiting on its poller; a failed close leaves nothing else to do.
    binding.close().then(
      () => callback(err),
      () => callback(err),
    );
  }
}
