/**
 * Watches the local mirror of this site's bucket (`site-<site>` at the leaf, docs/fleet.md) and dispatches
 * each key: `policy` → the policy apply (signed envelope), `locks.*` / `grants.*` / `heartbeat` → the
 * FleetStateHandlers (fleet-state-handlers.ts).
 *
 * Ordering and resume: entries are handled one at a time in revision (stream sequence) order, and only an
 * entry newer than the last one handled is dispatched — so a watch restarted from `last + 1` on a new
 * connection (SVID rotation, a closed connection) may overlap the old one without anything handled twice or
 * skipped. The first watch in this process is a full sync (the last value of every key); once it has
 * delivered everything that was in the bucket when it began — and a control heartbeat at least as new as the
 * newest this gateway already knew (`knownHeartbeat`), proof that the mirror has caught up with the hub at
 * least as far as this gateway had — `reconcile` tells the handlers which locks and grants exist, so one
 * deleted while the gateway was down counts as deleted. Later watches resume.
 */
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { Kvm, type KV, type KvWatchEntry } from '@nats-io/kv';
import { ExponentialBackoff } from '../backoff.js';
import { errorMessage } from '../errors.js';
import { nullLogger, type Logger } from '../logger.js';
import { unrefTimer, type TimerHandle, type Timers } from '../timers.js';
import type { FleetHeartbeat, FleetStateHandlers } from './fleet-state-handlers.js';
import { GRANT_KEY_PREFIX, KEY_HEARTBEAT, KEY_POLICY, LOCK_KEY_PREFIX, siteBucket } from './fleet-topology.js';

/** Applies a `policy` value (parsed JSON, unknown shape); `revision` is the bucket entry's. Never rejects. */
export type PolicyEntryHandler = (value: unknown, revision: number) => Promise<void> | void;

export interface SiteStateWatchOptions {
  readonly site: string;
  readonly handlers: FleetStateHandlers;
  readonly policy: PolicyEntryHandler;
  readonly timers: Timers;
  readonly logger?: Logger;
  /** Opens the bucket on a connection (tests may inject); default: the KV of `siteBucket(site)`. */
  readonly openBucket?: (nc: NatsConnection, bucket: string) => Promise<KV>;
  /**
   * The newest heartbeat this gateway already knew (FleetStaleness.last(): persisted across restarts), read
   * when a sync begins: the sync reconciles only once the mirror has delivered one at least as new. Default: none.
   */
  readonly knownHeartbeat?: () => FleetHeartbeat | null;
}

interface SyncState {
  /** Revision the full sync must reach (the stream's last sequence when it began); 0 = nothing to wait for. */
  readonly target: number;
  readonly locks: Set<string>;
  readonly grants: Set<string>;
  reached: boolean;
  /** Time (epoch ms) of the newest heartbeat this gateway knew when the sync began; -Infinity: none. */
  readonly floor: number;
  /** Time of the newest heartbeat the sync delivered (null: none yet). */
  heartbeat: number | null;
  told: boolean;
}

export class SiteStateWatch {
  private last = 0;
  private synced = false;
  private sync: SyncState | null = null;
  private generation = 0;
  private iter: QueuedIterator<KvWatchEntry> | null = null;
  private retryTimer: TimerHandle | undefined;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly backoff = new ExponentialBackoff({ initialMs: 500, maxMs: 10_000 });
  private readonly logger: Logger;

  constructor(private readonly opts: SiteStateWatchOptions) {
    this.logger = opts.logger ?? nullLogger;
  }

  /** The newest bucket revision handled. */
  lastRevision(): number {
    return this.last;
  }

  /** Whether the full sync of this process has completed (locks and grants reconciled). */
  isSynced(): boolean {
    return this.synced;
  }

  /** Watch on `nc` from now on (the first connection, or a replacement): the previous watch stops. */
  attach(nc: NatsConnection): void {
    if (this.closed) return;
    const gen = ++this.generation;
    this.stopIterator();
    this.opts.timers.clearTimeout(this.retryTimer);
    this.backoff.reset();
    void this.run(nc, gen);
  }

  /** Stops watching; resolves once the entry being handled (e.g. a policy apply) is done. */
  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    this.opts.timers.clearTimeout(this.retryTimer);
    this.stopIterator();
    await this.chain;
  }

  private stopIterator(): void {
    this.iter?.stop();
    this.iter = null;
  }

  private async run(nc: NatsConnection, gen: number): Promise<void> {
    const bucket = siteBucket(this.opts.site);
    try {
      const kv = await (this.opts.openBucket ?? defaultOpen)(nc, bucket);
      if (gen !== this.generation) return;
      if (!this.synced) {
        const state = (await kv.status()).streamInfo.state;
        if (gen !== this.generation) return;
        this.last = 0; // a sync that started over re-delivers everything; handlers are idempotent
        const target = state.messages > 0 ? state.last_seq : 0;
        const known = this.opts.knownHeartbeat?.() ?? null;
        const knownTime = known === null ? Number.NaN : Date.parse(known.time);
        const floor = Number.isFinite(knownTime) ? knownTime : Number.NEGATIVE_INFINITY;
        this.sync = {
          target,
          locks: new Set(),
          grants: new Set(),
          reached: false,
          floor,
          heartbeat: null,
          told: false,
        };
      }
      const iter = await kv.watch(this.synced ? { resumeFromRevision: this.last + 1 } : {});
      if (gen !== this.generation) {
        iter.stop();
        return;
      }
      this.iter = iter;
      this.logger.info({ bucket, from: this.synced ? this.last + 1 : 'full sync' }, 'fleet: watching the site bucket');
      if (this.sync?.target === 0) this.enqueueSyncDone();
      for await (const e of iter) {
        if (gen !== this.generation) return;
        this.backoff.reset();
        this.enqueue(e);
      }
    } catch (err) {
      if (gen !== this.generation) return;
      this.logger.warn({ bucket, err: errorMessage(err) }, 'fleet: site bucket watch failed');
    }
    if (gen !== this.generation || this.closed) return;
    // the watch ended while its connection is still current (consumer lost, leaf restarted): resume
    const delay = this.backoff.next();
    this.retryTimer = unrefTimer(
      this.opts.timers.setTimeout(() => {
        if (gen === this.generation) void this.run(nc, gen);
      }, delay),
    );
  }

  private enqueue(e: KvWatchEntry): void {
    this.chain = this.chain.then(() => this.handle(e)).catch(() => undefined);
  }

  private enqueueSyncDone(): void {
    // caught like enqueue's: a rejected link would stop every later entry from being handled
    this.chain = this.chain
      .then(() => this.finishSync())
      .catch((err: unknown) => this.logger.error({ err: errorMessage(err) }, 'fleet: finishing the sync failed'));
  }

  private async handle(e: KvWatchEntry): Promise<void> {
    if (e.revision <= this.last) return;
    this.last = e.revision;
    const deleted = e.operation !== 'PUT';
    const value = deleted ? null : parseValue(e);
    try {
      await this.dispatch(e.key, value, e.revision);
    } catch (err) {
      this.logger.error({ key: e.key, revision: e.revision, err: errorMessage(err) }, 'fleet: handler failed');
    }
    const s = this.sync;
    if (s !== null) {
      track(s.locks, e.key, LOCK_KEY_PREFIX, deleted);
      track(s.grants, e.key, GRANT_KEY_PREFIX, deleted);
      const hb = e.key === KEY_HEARTBEAT && value !== null ? heartbeatOf(value) : null;
      if (hb !== null) s.heartbeat = Math.max(s.heartbeat ?? Number.NEGATIVE_INFINITY, Date.parse(hb.time));
      if (e.revision >= s.target || e.isUpdate) s.reached = true;
      this.finishSync();
    }
  }

  /**
   * Reconciles once the snapshot is delivered AND the sync has delivered a control heartbeat at least as new as
   * the newest this gateway knew. Without any, the mirror has never caught up with the hub (a new or wiped leaf
   * store); with only older ones it is behind what this gateway has already enforced (a leaf store restored from
   * an older snapshot, or a wiped one still catching up): its word proves nothing, and removing the locks held
   * here on it would fail open. The ids go on being tracked until such a heartbeat comes.
   */
  private finishSync(): void {
    const s = this.sync;
    if (s === null) return;
    if (s.target === 0) s.reached = true;
    if (!s.reached) return;
    if (s.heartbeat === null || s.heartbeat < s.floor) {
      if (!s.told)
        this.logger.warn(
          { bucket: siteBucket(this.opts.site), newestKnown: Number.isFinite(s.floor) ? s.floor : null },
          'fleet: no control heartbeat in the site bucket as new as the newest this gateway knew: locks and grants not reconciled until one',
        );
      s.told = true;
      return;
    }
    this.sync = null;
    this.synced = true;
    try {
      this.opts.handlers.reconcile({ locks: s.locks, grants: s.grants, heartbeatTime: s.heartbeat });
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'fleet: reconcile failed');
    }
    this.logger.info({ locks: s.locks.size, grants: s.grants.size, revision: this.last }, 'fleet: site state synced');
  }

  private async dispatch(key: string, value: unknown, revision: number): Promise<void> {
    const h = this.opts.handlers;
    if (key === KEY_POLICY) {
      if (value === null) this.logger.warn({ revision }, 'fleet: policy key deleted; the policy in force stays');
      else await this.opts.policy(value, revision);
    } else if (key === KEY_HEARTBEAT) {
      const hb = value === null ? null : heartbeatOf(value);
      if (hb !== null) h.heartbeat(hb);
      else if (value !== null) this.logger.warn({ revision }, 'fleet: malformed heartbeat dropped');
    } else if (key.startsWith(LOCK_KEY_PREFIX)) {
      h.lock(key.slice(LOCK_KEY_PREFIX.length), value);
    } else if (key.startsWith(GRANT_KEY_PREFIX)) {
      h.grant(key.slice(GRANT_KEY_PREFIX.length), value);
    } else {
      this.logger.debug({ key, revision }, 'fleet: unknown key in the site bucket ignored');
    }
  }
}

function defaultOpen(nc: NatsConnection, bucket: string): Promise<KV> {
  return new Kvm(nc).open(bucket);
}

/** The JSON value, or its text when it is not JSON (the handler refuses it). */
function parseValue(e: KvWatchEntry): unknown {
  const text = e.string();
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function heartbeatOf(v: unknown): FleetHeartbeat | null {
  if (v === null || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (typeof o.time !== 'string' || Number.isNaN(Date.parse(o.time))) return null;
  if (typeof o.seq !== 'number' || typeof o.by !== 'string') return null;
  return { time: o.time, seq: o.seq, by: o.by };
}

/** Keeps `ids` equal to the keys under `prefix` that exist, as entries arrive. */
function track(ids: Set<string>, key: string, prefix: string, deleted: boolean): void {
  if (!key.startsWith(prefix)) return;
  const id = key.slice(prefix.length);
  if (deleted) ids.delete(id);
  else ids.add(id);
}
