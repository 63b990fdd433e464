/**
 * `verigate control serve`'s hub connection across SVID rotations. A connection keeps the certificate it was
 * opened with, reconnects included (maxReconnectAttempts -1): after the SVID expires, the first blip of the hub
 * would leave it reconnecting forever with a certificate the hub refuses — heartbeats stop (every strict rule
 * at every site turns read-only), collection and purges stop. So on every identity update a NEW connection is
 * opened with the current SVID, the users move to it (`onRotate`), and only then is the old one drained, as
 * the gateway's fleet link does (gateway/fleet/fleet-link.ts). Rotations are serialized; a failed connect is
 * tried again after `retryMs` while the old connection keeps serving.
 */
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { TimerHandle, Timers } from '../timers.js';
import type { Hub } from './control-hub.js';

export interface RotatingHubOptions {
  readonly connect: () => Promise<Hub>;
  readonly timers: Timers;
  readonly logger: Logger;
  /** Pause before a failed rotation is tried again (default 5 s). */
  readonly retryMs?: number;
}

export class RotatingHub {
  private hub: Hub;
  private readonly listeners: ((nc: NatsConnection) => void | Promise<void>)[] = [];
  private rotating: Promise<void> | null = null;
  private again = false;
  private retry: TimerHandle | null = null;
  private closed = false;

  constructor(
    first: Hub,
    private readonly o: RotatingHubOptions,
  ) {
    this.hub = first;
  }

  /** The current connection. */
  get nc(): NatsConnection {
    return this.hub.nc;
  }

  /** The current connection's bucket of one site. */
  site(site: string): Promise<KV> {
    return this.hub.site(site);
  }

  /** Called with each new connection, before the old one is drained (move subscriptions and clients there). */
  onRotate(listener: (nc: NatsConnection) => void | Promise<void>): void {
    this.listeners.push(listener);
  }

  /** Opens a connection with the current SVID, hands it over, drains the old one. */
  rotate(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.rotating !== null) {
      this.again = true; // an update during a rotation: once more with the newest SVID
      return this.rotating;
    }
    this.rotating = this.swap().finally(() => {
      this.rotating = null;
      if (this.again) {
        this.again = false;
        void this.rotate();
      }
    });
    return this.rotating;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.o.timers.clearTimeout(this.retry);
    await this.rotating;
    await this.hub.close();
  }

  private async swap(): Promise<void> {
    let next: Hub;
    try {
      next = await this.o.connect();
    } catch (err) {
      this.o.logger.warn({ err: errorMessage(err) }, 'control: new hub connection failed, keeping the old one');
      this.o.timers.clearTimeout(this.retry);
      this.retry = this.o.timers.setTimeout(() => void this.rotate(), this.o.retryMs ?? 5000);
      return;
    }
    if (this.closed) return void (await next.close());
    const old = this.hub;
    this.hub = next;
    for (const l of this.listeners) {
      try {
        await l(next.nc);
      } catch (err) {
        this.o.logger.error({ err: errorMessage(err) }, 'control: moving to the new hub connection failed');
      }
    }
    this.o.logger.info({}, 'control: hub connection renewed with the current SVID; draining the old one');
    await old.close();
  }
}
