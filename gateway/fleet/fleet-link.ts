/**
 * The gateway's one NATS connection: to its site's leaf node on this box, mutual TLS with the gateway's
 * current SVID (docs/fleet.md). It never blocks the data path: `start()` returns at once, the first connection
 * is tried in the background and retried with backoff forever while the leaf is away; once connected, the
 * NATS client itself reconnects forever. The gateway enforces its last state meanwhile.
 *
 * SVID rotation: `rotate()` connects ANEW with the new SVID (the TLS material is read at each connect), makes
 * the new connection current, tells the users (`onConnection`: watches resume from their last revision on
 * it), and only then drains the old one — so nothing is lost in the swap (watch consumers skip revisions
 * already seen). A connection closed by the client for good (e.g. refused credentials) is replaced the same way.
 * A rotation while a connect is in flight is not lost: that connect read the old SVID, so once it lands (and
 * is adopted, keeping the link up) another one starts with the new SVID.
 */
import type tls from 'node:tls';
import { connect as natsConnect } from '@nats-io/transport-node';
import type { ConnectionOptions, NatsConnection, TlsOptions } from '@nats-io/transport-node';
import { ExponentialBackoff, type BackoffOptions } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { unrefTimer, type TimerHandle, type Timers } from '../timers.js';

const DRAIN_LIMIT_MS = 5000;

export type NatsConnect = (opts: ConnectionOptions) => Promise<NatsConnection>;

export interface FleetLinkOptions {
  /** `tls://127.0.0.1:4222`: the local leaf. */
  readonly url: string;
  /** TLS material of the CURRENT SVID, read at every connect (cert, key, ca, server check). */
  readonly tls: () => tls.ConnectionOptions;
  /** NATS connection name (shown by the server). */
  readonly name: string;
  readonly timers: Timers;
  readonly logger?: Logger;
  /** Retry pace of the first connection and of replacements (default 500 ms … 10 s, jittered). */
  readonly backoff?: BackoffOptions;
  /** The NATS client's own reconnect wait once connected (default 1 s). */
  readonly reconnectWaitMs?: number;
  /** Injected in tests; default @nats-io/transport-node `connect`. */
  readonly connect?: NatsConnect;
}

export type LinkListener = (nc: NatsConnection) => void;

export class FleetLink {
  private nc: NatsConnection | null = null;
  private connected = false;
  private attempting = false;
  private retryTimer: TimerHandle | undefined;
  private wantNew = false;
  /** Counts rotate() calls: a connect that began before the latest one used an old SVID. */
  private rotations = 0;
  private closed = false;
  private readonly listeners: LinkListener[] = [];
  private readonly backoff: ExponentialBackoff;
  private readonly logger: Logger;
  private readonly draining = new Set<Promise<void>>();

  constructor(private readonly opts: FleetLinkOptions) {
    this.logger = opts.logger ?? nullLogger;
    this.backoff = new ExponentialBackoff(opts.backoff ?? { initialMs: 500, maxMs: 10_000 });
  }

  /** Begins connecting in the background; never waits for the leaf. */
  start(): void {
    this.wantNew = true;
    this.attempt();
  }

  /** The current connection (it may be reconnecting), or null before the first one. */
  current(): NatsConnection | null {
    return this.nc;
  }

  /** True while the current connection is up (for the status beat and /readyz-style reports). */
  isConnected(): boolean {
    return this.connected;
  }

  /** Called with every connection that becomes current (the first, and each replacement). */
  onConnection(fn: LinkListener): void {
    this.listeners.push(fn);
    if (this.nc !== null) fn(this.nc);
  }

  /** Our SVID changed: connect anew with it, then drain the old connection. */
  rotate(): void {
    if (this.closed) return;
    this.wantNew = true;
    this.rotations++;
    this.backoff.reset();
    this.opts.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.attempt();
  }

  /** Drains the current connection (flushes what was published) and stops retrying. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.opts.timers.clearTimeout(this.retryTimer);
    const nc = this.nc;
    this.nc = null;
    this.connected = false;
    if (nc !== null) this.drain(nc);
    await Promise.all([...this.draining]);
  }

  private attempt(): void {
    if (this.closed || this.attempting || !this.wantNew) return;
    this.attempting = true;
    void this.connectOnce()
      .catch(() => false)
      .then((again) => {
        this.attempting = false;
        if (again) this.attempt(); // rotated while connecting: that connection has the old SVID
      });
  }

  /** One connect; true when it succeeded but a rotation came meanwhile (connect anew at once). */
  private async connectOnce(): Promise<boolean> {
    const rotations = this.rotations; // before tls() reads the SVID
    let nc: NatsConnection;
    try {
      nc = await (this.opts.connect ?? natsConnect)({
        servers: this.opts.url,
        name: this.opts.name,
        // transport-node hands every member to node:tls connect (its TlsOptions type lists only a few)
        tls: this.opts.tls() as unknown as TlsOptions,
        maxReconnectAttempts: -1,
        reconnectTimeWait: this.opts.reconnectWaitMs ?? 1000,
        timeout: 5000,
      });
    } catch (err) {
      const delay = this.backoff.next();
      this.logger.warn(
        { url: this.opts.url, err: errorMessage(err), retryMs: delay, attempts: this.backoff.attempts },
        'fleet: cannot connect to the leaf node; enforcing the last state, retrying',
      );
      this.retryTimer = unrefTimer(this.opts.timers.setTimeout(() => this.attempt(), delay));
      return false;
    }
    if (this.closed) {
      this.drain(nc);
      return false;
    }
    this.backoff.reset();
    this.wantNew = this.rotations !== rotations;
    this.adopt(nc);
    return this.wantNew;
  }

  /** The new connection becomes current; users move to it; the old one drains after them. */
  private adopt(nc: NatsConnection): void {
    const old = this.nc;
    this.nc = nc;
    this.connected = true;
    this.logger.info({ url: this.opts.url, replaced: old !== null }, 'fleet: connected to the leaf node');
    this.follow(nc);
    for (const fn of this.listeners) {
      try {
        fn(nc);
      } catch (err) {
        this.logger.error({ err: errorMessage(err) }, 'fleet: a connection listener failed');
      }
    }
    if (old !== null) this.drain(old);
  }

  /** Tracks up/down of `nc` while it is current; when the client gives up on it, a new one is made. */
  private follow(nc: NatsConnection): void {
    void (async () => {
      for await (const s of nc.status()) {
        if (this.nc !== nc) return;
        if (s.type === 'disconnect') {
          this.connected = false;
          this.logger.warn({ url: this.opts.url }, 'fleet: leaf node connection lost; reconnecting');
        } else if (s.type === 'reconnect') {
          this.connected = true;
          this.logger.info({ url: this.opts.url }, 'fleet: leaf node connection back');
        }
      }
    })().catch(() => undefined);
    void nc.closed().then((err) => {
      if (this.nc !== nc || this.closed) return;
      this.connected = false;
      this.logger.warn(
        { url: this.opts.url, err: err ? errorMessage(err) : undefined },
        'fleet: leaf node connection closed; connecting anew',
      );
      this.wantNew = true;
      this.attempt();
    });
  }

  /** Drain flushes what was published; a drain the leaf cannot complete (it is away) is cut after 5 s. */
  private drain(nc: NatsConnection): void {
    let timer: TimerHandle | undefined;
    const cut = new Promise<void>((resolve) => {
      timer = this.opts.timers.setTimeout(resolve, DRAIN_LIMIT_MS);
    });
    const p: Promise<void> = Promise.race([nc.drain(), cut])
      .catch(() => undefined)
      .then(() => (nc.isClosed() ? undefined : nc.close()))
      .catch(() => undefined)
      .finally(() => {
        this.opts.timers.clearTimeout(timer);
        this.draining.delete(p);
      });
    this.draining.add(p);
  }
}
