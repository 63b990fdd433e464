/**
 * The Modbus/TCP side of a simulated PLC, shaped like small field devices:
 * - Connection limit (default 4, like a Schneider M218 [docs/architecture.md "Lessons from Modbus proxies"]). A
 *   connection over the limit is accepted by the kernel and closed at once (FIN; `overLimit: 'reset'` sends RST
 *   instead), as many small PLCs do; it is counted in `connections.refused`. Clients see a connect that succeeds and
 *   then EOF/ECONNRESET.
 * - Per-connection in-flight limit (default 1): requests on one connection are executed in arrival order,
 *   later ones wait in the socket buffer (reading pauses when the queue is long) [MB-TCP 4.2: many devices
 *   handle one transaction at a time].
 * - Scan delay (default 10 ms, 0 for benchmarks): the answer leaves after the delay, as a PLC answers at the
 *   end of a scan, on the simulator's timers (sim-timers.ts). The request is executed when the answer is built.
 * - Malformed MBAP (protocol id ≠ 0, bad length) closes the connection.
 * - Faults (silent / close / exception / slow) are read per request, so switching them takes effect at once.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { MbapFramer, encodeAdu, exceptionPdu } from '../protocols/modbus/index.js';
import type { Frame } from '../protocols/modbus/types.js';
import type { Fault } from './fault.js';
import type { CounterSet } from './sim-counters.js';
import type { SimLogger } from './sim-logger.js';
import type { SimTimers } from './sim-timers.js';

export interface PlcServerOptions {
  readonly host: string;
  readonly maxConnections: number;
  readonly maxInFlight: number;
  readonly scanDelayMs: number;
  readonly overLimit: 'close' | 'reset';
  /** Executes one request: the response PDU, or null for no response. */
  readonly handle: (unit: number, pdu: Buffer) => Buffer | null;
  readonly fault: () => Fault;
  readonly counters: CounterSet;
  readonly logger: SimLogger;
  /** Arms the scan and slow-fault delays. */
  readonly timers: SimTimers;
}

/** Frames queued per connection before reading pauses (TCP back-pressure does the rest). */
const QUEUE_HIGH_WATER = 32;

export class PlcServer {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly opts: PlcServerOptions) {}

  /** Listens on `port` (0 = ephemeral) and resolves with the bound port. */
  async listen(port: number): Promise<number> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Stops listening and drops every connection (a PLC losing power). */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    const { counters, logger } = this.opts;
    if (this.sockets.size >= this.opts.maxConnections) {
      counters.connectionRefused();
      logger.warn(
        { remote: socket.remoteAddress, limit: this.opts.maxConnections },
        'connection limit reached: closing',
      );
      if (this.opts.overLimit === 'reset') socket.resetAndDestroy();
      else socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    this.sockets.add(socket);
    counters.connectionOpened();
    socket.once('close', () => {
      this.sockets.delete(socket);
      counters.connectionClosed();
    });
    socket.on('error', (err) => logger.debug({ err: err.message }, 'socket error'));
    new Connection(socket, this.opts).start();
  }
}

/** One client connection: framing, the in-order queue and the scan delay. */
class Connection {
  private readonly framer = new MbapFramer();
  private readonly queue: Frame[] = [];
  private inFlight = 0;

  constructor(
    private readonly socket: Socket,
    private readonly opts: PlcServerOptions,
  ) {}

  start(): void {
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  private onData(chunk: Buffer): void {
    this.framer.push(chunk);
    for (;;) {
      const r = this.framer.next();
      if (r.kind === 'need-more') break;
      if (r.kind === 'malformed') {
        this.opts.counters.malformed();
        this.opts.logger.warn({ reason: r.reason, detail: r.detail }, 'malformed MBAP: closing');
        this.socket.destroy();
        return;
      }
      this.queue.push(r.frame);
    }
    if (this.queue.length >= QUEUE_HIGH_WATER) this.socket.pause();
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < this.opts.maxInFlight && this.queue.length > 0 && !this.socket.destroyed) {
      const frame = this.queue.shift() as Frame;
      this.inFlight++;
      this.serve(frame, () => {
        this.inFlight--;
        if (this.queue.length < QUEUE_HIGH_WATER / 2) this.socket.resume();
        this.pump();
      });
    }
  }

  private serve(frame: Frame, done: () => void): void {
    const { counters } = this.opts;
    const fc = frame.pdu[0] ?? 0;
    counters.request(fc);
    const fault = this.opts.fault();
    if (fault.mode === 'silent') {
      counters.dropped();
      done();
      return;
    }
    if (fault.mode === 'close') {
      counters.closedByFault();
      this.socket.destroy();
      done();
      return;
    }
    const delay = this.opts.scanDelayMs + (fault.mode === 'slow' ? fault.delayMs : 0);
    const answer = (): void => {
      if (!this.socket.destroyed) this.answer(frame, fc);
      done();
    };
    if (delay > 0) this.opts.timers.setTimeout(answer, delay);
    else answer();
  }

  private answer(frame: Frame, fc: number): void {
    const { counters } = this.opts;
    // Read the fault again: it may have been switched during the scan delay.
    const fault = this.opts.fault();
    const pdu =
      fault.mode === 'exception'
        ? exceptionPdu(fc & 0x7f, fault.code)
        : this.opts.handle(frame.header.unitId, frame.pdu);
    if (pdu === null) {
      counters.dropped();
      return;
    }
    if ((pdu[0] ?? 0) & 0x80) counters.exception(pdu[1] ?? 0);
    this.socket.write(encodeAdu(frame.header.transactionId, frame.header.unitId, pdu));
  }
}
