/**
 * DevicePool: shares a PLC's few TCP connections among all clients of the gateway
 * [docs/architecture.md "Request path" 9–10].
 *
 * - At most `maxConnections` sockets, opened lazily (only when queued work finds every open one full),
 *   each with `maxInFlight` slots; upstream transaction ids are per connection (plc-connection.ts).
 * - Which connection a request goes on (pick-link.ts): the one this turn's requests went on while it has
 *   room (its write for the turn is pending), else the roomiest.
 * - One bounded fair queue across client identities (fair-queue.ts): per-clientKey FIFO, round-robin
 *   between keys; full → 'queue-full' at once (a quiet client may push out a flooder's newest request).
 * - `timeoutMs` is the whole budget from submit (every deadline under one timer: deadline-list.ts). Expiry while
 *   queued → 'timeout' when a connection is open (the PLC is there but busy), 'unavailable' when none is (no
 *   path). Expiry while staged for the connection's write → 'timeout', taken out of that write. Neither left the
 *   gateway, so neither carries `sent`. Expiry after the write → 'timeout' with `sent` (it may have executed);
 *   the slot keeps its tid until the late reply arrives (dropped) or the connection is recycled.
 * - Nothing that was sent is ever sent again, read or write: a request in flight when its connection dies
 *   is answered 'unavailable' with `sent` [docs/architecture.md "Lessons from Modbus proxies"]; one staged for
 *   the connection's write but never written is answered 'unavailable' without `sent`, and not requeued.
 * - Connection lost → queued requests stay queued and a reconnect starts (link-dialer.ts; backoff + jitter and
 *   the learned connection limit: reconnect-state.ts). A failed connect with no connection open marks the PLC
 *   down: every queued request whose deadline falls before the next attempt is answered 'unavailable' right
 *   away rather than held for its whole timeout, and new requests get the same answer until the next attempt
 *   is due (then one request probes again).
 * - An AbortSignal removes a still-queued request ('aborted'), in the same turn as the abort: the listener
 *   runs synchronously inside `abort()`, and the gate (may-dispatch.ts) is asked at dispatch and again by the
 *   connection right before the socket write (`mayStillSend`: a connection writes a turn's requests at
 *   setImmediate), so a session that ended (lock, kill, SVID expiry) never gets one more request onto the
 *   wire. Once written, aborting changes nothing: the PLC may already act on it, so the caller still gets the
 *   real outcome to audit.
 * - How the device is reached is the transport's business (`UpstreamTransport`): MBAP over TCP by default
 *   (mbap-transport.ts), or a Modbus RTU line (rtu-transports.ts) — one link with one slot shared by every unit
 *   on the line, so the same queue, deadlines and outcomes serve serial devices.
 */
import { ExponentialBackoff, RECONNECT_BACKOFF } from '../backoff.js';
import { nullLogger, type Logger } from '../logger.js';
import { monotonicTimers, type Timers } from '../timers.js';
import { DeadlineList } from './deadline-list.js';
import { FairQueue } from './fair-queue.js';
import { LinkDialer } from './link-dialer.js';
import { mayDispatch } from './may-dispatch.js';
import { mbapTransport } from './mbap-transport.js';
import { pickLink } from './pick-link.js';
import { newJob, type Job } from './pool-job.js';
import type {
  DevicePoolOptions,
  DevicePoolStats,
  LinkClosedInfo,
  LinkSettings,
  UpstreamLink,
  UpstreamRequest,
  UpstreamResult,
} from './types.js';
import { validatePoolOptions } from './pool-options.js';
import { ClientTally, poolStats } from './pool-stats.js';
import { ReconnectState } from './reconnect-state.js';

/** The two timeouts (types.ts `UpstreamResult`), shared: nothing is allocated for a request's deadline. */
const TIMEOUT_SENT: UpstreamResult = Object.freeze({ kind: 'timeout', sent: true });
const TIMEOUT_UNSENT: UpstreamResult = Object.freeze({ kind: 'timeout' });

export class DevicePool {
  readonly #o: Required<
    Omit<DevicePoolOptions, 'logger' | 'timers' | 'random' | 'backoff' | 'host' | 'port' | 'dialer' | 'transport'>
  >;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #reconnect: ReconnectState;
  /** Opens links through the transport: MBAP over TCP by default, or a Modbus RTU line. */
  readonly #dialer: LinkDialer<Job>;
  readonly #queue: FairQueue<Job>;
  readonly #conns: UpstreamLink<Job>[] = [];
  /** Outstanding requests per clientKey (stats' byClient). */
  readonly #tally = new ClientTally();
  /** Every outstanding job's deadline under one timer (deadline-list.ts), not a timer per request. */
  readonly #deadlines: DeadlineList<Job>;
  /** Where the last request went: its next ones go there too while its write for this turn is pending. */
  #lastPicked: UpstreamLink<Job> | undefined;
  #closed = false;

  constructor(opts: DevicePoolOptions) {
    validatePoolOptions(opts);
    this.#o = {
      name: opts.name,
      maxConnections: Math.min(opts.maxConnections, opts.transport?.maxLinks ?? opts.maxConnections),
      maxInFlight: opts.maxInFlight ?? 1,
      timeoutMs: opts.timeoutMs,
      queueLimit: opts.queueLimit,
      connectTimeoutMs: opts.connectTimeoutMs ?? Math.min(opts.timeoutMs, 5000),
      lateReplyGraceMs: opts.lateReplyGraceMs ?? opts.timeoutMs,
    };
    // validatePoolOptions made sure host and port are there when no transport is
    const transport = opts.transport ?? mbapTransport(opts.host ?? '', opts.port ?? 0, opts.dialer);
    this.#log = opts.logger ?? nullLogger;
    this.#timers = opts.timers ?? monotonicTimers;
    const link: Omit<LinkSettings<Job>, 'id'> = {
      maxInFlight: this.#o.maxInFlight,
      lateGraceMs: this.#o.lateReplyGraceMs,
      logger: this.#log,
      timers: this.#timers,
      events: {
        reply: (job, result) => this.#onReply(job, result),
        slotFreed: () => this.#pump(),
        // dropped unwritten by the gate at the connection's write: never sent (the link's slotFreed pumps next)
        unsent: (job) => this.#settle(job, { kind: 'aborted' }),
        closed: (c, info) => this.#onClosed(c, info),
      },
      // asked again at the write itself when a link writes later than send (plc-connection.ts batches a turn)
      mayStillSend: (job) => mayDispatch(job.req),
    };
    this.#dialer = new LinkDialer<Job>(transport, this.#o.connectTimeoutMs, link, {
      opened: (l) => this.#onOpen(l),
      failed: (reason) => this.#onDialFailed(reason),
      due: () => this.#pump(),
    });
    const backoff = new ExponentialBackoff(opts.backoff ?? RECONNECT_BACKOFF, opts.random);
    this.#reconnect = new ReconnectState(opts.name, this.#timers, this.#log, backoff);
    this.#queue = new FairQueue<Job>(opts.queueLimit);
    this.#deadlines = new DeadlineList<Job>(this.#timers, (job) => this.#onDeadline(job));
  }

  submit(req: UpstreamRequest): Promise<UpstreamResult> {
    if (this.#closed) return Promise.resolve({ kind: 'unavailable', reason: 'device pool closed' });
    if (req.signal?.aborted === true) return Promise.resolve({ kind: 'aborted' });
    const now = this.#timers.now();
    const deadline = now + this.#o.timeoutMs;
    if (this.#isDown() && this.#reconnect.nextAttemptAt > deadline)
      return Promise.resolve(this.#reconnect.downResult());
    return new Promise<UpstreamResult>((resolve) => {
      const job = newJob(req, now, deadline, resolve);
      const pushed = this.#queue.push(req.clientKey, job);
      if (pushed.kind === 'full') {
        resolve({ kind: 'queue-full' });
        return;
      }
      job.handle = pushed.handle;
      this.#tally.add(req.clientKey, 1);
      if (pushed.kind === 'queued-evicting') this.#settle(pushed.evicted.value, { kind: 'queue-full' });
      this.#deadlines.add(job);
      this.#pump();
      // Still queued (no free slot): an abort of its session must drop it at once, in the same turn. One that
      // went straight onto a connection needs no listener: aborting changes nothing once sent.
      if (job.state === 'queued' && req.signal !== undefined) this.#watchAbort(job, req.signal);
    });
  }

  #watchAbort(job: Job, signal: AbortSignal): void {
    job.onAbort = () => {
      if (job.state === 'queued') this.#settle(job, { kind: 'aborted' });
    };
    signal.addEventListener('abort', job.onAbort, { once: true });
  }

  stats(): DevicePoolStats {
    const down = this.#isDown() && this.#reconnect.nextAttemptAt > this.#timers.now();
    return poolStats(this.#conns, this.#queue.size, this.#tally, down);
  }

  /** Answers everything outstanding 'unavailable', closes the sockets, and waits for them to close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#dialer.close();
    for (const job of this.#queue.values()) this.#settle(job, { kind: 'unavailable', reason: 'device pool closed' });
    const conns = [...this.#conns];
    for (const c of conns) c.close('device pool closed');
    await Promise.all(conns.map((c) => c.whenClosed()));
    this.#deadlines.close(); // everything is settled: the timer the list may still hold carries nothing
  }

  /** Sends queued work to free slots; asks for a new connection when work is left over. */
  #pump(): void {
    if (this.#closed) return;
    while (this.#queue.size > 0) {
      const conn = (this.#lastPicked = pickLink(this.#lastPicked, this.#conns));
      if (conn === undefined) break;
      const job = this.#queue.shift();
      if (job === undefined) break;
      // Belt and braces for the abort listener: nothing whose session has ended, or whose device got locked
      // while it waited, is written to the PLC.
      if (!mayDispatch(job.req)) {
        this.#settle(job, { kind: 'aborted' });
        continue;
      }
      job.state = 'sent';
      job.conn = conn;
      job.tid = conn.send(job, job.req.unitId, job.req.pdu);
    }
    if (this.#queue.size > 0) this.#maybeDial();
  }

  #maybeDial(): void {
    if (this.#dialer.dialing || this.#conns.length >= this.#reconnect.maxLinks(this.#o.maxConnections)) return;
    this.#dialer.dial(this.#reconnect.nextAttemptAt - this.#timers.now());
  }

  #onOpen(link: UpstreamLink<Job>): void {
    if (this.#closed) {
      link.close('device pool closed');
      return;
    }
    this.#conns.push(link);
    this.#log.debug({ device: this.#o.name, conn: link.id }, 'upstream connection open');
    this.#pump();
  }

  #onDialFailed(reason: string): void {
    if (this.#closed) return;
    this.#failure(reason);
    this.#pump();
  }

  #onReply(job: Job, result: UpstreamResult): void {
    if (result.kind === 'response') {
      this.#reconnect.succeeded();
      this.#settle(job, { kind: 'response', pdu: result.pdu, latencyMs: this.#timers.now() - job.submittedAt });
    } else {
      this.#settle(job, result);
    }
  }

  #onClosed(conn: UpstreamLink<Job>, info: LinkClosedInfo<Job>): void {
    const i = this.#conns.indexOf(conn);
    if (i >= 0) this.#conns.splice(i, 1);
    if (this.#lastPicked === conn) this.#lastPicked = undefined;
    this.#log.info(
      { device: this.#o.name, conn: conn.id, reason: info.reason, lost: info.lost.length, unsent: info.unsent.length },
      'upstream connection closed',
    );
    const reason = `connection to the PLC lost after the request was sent; not replayed (${info.reason})`;
    for (const job of info.lost) this.#settle(job, { kind: 'unavailable', reason, sent: true });
    // Staged, never written: not "may have executed"; not requeued either (no path that could ever replay).
    const unsentReason = `connection to the PLC closed before the request was written (${info.reason})`;
    for (const job of info.unsent) this.#settle(job, { kind: 'unavailable', reason: unsentReason });
    // A connection that never answered is treated like a refused connect: many small PLCs accept a
    // connection over their limit and close it at once. With others open, that is the PLC's real limit.
    if (!this.#closed && info.byPeer && !info.everAnswered) {
      if (this.#conns.length > 0) this.#reconnect.learnCap(this.#conns.length);
      this.#failure(info.reason);
    }
    this.#pump();
  }

  /** Records a failed attempt; with no connection open, answers now whoever cannot make the next attempt. */
  #failure(reason: string): void {
    const nextAttemptAt = this.#reconnect.failed(reason);
    if (this.#conns.length > 0) return;
    for (const job of this.#queue.values())
      if (job.deadline < nextAttemptAt) this.#settle(job, this.#reconnect.downResult());
  }

  #isDown(): boolean {
    return this.#conns.length === 0 && !this.#dialer.dialing && this.#reconnect.lastError !== undefined;
  }

  #onDeadline(job: Job): void {
    if (job.state === 'sent') {
      const { conn, tid } = job;
      // The link is asked first: it knows whether the bytes left. One still staged for the turn's write is
      // taken out of it there and never written, so its timeout says so; a written one may have executed.
      const written = conn === undefined || tid === undefined || conn.expire(tid);
      this.#settle(job, written ? TIMEOUT_SENT : TIMEOUT_UNSENT);
    } else if (job.state === 'queued') {
      this.#settle(
        job,
        this.#conns.length > 0
          ? TIMEOUT_UNSENT
          : {
              kind: 'unavailable',
              reason: `no connection to PLC ${this.#o.name} within ${this.#o.timeoutMs} ms${this.#reconnect.lastError ? `: ${this.#reconnect.lastError}` : ''}`,
            },
      );
    }
  }

  #settle(job: Job, result: UpstreamResult): void {
    if (job.state === 'done') return;
    if (job.state === 'queued' && job.handle !== undefined) this.#queue.remove(job.handle);
    job.state = 'done';
    this.#deadlines.remove(job);
    if (job.onAbort !== undefined) job.req.signal?.removeEventListener('abort', job.onAbort);
    this.#tally.add(job.req.clientKey, -1);
    job.resolve(result);
  }
}
