/**
 * The gateway's status beat (docs/fleet.md): every `fleet.statusEvery`, one core-NATS message on
 * `statusSubject(site, gateway)` — what `verigate control status` shows per gateway. Fire and forget: while
 * the leaf is away no beat is sent (nor queued: an old beat would lie about the present).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import { statusSubject } from './fleet-topology.js';

export interface FleetStatus {
  readonly site: string;
  readonly gateway: string;
  readonly time: string;
  readonly policyRevision: number;
  readonly policyVersion: string;
  /** now − the newest control heartbeat; null before the first one. */
  readonly stalenessSeconds: number | null;
  readonly sessions: number;
  readonly audit: { readonly lastSeq: number; readonly publishedSeq: number };
}

/** Where each member comes from (the component wires the policy, trust, sessions and audit publisher). */
export interface StatusSources {
  policyRevision(): number;
  policyVersion(): string;
  stalenessSeconds(): number | null;
  sessions(): number;
  audit(): { lastSeq: number; publishedSeq: number };
}

export interface StatusBeatOptions {
  readonly site: string;
  readonly gateway: string;
  readonly everyMs: number;
  readonly sources: StatusSources;
  /** The current connection when it is up, else null. */
  readonly connection: () => NatsConnection | null;
  /** Wall clock (epoch ms) and the interval. */
  readonly timers: Timers;
  readonly logger?: Logger;
}

export class StatusBeat {
  private timer: TimerHandle | undefined;
  private readonly logger: Logger;

  constructor(private readonly opts: StatusBeatOptions) {
    this.logger = opts.logger ?? nullLogger;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = unrefTimer(this.opts.timers.setInterval(() => this.beat(), this.opts.everyMs));
  }

  /** The status as of now (also what a beat carries). */
  snapshot(): FleetStatus {
    const { site, gateway, sources: s, timers } = this.opts;
    return {
      site,
      gateway,
      time: new Date(timers.now()).toISOString(),
      policyRevision: s.policyRevision(),
      policyVersion: s.policyVersion(),
      stalenessSeconds: s.stalenessSeconds(),
      sessions: s.sessions(),
      audit: s.audit(),
    };
  }

  /** Sends one beat now, if connected; false when it was not sent. */
  beat(): boolean {
    const nc = this.opts.connection();
    if (nc === null) return false;
    try {
      nc.publish(statusSubject(this.opts.site, this.opts.gateway), JSON.stringify(this.snapshot()));
      return true;
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'fleet: status beat not sent');
      return false;
    }
  }

  stop(): void {
    this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
