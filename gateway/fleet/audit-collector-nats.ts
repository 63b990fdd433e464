/**
 * Runs the audit collector (audit-collector.ts) on the hub: a durable pull consumer on the hub `AUDIT` stream
 * (domain `hub`, explicit acks) feeds it in stream order, batch by batch — handle, fdatasync, acknowledge —
 * and each gateway's edge stream is purged (JetStream API of the site's domain, across the leaf link) below
 * its last verified block, so a capped edge stream drains. A batch that cannot be written is NAKed in order
 * from the failed message on: JetStream redelivers NAKed messages before new ones, so a transient disk error
 * at the centre never shows up as a gap. Purges run beside the consumer; a site whose leaf is offline is
 * simply purged later.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { ExponentialBackoff, type BackoffOptions } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import type { Timers } from '../timers.js';
import { AuditCollector, type AuditCollectorOptions, type GatewayAuditReport } from './audit-collector.js';
import { AUDIT_STREAM, HUB_DOMAIN, auditEventsSubject } from './fleet-topology.js';

export const AUDIT_COLLECTOR_DURABLE = 'verigate-audit-collector';

export interface NatsAuditCollectorOptions extends AuditCollectorOptions {
  readonly timers: Timers;
  readonly durable?: string;
  /** Only these subjects of the hub stream (e.g. `audit.site-a.>`: one collector per group of sites). */
  readonly filterSubjects?: readonly string[];
  /** Messages per fetch (default 256). */
  readonly batch?: number;
  /** How often each gateway's edge stream is purged at most (default 1 s). */
  readonly purgeEveryMs?: number;
  readonly retry?: BackoffOptions;
  readonly requestTimeoutMs?: number;
  /**
   * The connection for requests INTO a site's domain (the edge purge): opened with
   * `inboxPrefix: controlInboxPrefix(site)`, the only replies a leaf link passes. Default: the hub connection.
   */
  readonly siteConnection?: (site: string) => Promise<NatsConnection>;
}

/** The edge seq a sourced message came from: `Nats-Stream-Source: <stream[:hash]> <seq> <filter> …`. */
export function edgeSeqOf(m: Pick<JsMsg, 'headers'>): number | null {
  const v = m.headers?.get('Nats-Stream-Source');
  const seq = v === undefined || v === '' ? NaN : Number(v.split(' ')[1]);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null;
}

/** All subjects of one gateway (events and checkpoints), as a purge filter. */
function gatewayFilter(site: string, gateway: string): string {
  const events = auditEventsSubject(site, gateway);
  return `${events.slice(0, events.lastIndexOf('.'))}.>`;
}

export class NatsAuditCollector {
  readonly collector: AuditCollector;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private readonly purged = new Map<string, number>();
  private lastPurgeAt = -Infinity;
  private purging: Promise<void> | null = null;
  private readonly edgeApis = new Map<string, Promise<JetStreamManager>>();
  private handled = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: NatsAuditCollectorOptions,
  ) {
    this.collector = new AuditCollector(opts);
  }

  get log(): Logger {
    return this.opts.logger ?? nullLogger;
  }

  /** Messages handled since start (tests, status). */
  get messages(): number {
    return this.handled;
  }

  /** Ensures the durable consumer and starts consuming. */
  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { domain: HUB_DOMAIN, timeout: this.timeout, checkAPI: false });
    const durable = this.opts.durable ?? AUDIT_COLLECTOR_DURABLE;
    await jsm.consumers.add(AUDIT_STREAM, {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000_000_000,
      max_ack_pending: 4 * (this.opts.batch ?? 256),
      ...(this.opts.filterSubjects === undefined ? {} : { filter_subjects: [...this.opts.filterSubjects] }),
    });
    this.loop = this.consume(durable);
  }

  report(): GatewayAuditReport[] {
    return this.collector.report();
  }

  /** Resolves true once the consumer has nothing pending (all messages handled and acknowledged). */
  async caughtUp(): Promise<boolean> {
    const js = jetstream(this.nc, { domain: HUB_DOMAIN, timeout: this.timeout });
    const c = await js.consumers.get(AUDIT_STREAM, this.opts.durable ?? AUDIT_COLLECTOR_DURABLE);
    const info = await c.info();
    return info.num_pending === 0 && info.num_ack_pending === 0;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    await this.purging;
    this.collector.close();
  }

  private get timeout(): number {
    return this.opts.requestTimeoutMs ?? 5000;
  }

  private async consume(durable: string): Promise<void> {
    const backoff = new ExponentialBackoff(this.opts.retry ?? { initialMs: 250, maxMs: 10_000 });
    const js = jetstream(this.nc, { domain: HUB_DOMAIN, timeout: this.timeout });
    let consumer: Awaited<ReturnType<typeof js.consumers.get>> | null = null;
    while (!this.stopping) {
      try {
        consumer ??= await js.consumers.get(AUDIT_STREAM, durable);
        const fetched = await consumer.fetch({ max_messages: this.opts.batch ?? 256, expires: 1000 });
        const batch: JsMsg[] = [];
        for await (const m of fetched) batch.push(m);
        this.process(batch);
        backoff.reset();
        this.maybePurge();
      } catch (err) {
        if (this.stopping) break;
        consumer = null;
        this.log.warn({ err: errorMessage(err) }, 'fleet audit: collecting failed, retrying');
        await this.sleep(backoff.next());
      }
    }
  }

  /** Handle → fdatasync → acknowledge; from a failure on, NAK in order (redelivered first). */
  private process(batch: readonly JsMsg[]): void {
    let done = 0;
    let failure: unknown = null;
    for (const m of batch) {
      try {
        this.collector.handle({ subject: m.subject, data: m.data, edgeSeq: edgeSeqOf(m) });
        done++;
      } catch (err) {
        failure = err;
        break;
      }
    }
    try {
      this.collector.commit();
    } catch (err) {
      failure ??= err;
      done = 0;
    }
    for (const m of batch.slice(0, done)) m.ack();
    for (const m of batch.slice(done)) m.nak(1000);
    this.handled += done;
    if (failure !== null) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
  }

  private maybePurge(): void {
    const now = this.opts.timers.now();
    if (this.purging !== null || now - this.lastPurgeAt < (this.opts.purgeEveryMs ?? 1000)) return;
    const due = this.collector
      .purgeTargets()
      .filter((t) => t.keepFrom > (this.purged.get(`${t.site}/${t.gateway}`) ?? 1));
    if (due.length === 0) return;
    this.lastPurgeAt = now;
    this.purging = (async () => {
      for (const t of due) {
        try {
          const jsm = await this.edgeApi(t.site);
          await jsm.streams.purge(AUDIT_STREAM, { filter: gatewayFilter(t.site, t.gateway), seq: t.keepFrom });
          this.purged.set(`${t.site}/${t.gateway}`, t.keepFrom);
        } catch (err) {
          this.log.debug({ site: t.site, err: errorMessage(err) }, 'fleet audit: edge purge failed (leaf away?)');
        }
      }
    })().finally(() => (this.purging = null));
  }

  private edgeApi(site: string): Promise<JetStreamManager> {
    let p = this.edgeApis.get(site);
    if (p === undefined) {
      const conn = this.opts.siteConnection?.(site) ?? Promise.resolve(this.nc);
      p = conn.then((nc) => jetstreamManager(nc, { domain: site, timeout: this.timeout, checkAPI: false }));
      this.edgeApis.set(site, p);
      p.catch(() => this.edgeApis.delete(site)); // asked again next time
    }
    return p;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.opts.timers.setTimeout(r, ms));
  }
}
