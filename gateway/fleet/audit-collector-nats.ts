/**
 * Runs the audit collector (audit-collector.ts) on the hub: the hub `AUDIT` stream (domain `hub`) is read in
 * stream order, batch by batch — handle, fdatasync, then the collector's own durable cursor (the last stream
 * seq whose effects are on disk, `collector-<name>.cursor.json` in the audit dir) moves — and each gateway's
 * own edge stream `AUDIT-<gateway>` is purged (JetStream API of the site's domain, across the leaf link) below
 * its last verified block, so a capped edge stream drains.
 *
 * Why an ordered consumer and our own cursor rather than a durable consumer with acks: a durable pull
 * consumer delivers later messages before one whose delivery was lost (e.g. while the hub regains quorum)
 * until that one's ack_wait expires, and a chain verifier must see each gateway's blocks in order. The ordered
 * consumer checks every delivery sequence and recreates itself on any gap; after an error (or a restart) it
 * is recreated from the cursor, so a message that could not be written comes again first. Re-reading what was
 * already handled is harmless (identical blocks are ignored). Purges run beside; a leaf that is offline is
 * purged later. Also beside: each configured site's gateway streams are listed across the leaf link, the
 * durable consumer each is sourced through is ensured (gateways may not create or change it) and the hub
 * sources of new ones are added (audit-source-sync.ts), once a site answers and again now and then.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type Consumer,
  type JetStreamManager,
  type JsMsg,
  type OrderedConsumerOptions,
} from '@nats-io/jetstream';
import { writeFileAtomically } from '../atomic-file.js';
import { ExponentialBackoff, type BackoffOptions } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import type { Timers } from '../timers.js';
import { AuditCollector, DEFAULT_MAX_GATEWAYS_PER_SITE as MAX_GW } from './audit-collector.js';
import type { AuditCollectorOptions, GatewayAuditReport } from './audit-collector.js';
import { syncSiteAuditSources } from './audit-source-sync.js';
import { AUDIT_STREAM, HUB_DOMAIN, edgeAuditStream } from './fleet-topology.js';
import { edgeSeqOf, gatewayAuditSourceName, streamSourceOf } from './hub-provision.js';

export const AUDIT_COLLECTOR_NAME = 'verigate-audit-collector';

export interface NatsAuditCollectorOptions extends AuditCollectorOptions {
  readonly timers: Timers;
  /** Names the collector's cursor file (default verigate-audit-collector); one per filter set. */
  readonly name?: string;
  /** Only these subjects of the hub stream (e.g. `audit.site-a.>`: one collector per group of sites). */
  readonly filterSubjects?: readonly string[];
  /** Messages per fetch (default 256). */
  readonly batch?: number;
  /** How often each gateway's edge stream is purged at most (default 1 s). */
  readonly purgeEveryMs?: number;
  /** How often each configured site's gateway streams are listed and sourced (default 30 s; 5 s while it fails). */
  readonly ensureSourceEveryMs?: number;
  readonly retry?: BackoffOptions;
  readonly requestTimeoutMs?: number;
  /**
   * The connection for requests INTO a site's domain (the edge purge): opened with
   * `inboxPrefix: controlInboxPrefix(site)`, the only replies a leaf link passes. Default: the hub connection.
   */
  readonly siteConnection?: (site: string) => Promise<NatsConnection>;
}

export class NatsAuditCollector {
  readonly collector: AuditCollector;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private readonly purged = new Map<string, number>();
  private lastPurgeAt = -Infinity;
  private purging: Promise<void> | null = null;
  private readonly edgeApis = new Map<string, Promise<JetStreamManager>>();
  /** Per configured site: when its source consumer is due to be ensured (again). */
  private readonly sourceDue = new Map<string, number>();
  private ensuring: Promise<void> | null = null;
  private handled = 0;
  /** The last hub stream seq handled and made durable. */
  private cursor = 0;
  private wake: (() => void) | null = null;
  private woken: (() => void) | null = null;

  constructor(
    private nc: NatsConnection,
    private readonly opts: NatsAuditCollectorOptions,
  ) {
    // every message of the hub stream is sourced: its gateway is the edge stream it came through, not its subject
    this.collector = new AuditCollector({ sourceOf: gatewayAuditSourceName, ...opts });
  }

  get log(): Logger {
    return this.opts.logger ?? nullLogger;
  }

  /** Messages handled since start (tests, status). */
  get messages(): number {
    return this.handled;
  }

  /** Checks that the hub AUDIT stream exists (throws otherwise), reads the cursor and consumes after it. */
  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { domain: HUB_DOMAIN, timeout: this.timeout, checkAPI: false });
    await jsm.streams.info(AUDIT_STREAM);
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o750 });
    this.cursor = this.readCursor();
    this.loop = this.consume();
  }

  report(): GatewayAuditReport[] {
    return this.collector.report();
  }

  /**
   * Continues on another hub connection (a renewed SVID): the consumer is recreated there from the cursor, and
   * the site connections for purges are asked for again (`siteConnection`).
   */
  useConnection(nc: NatsConnection): void {
    this.nc = nc;
    this.edgeApis.clear();
  }

  /** The last hub stream seq handled and made durable (0: none). */
  get position(): number {
    return this.cursor;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
    await this.purging;
    await this.ensuring;
    this.collector.close();
  }

  private get timeout(): number {
    return this.opts.requestTimeoutMs ?? 5000;
  }

  private async consume(): Promise<void> {
    const backoff = new ExponentialBackoff(this.opts.retry ?? { initialMs: 250, maxMs: 10_000 });
    let on = this.nc;
    let js = jetstream(on, { domain: HUB_DOMAIN, timeout: this.timeout });
    let consumer: Consumer | null = null;
    while (!this.stopping) {
      if (on !== this.nc) {
        on = this.nc; // moved to a new connection: read on from the cursor there
        js = jetstream(on, { domain: HUB_DOMAIN, timeout: this.timeout });
        consumer = null;
      }
      try {
        consumer ??= await js.consumers.get(AUDIT_STREAM, this.orderedFrom(this.cursor + 1));
        const fetched = await consumer.fetch({ max_messages: this.opts.batch ?? 256, expires: 1000 });
        const batch: JsMsg[] = [];
        for await (const m of fetched) batch.push(m);
        this.process(batch);
        backoff.reset();
        this.maybePurge();
        this.maybeEnsureSources();
      } catch (err) {
        consumer = null; // recreated from the cursor: what was not made durable comes again, first
        if (this.stopping) break;
        this.log.warn({ err: errorMessage(err) }, 'fleet audit: collecting failed, retrying');
        await this.sleep(backoff.next());
      }
    }
  }

  private orderedFrom(seq: number): Partial<OrderedConsumerOptions> {
    const filter = this.opts.filterSubjects === undefined ? {} : { filter_subjects: [...this.opts.filterSubjects] };
    return seq <= 1
      ? { deliver_policy: DeliverPolicy.All, ...filter }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq, ...filter };
  }

  /** Handle in order → fdatasync → move the cursor; a failure stops the batch there (it comes again). */
  private process(batch: readonly JsMsg[]): void {
    let last = this.cursor;
    let failure: unknown = null;
    for (const m of batch) {
      if (m.seq <= last) continue; // delivered again after a recreation
      try {
        this.collector.handle({ subject: m.subject, data: m.data, edgeSeq: edgeSeqOf(m), source: streamSourceOf(m) });
        last = m.seq;
      } catch (err) {
        failure = err;
        break;
      }
    }
    this.collector.commit(); // throws when not durable: the cursor stays, the batch comes again
    if (last > this.cursor) {
      this.handled += batch.filter((m) => m.seq > this.cursor && m.seq <= last).length;
      this.cursor = last;
      this.writeCursor();
    }
    if (failure !== null) throw failure instanceof Error ? failure : new Error(errorMessage(failure));
  }

  private get cursorFile(): string {
    return join(this.opts.dir, `collector-${this.opts.name ?? AUDIT_COLLECTOR_NAME}.cursor.json`);
  }

  private readCursor(): number {
    if (!existsSync(this.cursorFile)) return 0;
    try {
      const seq = (JSON.parse(readFileSync(this.cursorFile, 'utf8')) as { streamSeq?: unknown }).streamSeq;
      return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? seq : 0;
    } catch {
      return 0; // unreadable: start over (re-reading is harmless, identical blocks are ignored)
    }
  }

  /** Old cursor or new after a crash; a rename lost to a power cut only means a batch read again (harmless). */
  private writeCursor(): void {
    const text = JSON.stringify({ streamSeq: this.cursor }) + '\n';
    writeFileAtomically(this.cursorFile, text, { mode: 0o640, syncDir: false });
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
          await jsm.streams.purge(edgeAuditStream(t.gateway), { seq: t.keepFrom });
          this.purged.set(`${t.site}/${t.gateway}`, t.keepFrom);
          this.log.debug({ site: t.site, gateway: t.gateway, keepFrom: t.keepFrom }, 'fleet audit: edge purged');
        } catch (err) {
          this.log.debug(
            { site: t.site, gateway: t.gateway, keepFrom: t.keepFrom, err: errorMessage(err) },
            'fleet audit: edge purge failed (leaf away?)',
          );
        }
      }
    })().finally(() => (this.purging = null));
  }

  /** Lists, in the background, the gateway streams of each configured site that is due, and sources them. */
  private maybeEnsureSources(): void {
    const now = this.opts.timers.now();
    const due = (this.opts.sites ?? []).filter((s) => (this.sourceDue.get(s) ?? -Infinity) <= now);
    if (this.ensuring !== null || due.length === 0) return;
    const every = this.opts.ensureSourceEveryMs ?? 30_000;
    this.ensuring = (async () => {
      for (const site of due) {
        try {
          const max = this.opts.maxGatewaysPerSite ?? MAX_GW;
          const r = await syncSiteAuditSources(await this.edgeApi(site), await this.hubApi(), site, max);
          if (r.consumersEnsured.length + r.sourcesAdded.length > 0)
            this.log.info({ site, ...r }, 'fleet audit: source consumers at the site or hub sources made or put back');
          this.sourceDue.set(site, now + every);
        } catch (err) {
          this.sourceDue.set(site, now + Math.min(every, 5000));
          this.log.debug({ site, err: errorMessage(err) }, 'fleet audit: gateway streams not sourced (leaf away?)');
        }
      }
    })().finally(() => (this.ensuring = null));
  }

  private hubApi(): Promise<JetStreamManager> {
    return jetstreamManager(this.nc, { domain: HUB_DOMAIN, timeout: this.timeout, checkAPI: false });
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

  /** A retry pause; stop() ends it at once. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const h = this.opts.timers.setTimeout(() => this.wakeUp(), ms);
      this.wake = () => {
        this.opts.timers.clearTimeout(h);
        this.wakeUp();
      };
      this.woken = resolve;
    });
  }

  private wakeUp(): void {
    this.wake = null;
    this.woken?.();
    this.woken = null;
  }
}
