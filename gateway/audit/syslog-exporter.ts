/**
 * SIEM export: audit events and checkpoints as RFC 5424 messages (or CEF inside RFC 5424) over TLS with
 * RFC 5425 octet-counting framing (default port 6514), mutual TLS with options injected by the gateway (its
 * SVID as client certificate). Records go through a bounded on-disk spool (syslog-spool.ts), so nothing is
 * lost while the receiver restarts; reconnects back off exponentially with full jitter (gateway/backoff.ts).
 * Every timer (acknowledgement sweep, connect bound, reconnect wait, close bound) is armed on the injected
 * `Timers` (gateway/timers.ts), so tests drive them instead of waiting.
 *
 * Delivery: AT LEAST ONCE (duplicates possible, loss only on spool overflow or a failed spool write, which is
 * counted and reported as an `audit.export-loss` notice; the notice itself is kept until acknowledged).
 * RFC 5425 has no application-level acknowledgement: a successful socket write only means the bytes reached
 * our kernel. So a record counts as acknowledged only after it was written AND the connection stayed up for
 * `ackDelayMs` afterwards; when the connection drops, every unacknowledged record is sent again on the next
 * connection. A receiver that dies holding records in its own socket buffer therefore causes duplicates, not
 * loss. Only acknowledged records leave the spool (syslog-ack-window.ts).
 */
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { ExponentialBackoff } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import type { Checkpoint } from './audit-checkpoint.js';
import type { AuditRecord } from './audit-events.js';
import type { AuditSubscriber } from './audit-log-options.js';
import { SyslogAckWindow } from './syslog-ack-window.js';
import { frameOctetCounted } from './syslog-format.js';
import { SyslogRenderer, type SyslogRendererOptions } from './syslog-renderer.js';
import { DiskSpool, type SpoolEntry } from './syslog-spool.js';
import { systemTimers, unrefTimer, type TimerHandle, type Timers } from '../timers.js';

/** With SyslogRendererOptions: how the records read (format, hostname, facility, enterpriseId, version). */
export interface SyslogExporterOptions extends SyslogRendererOptions {
  readonly host: string;
  /** Default 6514 [RFC 5425 4.1]. */
  readonly port?: number;
  /** TLS client options (cert/key = the gateway SVID, ca = the SIEM's CA). A function is called per connect, so a rotated SVID is used. */
  readonly tls: ConnectionOptions | (() => ConnectionOptions);
  readonly spool: { readonly dir: string; readonly maxBytes?: number; readonly fileBytes?: number };
  /** Reconnect backoff: exponential with full jitter from `initialMs` (default 200) capped at `maxMs` (30 s). */
  readonly backoff?: { readonly initialMs?: number; readonly maxMs?: number };
  readonly ackDelayMs?: number;
  readonly connectTimeoutMs?: number;
  readonly logger?: Logger;
  /** Clock (wall-clock epoch ms: loss-notice times, acknowledgement ages) and timers; default systemTimers. */
  readonly timers?: Timers;
  /** [0, 1) for the reconnect jitter (default Math.random); tests pin it. */
  readonly random?: () => number;
}

export interface SyslogExporterStats {
  readonly connected: boolean;
  readonly sent: number;
  readonly acked: number;
  /** Records dropped by spool overflow or a failed spool write (each drop is also reported to the SIEM). */
  readonly dropped: number;
  readonly reconnects: number;
  readonly spoolBytes: number;
}

export class SyslogExporter {
  private readonly spool: DiskSpool;
  private readonly render: SyslogRenderer;
  private readonly window: SyslogAckWindow;
  private socket: TLSSocket | null = null;
  private ready = false;
  private pending: { seq: number | null; text: string }[] = [];
  private flushQueued = false;
  private readonly backoff: ExponentialBackoff;
  private readonly timers: Timers;
  private closed = false;
  private reconnectTimer: TimerHandle | null = null;
  private readonly ackTimer: TimerHandle;
  private counters = { sent: 0, acked: 0, dropped: 0, reconnects: 0 };
  private waiters: (() => void)[] = [];

  constructor(private readonly opts: SyslogExporterOptions) {
    this.timers = opts.timers ?? systemTimers;
    this.backoff = new ExponentialBackoff(
      { initialMs: opts.backoff?.initialMs ?? 200, maxMs: opts.backoff?.maxMs ?? 30_000 },
      opts.random,
    );
    this.spool = DiskSpool.open({
      dir: opts.spool.dir,
      maxBytes: opts.spool.maxBytes ?? 64 * 1024 * 1024,
      ...(opts.spool.fileBytes ? { fileBytes: opts.spool.fileBytes } : {}),
      logger: this.log(),
    });
    this.window = new SyslogAckWindow(this.spool, this.log());
    this.render = new SyslogRenderer(opts);
    const ackDelay = this.ackDelay();
    this.ackTimer = unrefTimer(
      this.timers.setInterval(() => this.ackSettled(), Math.max(10, Math.floor(ackDelay / 4))),
    );
    this.connectNow();
  }

  /**
   * Feed from an audit log: events after they are in the chain, and every checkpoint. Catches up first on
   * stored events newer than the newest one in the spool (events written before the exporter started, or
   * while the gateway crashed between log and spool). Returns unsubscribe.
   */
  attach(log: { subscribe(s: AuditSubscriber, opts?: { fromSeq?: number }): () => void }): () => void {
    return log.subscribe(
      { event: (r) => this.enqueue(r), checkpoint: (c) => this.enqueueCheckpoint(c) },
      { fromSeq: this.spool.lastSeq() + 1 },
    );
  }

  enqueue(rec: AuditRecord): void {
    this.push(rec.seq, this.render.event(rec));
  }

  enqueueCheckpoint(cp: Checkpoint): void {
    this.push(null, this.render.checkpoint(cp));
  }

  stats(): SyslogExporterStats {
    return { connected: this.ready, ...this.counters, spoolBytes: this.spool.stats().bytes };
  }

  /** Resolves once every record spooled so far is acknowledged (or after timeoutMs, with false). */
  async drained(timeoutMs: number): Promise<boolean> {
    const deadline = this.timers.now() + timeoutMs;
    while (this.timers.now() < deadline) {
      this.flushPending();
      if (!this.spool.stats().pending) return true;
      let wake: TimerHandle | null = null;
      await new Promise<void>((r) => {
        this.waiters.push(r);
        wake = unrefTimer(this.timers.setTimeout(r, 50));
      });
      this.timers.clearTimeout(wake);
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushPending();
    this.closed = true;
    this.timers.clearTimeout(this.ackTimer);
    this.timers.clearTimeout(this.reconnectTimer);
    const s = this.socket;
    this.socket = null;
    this.ready = false;
    if (s !== null) {
      // Unacknowledged records stay in the spool and are sent again by the next exporter (at least once).
      let bound: TimerHandle | null = null;
      await new Promise<void>((resolve) => {
        s.once('close', () => resolve());
        s.end();
        bound = unrefTimer(this.timers.setTimeout(() => s.destroy(), 1000));
      });
      this.timers.clearTimeout(bound);
    }
    // Loss notices not yet acknowledged are kept for the next run: at least once, like records.
    this.window.returnLosses();
    this.spool.close();
  }

  private ackDelay(): number {
    return this.opts.ackDelayMs ?? 1000;
  }

  /** Batched into one spool write per tick: the audit append stays one syscall cheaper. */
  private push(seq: number | null, text: string): void {
    if (this.closed) return;
    this.pending.push({ seq, text });
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flushPending();
      this.pump();
    });
  }

  private flushPending(): void {
    if (this.pending.length === 0 || this.closed) return;
    const batch = this.pending;
    this.pending = [];
    try {
      const drop = this.spool.push(batch);
      if (drop !== null && drop.dropped > 0) {
        this.counters.dropped += drop.dropped;
        this.log().error({ ...drop }, 'audit: syslog spool full, oldest records dropped');
      }
    } catch (err) {
      this.counters.dropped += batch.length;
      this.log().error({ err: errorMessage(err), records: batch.length }, 'audit: syslog spool write failed');
      this.recordLost(batch);
    }
  }

  /**
   * A batch the spool could not take (ENOSPC, EIO) is a loss like an overflow: the SIEM is told with the next
   * notice. Not kept in memory to retry: a full disk would grow it without bound, later records would still
   * overtake it, and the audit log holds every event, so the notice's seq range says where to recover them.
   */
  private recordLost(batch: readonly { seq: number | null }[]): void {
    const seqs = batch.map((r) => r.seq).filter((q): q is number => q !== null);
    try {
      this.spool.recordLoss({
        dropped: batch.length,
        firstSeq: seqs.length > 0 ? Math.min(...seqs) : null,
        lastSeq: seqs.length > 0 ? Math.max(...seqs) : null,
      });
    } catch (err) {
      // the tally keeps it in memory: this run still reports it, only a crash before the next write forgets it
      this.log().error({ err: errorMessage(err) }, 'audit: syslog loss tally write failed');
    }
  }

  private log(): Logger {
    return this.opts.logger ?? nullLogger;
  }

  private connectNow(): void {
    if (this.closed) return;
    const tlsOpts = typeof this.opts.tls === 'function' ? this.opts.tls() : this.opts.tls;
    const s = connect({ host: this.opts.host, port: this.opts.port ?? 6514, ...tlsOpts });
    this.socket = s;
    s.setNoDelay(true);
    s.setKeepAlive(true, 10_000);
    const timer = unrefTimer(
      this.timers.setTimeout(() => s.destroy(new Error('connect timeout')), this.opts.connectTimeoutMs ?? 10_000),
    );
    s.once('secureConnect', () => {
      this.timers.clearTimeout(timer);
      if (this.socket !== s) return;
      this.ready = true;
      if (this.backoff.attempts > 0)
        this.log().info({ host: this.opts.host, attempts: this.backoff.attempts }, 'audit: syslog reconnected');
      this.backoff.reset();
      this.pump();
    });
    s.on('drain', () => this.pump());
    s.on('data', () => {}); // RFC 5425: the receiver sends nothing; read to keep the socket flowing
    s.once('error', (err: Error) =>
      this.log().warn({ err: err.message, host: this.opts.host }, 'audit: syslog connection error'),
    );
    s.once('close', () => {
      this.timers.clearTimeout(timer);
      if (this.socket === s) this.lost();
    });
  }

  /** Connection gone: everything not acknowledged is sent again on the next connection. */
  private lost(): void {
    this.socket = null;
    this.ready = false;
    this.window.rewind();
    if (this.closed) return;
    this.counters.reconnects++;
    this.reconnectTimer = unrefTimer(
      this.timers.setTimeout(() => {
        this.reconnectTimer = null;
        this.connectNow();
      }, this.backoff.next()),
    );
  }

  private pump(): void {
    const s = this.socket;
    if (s === null || !this.ready || this.closed) return;
    while (true) {
      // A pending loss notice goes first, so the SIEM learns of the gap before newer records [SR 2.9].
      const loss = this.spool.takeLoss();
      let batch: SpoolEntry[];
      const texts: string[] = [];
      try {
        batch = this.spool.read(this.window.sentPos, 256);
        if (loss !== null) texts.push(this.render.loss(loss, this.timers.now()));
      } catch (err) {
        // a taken notice no write carries is never delivered nor owed again: back to owed, the next pump retries
        if (loss !== null) this.spool.restoreLoss(loss);
        this.log().error({ err: errorMessage(err) }, 'audit: syslog spool read failed');
        return;
      }
      const last = batch[batch.length - 1];
      if (last === undefined && loss === null) return;
      for (const e of batch) texts.push(e.text);
      const frames = Buffer.concat(texts.map(frameOctetCounted));
      const entry = this.window.wrote(last?.pos ?? null, batch.length, loss);
      this.counters.sent += texts.length;
      const more = s.write(frames, (err) => {
        if (err == null) entry.writtenAt = this.timers.now();
      });
      if (!more) return; // 'drain' calls pump again
    }
  }

  private ackSettled(): void {
    if (!this.ready) return;
    if (!this.window.settle(this.timers.now(), this.ackDelay(), this.counters)) return;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}
