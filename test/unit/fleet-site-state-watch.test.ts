/**
 * The site-state watch (gateway/fleet/site-state-watch.ts) over an in-memory bucket, wired to the real fleet
 * enforcement and trust runtime: a resync reconciles only once the mirror has delivered a heartbeat at least
 * as new as the newest this gateway already knew (a leaf store restored from an older snapshot, or a wiped one
 * catching up, never removes newer fleet locks), a lock that arrived after the mirror's newest heartbeat is never
 * removed on its word, and the handling chain survives a failure while finishing the sync. Clock: fake timers.
 */
import t, { type Test } from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { loadPolicyText } from '../../gateway/policy/index.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import { createFleetEnforcement } from '../../gateway/fleet/fleet-enforcement.js';
import type { FleetStatePresent } from '../../gateway/fleet/fleet-state-handlers.js';
import { SiteStateWatch } from '../../gateway/fleet/site-state-watch.js';
import { nullLogger, type Logger } from '../../gateway/logger.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const T0 = Date.parse('2026-12-01T10:00:00Z');
const BY = 'spiffe://td.example/fleet/control';
const HMI = 'spiffe://td.example/hmi/1';
const POLICY = loadPolicyText(
  `version: 1
trustDomain: td.example
rules:
  - id: rw
    principals: [spiffe://td.example/**]
    devices: [plc-*]
    allow: [{ access: read-write, table: holding, addresses: 0-99 }]
`,
  'policy.yaml',
);
const heartbeat = (ms: number, seq = 1) => JSON.stringify({ time: new Date(ms).toISOString(), seq, by: BY });
const hubLock = (id: string, createdAt = T0) =>
  JSON.stringify({
    id,
    target: { kind: 'identity', value: HMI },
    by: BY,
    reason: 'incident 42',
    createdAt: new Date(createdAt).toISOString(),
  });

interface Msg {
  readonly key: string;
  readonly value: string | null;
  readonly revision: number;
}

/** A KV bucket in memory: its history, `status()`, and a watch that delivers the last value of every key first. */
class MemoryBucket {
  private readonly history: Msg[] = [];
  private readonly watchers = new Set<(m: Msg) => void>();

  put(key: string, value: string): void {
    this.append(key, value);
  }

  delete(key: string): void {
    this.append(key, null);
  }

  private append(key: string, value: string | null): void {
    const m = { key, value, revision: this.history.length + 1 };
    this.history.push(m);
    for (const w of this.watchers) w(m);
  }

  asKv(): KV {
    return {
      status: () =>
        Promise.resolve({
          streamInfo: { state: { messages: this.history.length, last_seq: this.history.length } },
        }),
      watch: () => Promise.resolve(this.watch()),
    } as unknown as KV;
  }

  private watch(): AsyncIterable<KvWatchEntry> & { stop(): void } {
    const last = new Map<string, Msg>();
    for (const m of this.history) last.set(m.key, m);
    const queue: KvWatchEntry[] = [...last.values()]
      .sort((a, b) => a.revision - b.revision)
      .map((m) => entry(m, false));
    let wake: (() => void) | null = null;
    let stopped = false;
    const push = (m: Msg): void => {
      queue.push(entry(m, true));
      wake?.();
    };
    this.watchers.add(push);
    const stop = (): void => {
      stopped = true;
      this.watchers.delete(push);
      wake?.();
    };
    return {
      stop,
      async *[Symbol.asyncIterator]() {
        while (!stopped) {
          const next = queue.shift();
          if (next !== undefined) yield next;
          else await new Promise<void>((resolve) => (wake = resolve));
        }
      },
    };
  }
}

function entry(m: Msg, isUpdate: boolean): KvWatchEntry {
  return {
    key: m.key,
    revision: m.revision,
    operation: m.value === null ? 'DEL' : 'PUT',
    isUpdate,
    string: () => m.value ?? '',
  } as unknown as KvWatchEntry;
}

/** Lets the watch's async chain run (the in-memory bucket resolves at once: a few turns suffice). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One gateway process: its trust runtime and fleet enforcement on `dir`, and a watch on `bucket`. */
async function gateway(t: Test, dir: string, bucket: MemoryBucket, timers: FakeTimers, logger?: Logger) {
  const events: AuditEventInput[] = [];
  const trust = await TrustRuntime.open({
    dir,
    policy: () => POLICY,
    sessions: { all: () => [], countFor: () => 0, endMatching: () => 0 },
    audit: { append: (e) => (events.push(e), { ok: true, seq: events.length }) },
    timers,
    tickMs: 0,
  });
  const enforcement = createFleetEnforcement({ trust, stateDir: dir, now: () => timers.now(), maxStalenessMs: 60_000 });
  const presents: FleetStatePresent[] = [];
  const watch = new SiteStateWatch({
    site: 'site-a',
    handlers: {
      ...enforcement.handlers,
      reconcile: (p) => {
        presents.push(p);
        enforcement.handlers.reconcile(p);
      },
    },
    policy: () => undefined,
    knownHeartbeat: () => enforcement.staleness.last(),
    timers,
    logger: logger ?? nullLogger,
    openBucket: () => Promise.resolve(bucket.asKv()),
  });
  t.teardown(async () => {
    await watch.close();
    trust.close();
  });
  const stop = async (): Promise<void> => {
    await watch.close();
    enforcement.close(); // persists the newest heartbeat
    trust.close();
  };
  const lockIds = () => trust.locks.list().map((l) => l.id);
  return { trust, enforcement, watch, events, presents, stop, lockIds };
}

const NC = {} as NatsConnection;

t.test('a restart against a leaf store restored from an older snapshot keeps the newer fleet lock', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-watch-'));
  const timers = new FakeTimers(T0 + 30_000);
  // before: the mirror was current; heartbeat at T0+10 s, then lock L made at the hub
  const current = new MemoryBucket();
  current.put('heartbeat', heartbeat(T0 + 10_000, 10));
  current.put('locks.L', hubLock('L', T0 + 11_000));
  const first = await gateway(t, dir, current, timers);
  first.watch.attach(NC);
  await settle();
  t.same(first.lockIds(), ['L']);
  t.equal(first.watch.isSynced(), true);
  await first.stop();

  // the leaf store restored from a snapshot taken at T0+5 s: a heartbeat, but not L; the WAN is down
  const restored = new MemoryBucket();
  restored.put('heartbeat', heartbeat(T0 + 5_000, 5));
  const second = await gateway(t, dir, restored, timers);
  second.watch.attach(NC);
  await settle();
  t.same(second.lockIds(), ['L'], 'the older mirror does not remove a lock it never held');
  t.equal(second.watch.isSynced(), false, 'not reconciled on the word of an older mirror');
  t.equal(second.presents.length, 0);

  // the WAN returns: the mirror catches up (L, then the newer heartbeats), and only then reconciles
  restored.put('locks.L', hubLock('L', T0 + 11_000));
  restored.put('heartbeat', heartbeat(T0 + 31_000, 31));
  await settle();
  t.equal(second.watch.isSynced(), true);
  t.same(second.lockIds(), ['L']);
  t.equal(second.presents[0]?.heartbeatTime, T0 + 31_000);
});

t.test('a wiped mirror catching up reconciles only at a heartbeat as new as the newest known', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-watch-'));
  const timers = new FakeTimers(T0 + 60_000);
  const current = new MemoryBucket();
  current.put('locks.OLD', hubLock('OLD', T0 + 1_000));
  current.put('locks.NEW', hubLock('NEW', T0 + 21_000));
  current.put('heartbeat', heartbeat(T0 + 30_000, 30));
  const first = await gateway(t, dir, current, timers);
  first.watch.attach(NC);
  await settle();
  t.same(first.lockIds().sort(), ['NEW', 'OLD']);
  await first.stop();

  // meanwhile at the hub: OLD deleted at T0+40 s. The leaf store is wiped and replays the hub stream from scratch.
  const wiped = new MemoryBucket();
  const second = await gateway(t, dir, wiped, timers);
  second.watch.attach(NC);
  await settle();
  wiped.put('locks.OLD', hubLock('OLD', T0 + 1_000));
  wiped.put('heartbeat', heartbeat(T0 + 2_000, 2)); // an old heartbeat first: proves nothing about NEW
  await settle();
  t.same(second.lockIds().sort(), ['NEW', 'OLD'], 'NEW is not removed while the mirror is behind');
  t.equal(second.watch.isSynced(), false);
  wiped.put('locks.NEW', hubLock('NEW', T0 + 21_000));
  wiped.put('heartbeat', heartbeat(T0 + 30_000, 30));
  await settle();
  t.equal(second.watch.isSynced(), true, 'a heartbeat as new as the newest known: the mirror caught up that far');
  t.same(second.lockIds().sort(), ['NEW', 'OLD']);
  wiped.delete('locks.OLD');
  wiped.put('heartbeat', heartbeat(T0 + 41_000, 41));
  await settle();
  t.same(second.lockIds(), ['NEW'], 'the deletion arrives with the catch-up');
});

t.test('a resync removes a fleet lock only when the mirror is newer than the lock', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-watch-'));
  const timers = new FakeTimers(T0 + 60_000);
  const current = new MemoryBucket();
  current.put('heartbeat', heartbeat(T0 + 10_000, 10));
  current.put('locks.GONE', hubLock('GONE', T0 + 1_000));
  current.put('locks.LATE', hubLock('LATE', T0 + 1_000)); // made early, received after the T0+10 s heartbeat
  const first = await gateway(t, dir, current, timers);
  first.watch.attach(NC);
  await settle();
  // the newest heartbeat persisted was T0+10 s; both locks arrived while it was the newest known
  await first.stop();

  // a mirror holding that same heartbeat (≥ the known: it reconciles) but neither lock
  const same = new MemoryBucket();
  same.put('heartbeat', heartbeat(T0 + 10_000, 10));
  const second = await gateway(t, dir, same, timers);
  second.watch.attach(NC);
  await settle();
  t.equal(second.watch.isSynced(), true);
  t.same(second.lockIds().sort(), ['GONE', 'LATE'], 'both arrived after that heartbeat: this mirror may predate them');
  await second.stop();

  const newer = new MemoryBucket();
  newer.put('locks.LATE', hubLock('LATE', T0 + 1_000));
  newer.put('heartbeat', heartbeat(T0 + 12_000, 12));
  const third = await gateway(t, dir, newer, timers);
  third.watch.attach(NC);
  await settle();
  t.same(third.lockIds(), ['LATE'], 'a newer mirror without GONE: deleted at the hub meanwhile');
  t.match(third.events.at(-1), { type: 'lock.removed', lockId: 'GONE', source: 'fleet' });
});

t.test('a failure while finishing the sync does not stop the handling of later entries', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-fleet-watch-'));
  const timers = new FakeTimers(T0);
  let throwOnce = true;
  const errors: string[] = [];
  const logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: () => {
      if (throwOnce) {
        throwOnce = false;
        throw new Error('log sink failed');
      }
    },
    error: (_o: object, msg?: string) => void errors.push(msg ?? ''),
  } satisfies Logger;
  const empty = new MemoryBucket(); // nothing to sync: finishing it is queued at once, and its warning throws
  const gw = await gateway(t, dir, empty, timers, logger);
  gw.watch.attach(NC);
  await settle();
  empty.put('locks.L1', hubLock('L1'));
  await settle();
  t.same(gw.lockIds(), ['L1'], 'the next entry is still handled');
  t.ok(errors.includes('fleet: finishing the sync failed'), 'the failure is logged');
});
