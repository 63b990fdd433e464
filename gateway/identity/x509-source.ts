/**
 * X509Source: the gateway's live X.509 identity from the Workload API (go-spiffe workloadapi/x509source.go).
 * It waits for the first SVID, then follows the FetchX509SVID stream. When the agent is lost it keeps
 * serving the last SVID until its NotAfter ('stale'), then fails closed ('failed-closed': getX509Svid
 * throws) until an update arrives — an expired certificate is never offered [X509-SVID 5; IEC 62443 SL3
 * fail closed].
 */
import { EventEmitter } from 'node:events';
import { GatewayError, errorMessage, isGatewayError } from '../errors.js';
import type { BackoffOptions } from '../backoff.js';
import { MAX_TIMER_MS, systemTimers, unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import { BundleSet } from './bundle-set.js';
import { nullLogger, type Logger } from '../logger.js';
import { WorkloadApiClient } from './workload-api-client.js';
import type { X509Context } from './x509-context.js';
import type { X509Svid } from './x509-svid.js';

export type X509SourceState = 'ok' | 'stale' | 'failed-closed';

export interface X509SourceOptions {
  /** Workload API address; default SPIFFE_ENDPOINT_SOCKET. Ignored when `client` is given. */
  address?: string;
  /** How long create() waits for the first SVID (default 30000 ms). */
  timeoutMs?: number;
  logger?: Logger;
  /** Clock (epoch ms, compared with NotAfter) and timers: first-SVID timeout, expiry watch, watch retries. Default systemTimers. */
  timers?: Timers;
  /** A client to use; the source then does not close it. */
  client?: WorkloadApiClient;
  backoff?: BackoffOptions;
}

export interface X509SourceEvents {
  update: [svid: X509Svid, bundles: BundleSet];
  state: [state: X509SourceState];
}

export class X509Source extends EventEmitter<X509SourceEvents> {
  private ctx: X509Context | undefined;
  private agentUp = false;
  private lastError: Error | undefined;
  private current: X509SourceState = 'failed-closed';
  private expiryTimer: TimerHandle | undefined;
  private readonly stop: () => void;
  private closed = false;
  private firstWaiter: ((err?: Error) => void) | undefined;

  private constructor(
    private readonly client: WorkloadApiClient,
    private readonly ownsClient: boolean,
    private readonly timers: Timers,
    private readonly logger: Logger,
  ) {
    super();
    this.stop = client.watchX509Context({
      onUpdate: (ctx) => this.onUpdate(ctx),
      onError: (err) => this.onError(err),
    });
  }

  /** Resolves once the first SVID arrived; rejects with GW_ERR_IDENTITY_UNAVAILABLE otherwise. */
  static async create(opts: X509SourceOptions = {}): Promise<X509Source> {
    const logger = opts.logger ?? nullLogger;
    const timers = opts.timers ?? systemTimers;
    const client =
      opts.client ??
      WorkloadApiClient.create({
        logger,
        timers,
        ...(opts.address !== undefined ? { address: opts.address } : {}),
        ...(opts.backoff ? { backoff: opts.backoff } : {}),
      });
    const src = new X509Source(client, opts.client === undefined, timers, logger);
    await src.waitForFirst(opts.timeoutMs ?? 30_000);
    return src;
  }

  /** The default (first) SVID; throws GW_ERR_IDENTITY_UNAVAILABLE when failed closed. */
  getX509Svid(): X509Svid {
    this.refreshState();
    const svid = this.ctx?.svids[0];
    if (svid === undefined || this.current === 'failed-closed') {
      throw new GatewayError(
        'GW_ERR_IDENTITY_UNAVAILABLE',
        `identity: no valid X.509-SVID: the Workload API at ${this.client.describe()} is unreachable and the last SVID ` +
          `expired at ${svid?.notAfter.toISOString() ?? '(none)'}; last error: ${this.lastError?.message ?? 'none'}`,
      );
    }
    return svid;
  }

  /** Every SVID of the latest snapshot (svids[0] is the default). */
  getX509Svids(): X509Svid[] {
    this.getX509Svid();
    return [...(this.ctx?.svids ?? [])];
  }

  /** Our own and federated bundles from the latest snapshot. */
  getBundleSet(): BundleSet {
    return this.ctx?.bundles ?? BundleSet.empty();
  }

  state(): X509SourceState {
    this.refreshState();
    return this.current;
  }

  /** Seconds until the default SVID's NotAfter (≤ 0 once expired). */
  secondsUntilExpiry(): number {
    const svid = this.ctx?.svids[0];
    return svid === undefined ? 0 : Math.floor((svid.notAfter.getTime() - this.timers.now()) / 1000);
  }

  /** The most recent Workload API error, if any, for diagnostics. */
  lastWorkloadError(): Error | undefined {
    return this.lastError;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    this.timers.clearTimeout(this.expiryTimer);
    if (this.ownsClient) this.client.close();
    this.firstWaiter?.(new Error('X509Source closed'));
  }

  private waitForFirst(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.timers.setTimeout(() => done(new Error(`no SVID within ${timeoutMs} ms`)), timeoutMs);
      const done = (err?: Error): void => {
        this.timers.clearTimeout(timer);
        this.firstWaiter = undefined;
        if (!err) return resolve();
        const last = this.lastError
          ? `; last error: ${this.lastError.message}`
          : '; no error from the agent (is a registration entry matching this workload?)';
        this.close();
        reject(
          new GatewayError(
            'GW_ERR_IDENTITY_UNAVAILABLE',
            `identity: no X.509-SVID from the Workload API at ${this.client.describe()}: ${err.message}${last}`,
            { cause: this.lastError ?? err },
          ),
        );
      };
      this.firstWaiter = done;
    });
  }

  private onUpdate(ctx: X509Context): void {
    const changed = this.ctx === undefined || !sameContext(this.ctx, ctx);
    this.ctx = ctx;
    this.agentUp = true;
    this.scheduleExpiry();
    const svid = ctx.svids[0] as X509Svid;
    if (changed) {
      this.logger.info(
        { spiffeId: svid.id.toString(), notAfter: svid.notAfter.toISOString() },
        'identity: X.509-SVID updated',
      );
      this.notify('update', svid, ctx.bundles);
    }
    this.refreshState();
    this.firstWaiter?.();
  }

  private onError(err: Error): void {
    this.lastError = err;
    this.agentUp = false;
    this.refreshState();
    // A non-retryable error before the first SVID will never resolve: fail create() now.
    if (isGatewayError(err) && err.code === 'GW_ERR_WORKLOAD_API') this.firstWaiter?.(err);
  }

  private computeState(): X509SourceState {
    const svid = this.ctx?.svids[0];
    if (svid === undefined || this.timers.now() >= svid.notAfter.getTime()) return 'failed-closed';
    return this.agentUp ? 'ok' : 'stale';
  }

  private refreshState(): void {
    if (this.ctx === undefined) return; // before the first SVID create() has not resolved yet
    const next = this.computeState();
    if (next === this.current) return;
    const prev = this.current;
    this.current = next;
    const fields = { state: next, previous: prev, address: this.client.describe(), lastError: this.lastError?.message };
    if (next === 'failed-closed') {
      this.logger.error(
        { ...fields, notAfter: this.ctx.svids[0]?.notAfter.toISOString() },
        'identity: X.509-SVID expired and the Workload API is unreachable: FAILING CLOSED, no TLS identity is served',
      );
    } else if (next === 'stale') {
      this.logger.warn(fields, 'identity: Workload API lost; serving the last X.509-SVID until it expires');
    } else {
      this.logger.info(fields, 'identity: X.509-SVID source healthy');
    }
    this.notify('state', next);
  }

  /**
   * emit(), but each handler on its own: EventEmitter stops at the first handler that throws, and the handlers
   * here are independent consumers (TLS contexts, gRPC credentials, the fleet link, policy re-checks). One that
   * fails on this SVID (e.g. a TLS context refusing an already expired key) must not leave the others on the
   * old one, nor skip the state refresh and the first-SVID waiter after it. rawListeners: `once` ones remove
   * themselves.
   */
  private notify<K extends keyof X509SourceEvents>(name: K, ...args: X509SourceEvents[K]): void {
    for (const h of this.rawListeners(name) as ((...a: X509SourceEvents[K]) => void)[]) {
      try {
        h.apply(this, args);
      } catch (err) {
        this.logger.error(
          { event: name, err: errorMessage(err) },
          'identity: an SVID event handler threw; the others still ran',
        );
      }
    }
  }

  private scheduleExpiry(): void {
    this.timers.clearTimeout(this.expiryTimer);
    const svid = this.ctx?.svids[0];
    if (svid === undefined || this.closed) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, svid.notAfter.getTime() - this.timers.now() + 1));
    this.expiryTimer = unrefTimer(
      this.timers.setTimeout(() => {
        this.refreshState();
        if (this.computeState() !== 'failed-closed') this.scheduleExpiry();
      }, delay),
    );
  }
}

function sameContext(a: X509Context, b: X509Context): boolean {
  if (a.svids.length !== b.svids.length) return false;
  for (let i = 0; i < a.svids.length; i++) {
    const x = a.svids[i] as X509Svid;
    const y = b.svids[i] as X509Svid;
    if (!x.keyDer.equals(y.keyDer) || !Buffer.concat(x.chainDer).equals(Buffer.concat(y.chainDer)) || x.hint !== y.hint)
      return false;
  }
  return a.bundles.sameAuthorities(b.bundles);
}
