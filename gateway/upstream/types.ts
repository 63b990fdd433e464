/**
 * Contracts of the upstream side (gateway → PLC): what the front door submits, what it gets back, and the
 * small interfaces injected by the composition root (dialer, timers, logger).
 * Outcomes are values, never thrown on the hot path [docs/architecture.md "Errors and outcomes"].
 */
import type net from 'node:net';
import type { BackoffOptions } from '../backoff.js';
import type { Logger } from '../logger.js';
import type { Timers } from '../timers.js';

/** One allowed request, already policy-checked. The client's own transaction id is NOT part of it. */
export interface UpstreamRequest {
  /** Identity the request is accounted to for fairness (e.g. the SPIFFE ID, or SPIFFE ID + session). */
  readonly clientKey: string;
  readonly unitId: number;
  /** Request PDU, function code first. */
  readonly pdu: Buffer;
  /** Writes are never replayed; reads are not either (see DevicePool docs). Kept for logs and metrics. */
  readonly isWrite: boolean;
  /** Aborting removes a still-queued request ('aborted', never sent); one already sent is not affected. */
  readonly signal?: AbortSignal;
  /**
   * Asked synchronously right before the request is written to the PLC socket (for MBAP over TCP: at the
   * turn's one write, plc-connection.ts); false (or a throw) drops it unsent ('aborted'). For gates that can
   * close while it waits without ending its session: a device lock.
   */
  readonly stillAllowed?: () => boolean;
}

/**
 * Result of one upstream request. The front door maps it to the client [docs/architecture.md "Request path" 12]:
 * timeout → 0x0B, unavailable / queue-full / aborted → 0x0A, invalid-response → 0x0B-like failure (its choice),
 * response → the PDU (which may itself be a PLC exception, FC|0x80).
 */
export type UpstreamResult =
  | { readonly kind: 'response'; readonly pdu: Buffer; readonly latencyMs: number }
  /**
   * `sent`: the deadline passed after the request was written to the PLC: it may have been executed (its late
   * answer is dropped). Without it, the request never left the gateway: it expired queued behind others, or
   * staged for the connection's next write, which then leaves it out (plc-connection.ts).
   */
  | { readonly kind: 'timeout'; readonly sent?: true }
  /**
   * `sent`: the request was written to the PLC's socket before the connection died: it may have been executed.
   * Without it, the request never left the gateway (no path, or its connection closed before the write).
   */
  | { readonly kind: 'unavailable'; readonly reason: string; readonly sent?: true }
  | { readonly kind: 'queue-full' }
  /** Its signal aborted or `stillAllowed` said no (a kill, a lock) before the write: it was never sent. */
  | { readonly kind: 'aborted' }
  | { readonly kind: 'invalid-response'; readonly reason: string };

/** Opens one TCP connection to a PLC. Must reject (not hang forever) when `signal` aborts. */
export type PlcDialer = (host: string, port: number, signal: AbortSignal) => Promise<net.Socket>;

export type { BackoffOptions } from '../backoff.js';

/**
 * One open path to the device that the pool sends requests on: a TCP connection framed with MBAP
 * (plc-connection.ts) or a Modbus RTU line (rtu-line.ts). `send` is called only while `freeSlots > 0` and
 * returns a tag the pool hands back to `expire` when that request's deadline passes.
 */
export interface UpstreamLink<J> {
  readonly id: number;
  /** Requests it may take now: 0 while full, draining, closed, or (a serial line) keeping its silence. */
  readonly freeSlots: number;
  /** Sent (or staged for this turn's write) and awaiting an answer. */
  readonly live: number;
  /** Timed out, still holding their slot for a late answer. */
  readonly late: number;
  /** True while requests sent this turn wait to be written together (plc-connection.ts); absent: never. */
  readonly batching?: boolean;
  send(job: J, unitId: number, pdu: Buffer): number;
  /**
   * That request's deadline passed. True when it had been written (it may have executed; a link keeps what it
   * needs for the late answer); false when it never was: still staged for a later write, it is taken out of
   * that write and its slot freed (plc-connection.ts). A link that writes inside `send` always answers true.
   */
  expire(tag: number): boolean;
  close(reason: string): void;
  whenClosed(): Promise<void>;
}

export interface LinkClosedInfo<J> {
  readonly reason: string;
  /** Written and never answered: the pool answers them 'unavailable' with `sent` (never replayed). */
  readonly lost: readonly J[];
  /**
   * Staged for the turn's write when the link closed, so never written (plc-connection.ts): the pool answers
   * them 'unavailable' without `sent` and does not requeue them (no path that could ever replay a request).
   */
  readonly unsent: readonly J[];
  /** Whether this link ever delivered a valid answer (a healthy device, for backoff accounting). */
  readonly everAnswered: boolean;
  /** True when the device (or the network, or the port) ended it; false when we closed it. */
  readonly byPeer: boolean;
  readonly sent: number;
}

export interface LinkEvents<J> {
  /** A sent request got its outcome. Called before any resulting close. */
  reply(job: J, result: UpstreamResult): void;
  /** The link can take work again: the pool may send more. */
  slotFreed(link: UpstreamLink<J>): void;
  /**
   * A staged request failed `mayStillSend` at the write and was dropped unwritten (its slot is free again).
   * Settle it only: do not send from inside; `slotFreed` follows once the turn's write is done.
   */
  unsent(job: J): void;
  /** The link is gone; called once. */
  closed(link: UpstreamLink<J>, info: LinkClosedInfo<J>): void;
}

/** What the pool tells a transport about the link it opens. */
export interface LinkSettings<J> {
  readonly id: number;
  readonly maxInFlight: number;
  readonly lateGraceMs: number;
  readonly logger: Logger;
  readonly timers: Timers;
  readonly events: LinkEvents<J>;
  /**
   * The last-moment gate, asked per request right before the bytes leave when that is later than `send`
   * (plc-connection.ts stages a turn's requests and writes them at setImmediate). False: not written,
   * reported through `unsent`. Must not throw: the pool passes `mayDispatch` (may-dispatch.ts), which fails
   * closed on a gate that throws. A link that writes inside `send` (rtu-line.ts) need not ask it: the
   * pool asked just before. Absent: everything staged is written.
   */
  mayStillSend?(job: J): boolean;
}

/**
 * How a pool reaches its device: MBAP over TCP (mbap-transport.ts, the default from host/port/dialer) or a
 * Modbus RTU line (rtu-transports.ts: a serial port, or raw RTU over TCP to a serial device server).
 *
 * While a request is on a link or a dial is under way, the transport holds a referenced handle (a socket, a
 * serial port, a connect timer): the pool's deadline timer is unreferenced (deadline-list.ts), so it is the
 * transport's handle, or the pool's back-off timer, that keeps the process alive for an outstanding request.
 */
export interface UpstreamTransport {
  /** Where it leads, for logs and 'unreachable' reasons: `host:port` or a serial path. */
  readonly target: string;
  /** Most links it can have open at once (a serial line: 1); the pool takes the smaller of this and maxConnections. */
  readonly maxLinks?: number;
  /** Opens one link; must reject (not hang) when `signal` aborts. */
  open<J>(settings: LinkSettings<J>, signal: AbortSignal): Promise<UpstreamLink<J>>;
}

export interface DevicePoolOptions {
  /** Device name from gateway.yaml, for logs. */
  readonly name: string;
  /** The PLC's TCP address (MBAP transport); unused when `transport` is given. */
  readonly host?: string;
  readonly port?: number;
  /** How the device is reached; default MBAP over TCP to host:port through `dialer`. */
  readonly transport?: UpstreamTransport;
  /** The PLC's connection limit (real PLCs: 1–16). Connections are opened lazily, never more than this. */
  readonly maxConnections: number;
  /** Requests outstanding per connection [MB-TCP: 1–16; many devices handle one]. Default 1. */
  readonly maxInFlight?: number;
  /** Whole-request budget from submit (queue wait + PLC round trip). */
  readonly timeoutMs: number;
  /** Bound on queued (not yet sent) requests across all clients. */
  readonly queueLimit: number;
  /** Bound on one TCP connect. Default min(timeoutMs, 5000). */
  readonly connectTimeoutMs?: number;
  /** Reconnect backoff (exponential, full jitter). Default { initialMs: 100, maxMs: 10_000 }. */
  readonly backoff?: BackoffOptions;
  /**
   * How long a timed-out request keeps its transaction id and slot reserved waiting for the late reply
   * before the connection is recycled. Default timeoutMs.
   */
  readonly lateReplyGraceMs?: number;
  readonly dialer?: PlcDialer;
  readonly logger?: Logger;
  /** Clock and timers (deadlines, connect bound, reconnect wait). Default monotonicTimers (gateway/timers.ts). */
  readonly timers?: Timers;
  /** Random source in [0,1) for backoff jitter; injectable for deterministic tests. */
  readonly random?: () => number;
}

export interface DevicePoolStats {
  /** Open (connected) sockets to the PLC. */
  readonly connections: number;
  /** Requests sent and awaiting a reply (not counting timed-out ones still holding a slot). */
  readonly inFlight: number;
  /** Requests waiting in the fair queue. */
  readonly queued: number;
  /** Outstanding (queued + in flight) requests per clientKey; keys with none are omitted. */
  readonly byClient: Record<string, number>;
  /** Slots held by timed-out requests whose late reply has not arrived yet. */
  readonly lateReserved: number;
  /** True while the last connect failed, no connection is open, and the backoff has not elapsed. */
  readonly down: boolean;
}
