/**
 * DevicePool: shares a PLC's few TCP connections among all clients of the gateway
 * [docs/architecture.md "Request path" 9–10].
 *
 * - At most `maxConnections` sockets, opened lazily (only when queued work finds every open one full),
 *   each with `maxInFlight` slots; upstream transaction ids are per connection (plc-connection.ts).
 * - Which connection a request goes on (`#pick`): one that already has a write pending for this event-loop
 *   turn while it has room (a connection writes one turn's requests in one write(2), plc-connection.ts),
 *   else the one with the most free slots. So a turn's burst leaves in one write and comes back together,
 *   instead of one write per connection and answers spread over several turns; across turns the roomiest
 *   still wins, so light load keeps using every open connection (a device that serves each connection
 *   serially keeps its parallelism, which packing every request on the fullest connection would take away).
 * - One bounded fair queue across client identities (fair-queue.ts): per-clientKey FIFO, round-robin
 *   between keys; full → 'queue-full' at once (a quiet client may push out a flooder's newest request).
 * - `timeoutMs` is the whole budget from submit (every deadline under one timer: deadline-list.ts). Expiry while queued → 'timeout' when a connection is open
 *   (the PLC is there but busy), 'unavailable' when none is (no path). Expiry after sending → 'timeout';
 *   the slot keeps its tid until the late reply arrives (dropped) or the connection is recycled.
 * - Nothing that was sent is ever sent again, read or write: a request in flight when its connection dies
 *   is answered 'unavailable' [docs/architecture.md "Lessons from Modbus proxies"].
 * - Connection lost → queued requests stay queued and a reconnect starts (backoff + jitter). A failed
 *   connect with no connection open marks the PLC down: every queued request whose deadline falls before
 *   the next attempt is answered 'unavailable' right away rather than held for its whole timeout, and new
 *   requests get the same answer until the next attempt is due (then one request probes again).
 * - An AbortSignal removes a still-queued request ('aborted'), in the same turn as the abort: the listener
 *   runs synchronously inside `abort()`, and dispatch re-checks the signal right before the socket write, so a
 *   session that ended (lock, kill, SVID expiry) never gets one more request onto the wire. Once sent,
 *   aborting changes nothing: the PLC may already act on it, so the caller still gets the real outcome to audit.
 * - How the device is reached is the transport's business (`UpstreamTransport`): MBAP over TCP by default
 *   (mbap-transport.ts), or a Modbus RTU line (rtu-transports.ts) — one link with one slot shared by every unit
 *   on the line, so the same queue, deadlines and outcomes serve serial devices.
 */
import { ExponentialBackoff, RECONNECT_BACKOFF, type Backoff } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { monotonicTimers, type TimerHandle, type Timers } from '../timers.js';
import { DeadlineList, type Deadlined } from './deadline-list.js';
import { FairQueue, type QueueHandle } from './fair-queue.js';
import { mbapTransport } from './mbap-transport.js';
import type {
  DevicePoolOptions,
  DevicePoolStats,
  LinkClosedInfo,
  LinkSettings,
  UpstreamLink,
  UpstreamRequest,
  UpstreamResult,
  UpstreamTransport,
} from './types.js';
import { validatePoolOptions } from './pool-options.js';

interface Job extends Deadlined<Job> {
  readonly req: UpstreamRequest;
  readonly submittedAt: number;
  readonly resolve: (r: UpstreamResult) => void;
  state: 'queued' | 'sent' | 'done';
  handle: QueueHandle<Job> | undefined;
  conn: UpstreamLink<Job> | undefined;
  tid: number | undefined;
  /** Set only while the job waits in the queue past its submit (see `submit`). */
  onAbort: (() => void) | undefined;
}

/** Requests outstanding for one clientKey; kept at 0 rather than deleted per request (see `#account`). */
interface Outstanding {
  n: number;
}

/** Idle (zero) entries of `#outstanding` tolerated before they are swept. */
const IDLE_CLIENT_KEYS = 256;

/** How long a learned connection limit holds before the configured one is tried again. */
const LEARNED_CAP_MS = 30_000;

export class DevicePool {
  readonly #o: Required<
    Omit<DevicePoolOptions, 'logger' | 'timers' | 'random' | 'backoff' | 'host' | 'port' | 'dialer' | 'transport'>
  >;
  /** TCP + MBAP by default; a Modbus RTU line (serial or RTU over TCP) shares the same queue and outcomes. */
  readonly #transport: UpstreamTransport;
  readonly #log: Logger;
  readonly #timers: Timers;
  readonly #backoff: Backoff;
  readonly #queue: FairQueue<Job>;
  readonly #conns: UpstreamLink<Job>[] = [];
  readonly #outstanding = new Map<string, Outstanding>();
  /** Every outstanding job's deadline under one timer (deadline-list.ts), not a timer per request. */
  readonly #deadlines: DeadlineList<Job>;
  #connSeq = 0;
  /** Where `#pick` sent the last request: its next ones go there too while its write for this turn is pending. */
  #lastPicked: UpstreamLink<Job> | undefined;
  #dial?: AbortController;
  #retryTimer?: TimerHandle;
  #nextAttemptAt = 0;
  #lastConnectError?: string;
  /** Learned connection limit: the PLC hung up on a fresh connection while others were open. */
  #cap?: { readonly max: number; readonly until: number };
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
    this.#transport = opts.transport ?? mbapTransport(opts.host ?? '', opts.port ?? 0, opts.dialer);
    this.#log = opts.logger ?? nullLogger;
    this.#timers = opts.timers ?? monotonicTimers;
    this.#backoff = new ExponentialBackoff(opts.backoff ?? RECONNECT_BACKOFF, opts.random);
    this.#queue = new FairQueue<Job>(opts.queueLimit);
    this.#deadlines = new DeadlineList<Job>(this.#timers, (job) => this.#onDeadline(job));
  }

  submit(req: UpstreamRequest): Promise<UpstreamResult> {
    if (this.#closed) return Promise.resolve({ kind: 'unavailable', reason: 'device pool closed' });
    if (req.signal?.aborted === true) return Promise.resolve({ kind: 'aborted' });
    const now = this.#timers.now();
    const deadline = now + this.#o.timeoutMs;
    if (this.#isDown() && this.#nextAttemptAt > deadline) return Promise.resolve(this.#downResult());
    return new Promise<UpstreamResult>((resolve) => {
      const job: Job = {
        req,
        submittedAt: now,
        deadline,
        resolve,
        state: 'queued',
        handle: undefined,
        conn: undefined,
        tid: undefined,
        onAbort: undefined,
        earlier: null,
        later: null,
        listed: false,
      };
      const pushed = this.#queue.push(req.clientKey, job);
      if (pushed.kind === 'full') {
        resolve({ kind: 'queue-full' });
        return;
      }
      job.handle = pushed.handle;
      this.#account(req.clientKey, 1);
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

  /** Outstanding count per clientKey (stats' byClient): the entry stays at 0 instead of a Map delete + set per request. */
  #account(key: string, delta: 1 | -1): void {
    let o = this.#outstanding.get(key);
    if (o === undefined) {
      if (this.#outstanding.size >= IDLE_CLIENT_KEYS)
        for (const [k, v] of this.#outstanding) if (v.n === 0) this.#outstanding.delete(k);
      this.#outstanding.set(key, (o = { n: 0 }));
    }
    o.n = Math.max(0, o.n + delta);
  }

  stats(): DevicePoolStats {
    let inFlight = 0;
    let lateReserved = 0;
    for (const c of this.#conns) {
      inFlight += c.live;
      lateReserved += c.late;
    }
    return {
      connections: this.#conns.length,
      inFlight,
      queued: this.#queue.size,
      byClient: Object.fromEntries([...this.#outstanding].filter(([, o]) => o.n > 0).map(([k, o]) => [k, o.n])),
      lateReserved,
      down: this.#isDown() && this.#nextAttemptAt > this.#timers.now(),
    };
  }

  /** Answers everything outstanding 'unavailable', closes the sockets, and waits for them to close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearTimeout(this.#retryTimer);
    this.#dial?.abort();
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
      const conn = this.#pick();
      if (conn === undefined) break;
      const job = this.#queue.shift();
      if (job === undefined) break;
      // Belt and braces for the abort listener: nothing whose session has ended, or whose device got locked
      // while it waited, is written to the PLC.
      if (job.req.signal?.aborted === true || !stillAllowed(job.req)) {
        this.#settle(job, { kind: 'aborted' });
        continue;
      }
      job.state = 'sent';
      job.conn = conn;
      job.tid = conn.send(job, job.req.unitId, job.req.pdu);
    }
    if (this.#queue.size > 0) this.#maybeDial();
  }

  /** The connection this turn's requests went on while it has room, else the roomiest (see the header). */
  #pick(): UpstreamLink<Job> | undefined {
    const last = this.#lastPicked;
    if (last !== undefined && last.batching === true && last.freeSlots > 0) return last;
    let best: UpstreamLink<Job> | undefined;
    for (const c of this.#conns) if (c.freeSlots > 0 && (best === undefined || c.freeSlots > best.freeSlots)) best = c;
    this.#lastPicked = best;
    return best;
  }

  #maybeDial(): void {
    if (this.#dial !== undefined || this.#conns.length >= this.#maxConnections()) return;
    const wait = this.#nextAttemptAt - this.#timers.now();
    if (wait > 0) {
      this.#retryTimer ??= this.#timers.setTimeout(() => {
        this.#retryTimer = undefined;
        this.#pump();
      }, wait);
      return;
    }
    const ac = new AbortController();
    this.#dial = ac;
    const timer = this.#timers.setTimeout(() => ac.abort(), this.#o.connectTimeoutMs);
    this.#transport.open<Job>(this.#linkSettings(), ac.signal).then(
      (link) => {
        this.#timers.clearTimeout(timer);
        this.#dial = undefined;
        if (this.#closed) {
          link.close('device pool closed');
          return;
        }
        this.#conns.push(link);
        this.#log.debug({ device: this.#o.name, conn: link.id }, 'upstream connection open');
        this.#pump();
      },
      (err: unknown) => {
        this.#timers.clearTimeout(timer);
        this.#dial = undefined;
        if (this.#closed) return;
        const msg = ac.signal.aborted ? `connect timed out after ${this.#o.connectTimeoutMs} ms` : errorMessage(err);
        this.#failure(`connect to ${this.#transport.target} failed: ${msg}`);
        this.#pump();
      },
    );
  }

  #linkSettings(): LinkSettings<Job> {
    return {
      id: ++this.#connSeq,
      maxInFlight: this.#o.maxInFlight,
      lateGraceMs: this.#o.lateReplyGraceMs,
      logger: this.#log,
      timers: this.#timers,
      events: {
        reply: (job, result) => this.#onReply(job, result),
        slotFreed: () => this.#pump(),
        closed: (c, info) => this.#onClosed(c, info),
      },
    };
  }

  #onReply(job: Job, result: UpstreamResult): void {
    if (result.kind === 'response') {
      this.#backoff.reset();
      this.#lastConnectError = undefined;
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
      { device: this.#o.name, conn: conn.id, reason: info.reason, lost: info.lost.length },
      'upstream connection closed',
    );
    const reason = `connection to the PLC lost after the request was sent; not replayed (${info.reason})`;
    for (const job of info.lost) this.#settle(job, { kind: 'unavailable', reason, sent: true });
    // A connection that never answered is treated like a refused connect: many small PLCs accept a
    // connection over their limit and close it at once. With others open, that is the PLC's real limit.
    if (!this.#closed && info.byPeer && !info.everAnswered) {
      if (this.#conns.length > 0) this.#cap = { max: this.#conns.length, until: this.#timers.now() + LEARNED_CAP_MS };
      this.#failure(info.reason);
    }
    this.#pump();
  }

  #maxConnections(): number {
    const cap = this.#cap;
    return cap !== undefined && cap.until > this.#timers.now()
      ? Math.min(cap.max, this.#o.maxConnections)
      : this.#o.maxConnections;
  }

  /** Records a failed attempt; with no connection open, answers now whoever cannot make the next attempt. */
  #failure(reason: string): void {
    const delay = this.#backoff.next();
    this.#nextAttemptAt = this.#timers.now() + delay;
    this.#lastConnectError = reason;
    this.#log.warn({ device: this.#o.name, reason, retryInMs: delay }, 'upstream connect failed');
    if (this.#conns.length > 0) return;
    for (const job of this.#queue.values())
      if (job.deadline < this.#nextAttemptAt) this.#settle(job, this.#downResult());
  }

  #isDown(): boolean {
    return this.#conns.length === 0 && this.#dial === undefined && this.#lastConnectError !== undefined;
  }

  #downResult(): UpstreamResult {
    return {
      kind: 'unavailable',
      reason: `PLC ${this.#o.name} unreachable: ${this.#lastConnectError ?? 'no connection'}`,
    };
  }

  #onDeadline(job: Job): void {
    if (job.state === 'sent') {
      const { conn, tid } = job;
      this.#settle(job, { kind: 'timeout' });
      if (conn !== undefined && tid !== undefined) conn.expire(tid);
    } else if (job.state === 'queued') {
      this.#settle(
        job,
        this.#conns.length > 0
          ? { kind: 'timeout' }
          : {
              kind: 'unavailable',
              reason: `no connection to PLC ${this.#o.name} within ${this.#o.timeoutMs} ms${this.#lastConnectError ? `: ${this.#lastConnectError}` : ''}`,
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
    this.#account(job.req.clientKey, -1);
    job.resolve(result);
  }
}

/** The caller's last-moment gate; a gate that throws fails closed (the request is not sent). */
function stillAllowed(req: UpstreamRequest): boolean {
  if (req.stillAllowed === undefined) return true;
  try {
    return req.stillAllowed();
  } catch {
    return false;
  }
}
