import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  AuditEventInput,
  SuppressedClassCount,
  SuppressedCount,
  ThrottleClass,
  WriteResult,
} from '../../gateway/audit/audit-events.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { AuditThrottle, sourceAddress, type ThrottleOptions } from '../../gateway/audit/audit-throttle.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { maxBoundedEventBytes, maxSummaryBytes } from '../../gateway/audit/audit-bound.js';

const OPTS: ThrottleOptions = {
  intervalMs: 60_000,
  perKey: 5,
  perClass: 12,
  maxEventBytes: 1536,
  maxKeys: 100,
  summaryEntries: 8,
};

/** An in-memory log: records what reaches it; can be made to fail or to be past its reserve. */
class FakeLog {
  readonly events: AuditEventInput[] = [];
  failing = false;
  reserve = false;
  append(e: AuditEventInput): WriteResult {
    if (this.failing) return { ok: false, error: 'disk full' };
    this.events.push(e);
    return { ok: true, seq: this.events.length };
  }
  healthy(): boolean {
    return !this.failing;
  }
  async committed(): Promise<boolean> {
    return Promise.resolve(!this.failing);
  }
  reserveReached(): boolean {
    return this.reserve;
  }
  of<T extends AuditEventInput['type']>(type: T): Extract<AuditEventInput, { type: T }>[] {
    return this.events.filter((e): e is Extract<AuditEventInput, { type: T }> => e.type === type);
  }
}

/** The throttle's periodic check runs every min(intervalMs, 1 s); the interval itself is judged on `clock`. */
const CHECK_MS = 1000;

function setup(
  opts: Partial<ThrottleOptions> = {},
  extra: { zeroRight?: (id: string) => boolean; onDenial?: (id: string) => void } = {},
) {
  const log = new FakeLog();
  const clock = { t: Date.parse('2026-03-01T00:00:00Z') };
  // The check's timer only: the clock the intervals are judged on is `clock`, moved by each test on its own.
  const timers = new FakeTimers();
  const throttle = new AuditThrottle({
    log,
    now: () => clock.t,
    options: { ...OPTS, ...opts },
    timers,
    ...(extra.zeroRight ? { zeroRight: extra.zeroRight } : {}),
    ...(extra.onDenial ? { onDenial: extra.onDenial } : {}),
  }).start();
  return { log, clock, timers, throttle };
}

const rejected = (
  peer: string,
  code = 'no-client-cert',
  detail = 'peer did not return a certificate',
): AuditEventInput => ({ type: 'handshake.rejected', peer, code, detail });
type Decision = Extract<AuditEventInput, { type: 'request.decision' }>;
const denial = (
  identity: string,
  reason = 'no-rule',
  outcome: 'denied' | 'audit-unavailable' = 'denied',
): Decision => ({
  type: 'request.decision',
  identity,
  device: 'turbine-1',
  unit: 1,
  fc: 3,
  reads: [{ table: 'holding', start: 0, count: 1 }],
  writes: [],
  decision: 'deny',
  ruleId: null,
  reason,
  outcome,
  latencyMs: 0.1,
  policyVersion: 'v1',
});
const allowed = (i: number): AuditEventInput => ({
  type: 'request.decision',
  identity: 'spiffe://plant.example/hmi/1',
  device: 'turbine-1',
  unit: 1,
  fc: 3,
  reads: [{ table: 'holding', start: i, count: 1 }],
  writes: [],
  decision: 'allow',
  ruleId: 'r1',
  reason: 'allowed',
  outcome: 'ok',
  latencyMs: 0.1,
  policyVersion: 'v1',
});

/** Individually written + summarized = what happened, per class and per key. */
function checkAddsUp(
  t: Test,
  log: FakeLog,
  happened: Record<string, number>,
  cls: ThrottleClass,
  keyOf: (e: AuditEventInput) => string | null,
): void {
  const summaries = log.of('audit.suppressed');
  const written: Record<string, number> = {};
  for (const e of log.events) {
    const k = keyOf(e);
    if (k !== null) written[k] = (written[k] ?? 0) + 1;
  }
  const summarized: Record<string, number> = {};
  let classSuppressed = 0;
  let classRecorded = 0;
  for (const s of summaries) {
    const c = s.classes.find((x: SuppressedClassCount) => x.class === cls);
    if (c) {
      classSuppressed += c.suppressed;
      classRecorded += c.recorded;
      t.equal(
        c.causes.perKey + c.causes.perClass + c.causes.reserve + c.causes.oversize,
        c.suppressed,
        'causes add up to suppressed',
      );
    }
    const ofClass = s.counts.filter((x: SuppressedCount) => x.class === cls);
    t.equal(
      ofClass.reduce((a: number, x: SuppressedCount) => a + x.count, 0),
      c?.suppressed ?? 0,
      'entries add up to the class count',
    );
    for (const x of ofClass) summarized[x.key] = (summarized[x.key] ?? 0) + x.count;
  }
  const total = Object.values(happened).reduce((a, b) => a + b, 0);
  const writtenTotal = Object.values(written).reduce((a, b) => a + b, 0);
  t.equal(writtenTotal + classSuppressed, total, `${cls}: written + summarized = what happened (${total})`);
  t.equal(classRecorded, writtenTotal, `${cls}: the summaries' "recorded" = events in the log`);
  for (const [k, n] of Object.entries(happened)) {
    if (summarized['other'] === undefined)
      t.equal((written[k] ?? 0) + (summarized[k] ?? 0), n, `${k}: ${n} accounted for`);
  }
}

t.test('source address: the addr of addr:port; unknown peers share one key', async (t) => {
  t.equal(sourceAddress('10.0.0.7:50123'), '10.0.0.7');
  t.equal(sourceAddress('?:0'), '?');
  t.equal(sourceAddress('::ffff:127.0.0.1:4000'), '::ffff:127.0.0.1');
  t.equal(sourceAddress('[2001:db8::1]:802'), '[2001:db8::1]');
  t.equal(sourceAddress(''), '?');
});

t.test(
  'pre-auth: first perKey per source, perClass overall, the rest in one summary per interval that adds up',
  async (t) => {
    const { log, clock, throttle } = setup();
    const happened: Record<string, number> = { '10.0.0.1': 0, '10.0.0.2': 0, '10.0.0.3': 0, '?': 0 };
    const send = (addr: string, port: number): void => {
      const r = throttle.append(rejected(`${addr}:${port}`));
      t.ok(r.ok);
      happened[addr === '?' ? '?' : addr]!++;
    };
    for (let i = 0; i < 100; i++) send('10.0.0.1', 40000 + i); // a new port per connection: still one key
    for (let i = 0; i < 3; i++) send('10.0.0.2', 1);
    for (let i = 0; i < 50; i++) send('?', 0);
    for (let i = 0; i < 20; i++) send('10.0.0.3', 2);
    const written = log.of('handshake.rejected');
    t.equal(written.filter((e) => e.peer.startsWith('10.0.0.1:')).length, 5, 'perKey for the flooding source');
    t.equal(written.filter((e) => e.peer.startsWith('10.0.0.2:')).length, 3, 'a quiet source is recorded in full');
    t.equal(written.filter((e) => e.peer === '?:0').length, 4, 'unknown peers share one key (class bound reached)');
    t.equal(written.length, 12, 'perClass across all sources');
    t.equal(log.of('audit.suppressed').length, 0, 'no summary before the interval ends');
    clock.t += OPTS.intervalMs;
    throttle.tick();
    throttle.tick();
    const s = log.of('audit.suppressed');
    t.equal(s.length, 1, 'one summary per interval, however often it ticks');
    t.equal(s[0]!.from, '2026-03-01T00:00:00.000Z');
    t.equal(s[0]!.to, '2026-03-01T00:01:00.000Z');
    t.same(s[0]!.classes, [
      {
        class: 'pre-auth',
        recorded: 12,
        suppressed: 161,
        causes: { perKey: 95, perClass: 66, reserve: 0, oversize: 0 },
      },
    ]);
    t.ok(s[0]!.counts.some((c) => c.key === '10.0.0.1' && c.reason === 'no-client-cert' && c.count === 95));
    checkAddsUp(t, log, happened, 'pre-auth', (e) => (e.type === 'handshake.rejected' ? sourceAddress(e.peer) : null));
    // A new interval: fresh allowances.
    throttle.append(rejected('10.0.0.1:1'));
    t.equal(log.of('handshake.rejected').length, 13, 'written again in the next interval');
  },
);

t.test(
  'allowed decisions and other events are never throttled; summarized events answer a distinct variant',
  async (t) => {
    const { log, throttle } = setup({ perClass: 1, perKey: 1 });
    for (let i = 0; i < 500; i++) {
      const r = throttle.append(allowed(i));
      t.ok(r.ok && r.seq !== null, 'written with a seq');
    }
    throttle.append({
      type: 'lock.created',
      lockId: 'l1',
      target: { kind: 'identity', value: 'spiffe://plant.example/x' },
      by: 'op',
      reason: 'test',
    });
    t.equal(log.events.length, 501);
    t.same(throttle.append(denial('spiffe://plant.example/x')), { ok: true, seq: 1 + 501 }, 'first denial written');
    t.same(
      throttle.append(denial('spiffe://plant.example/x')),
      { ok: true, seq: null, summarized: true },
      'then summarized',
    );
    t.ok(throttle.healthy(), "healthy() is the log's");
  },
);

t.test(
  'denials: keyed per identity, reason by its first word; denials imposed by a lock or the gateway are no flood evidence',
  async (t) => {
    const told: string[] = [];
    const { log, clock, throttle } = setup({}, { onDenial: (id) => told.push(id) });
    const a = 'spiffe://plant.example/zero';
    const b = 'spiffe://plant.example/hmi/1';
    for (let i = 0; i < 40; i++) throttle.append(denial(a, i % 2 ? 'no-rule' : 'locked 1234-abcd'));
    for (let i = 0; i < 4; i++) throttle.append(denial(b, 'rate-limited r1'));
    throttle.append(denial(b, 'audit-unavailable', 'audit-unavailable'));
    throttle.append(denial(b, 'lock-store-unavailable'));
    throttle.append(denial(b, 'grant-store-unavailable r1'));
    throttle.append(denial(b, 'grant-locked g-1'));
    throttle.append(denial(b, 'fleet-stale setpoints'));
    t.equal(
      told.length,
      24,
      "only the 20 no-rule and 4 rate-limited denials count: locks, audit-unavailable, unreadable lock or grant stores and a stale fleet view are not the identity's doing",
    );
    const written = log.of('request.decision');
    t.equal(written.filter((e) => e.identity === a).length, 5);
    t.equal(written.filter((e) => e.identity === b).length, 5, 'b: the first perKey (5) recorded');
    clock.t += OPTS.intervalMs;
    throttle.tick();
    const s = log.of('audit.suppressed')[0]!;
    t.same(
      s.counts
        .filter((c) => c.key === a)
        .map((c) => [c.reason, c.count])
        .sort(),
      [
        ['locked', 17],
        ['no-rule', 18],
      ],
    );
    checkAddsUp(t, log, { [a]: 40, [b]: 9 }, 'denial', (e) => (e.type === 'request.decision' ? e.identity : null));
  },
);

t.test('memory and summaries stay bounded with many sources; overflow goes to "other" and still adds up', async (t) => {
  const { log, clock, throttle } = setup({ maxKeys: 10, summaryEntries: 6, perKey: 2, perClass: 1000 });
  const happened: Record<string, number> = {};
  for (let i = 0; i < 3000; i++) {
    const addr = `10.0.${i % 50}.1`; // 50 sources, 60 refusals each
    throttle.append(rejected(`${addr}:1000`, i % 3 ? 'no-client-cert' : 'untrusted-chain'));
    happened[addr] = (happened[addr] ?? 0) + 1;
  }
  // keys 1–10 are tracked (2 each); every later key shares "other" (2 for all of them)
  t.equal(log.of('handshake.rejected').length, 22, 'tracked keys × perKey + the shared "other" key');
  clock.t += OPTS.intervalMs;
  throttle.tick();
  const s = log.of('audit.suppressed')[0]!;
  t.ok(s.counts.length <= 6 + 3, `summary entries bounded (${s.counts.length})`);
  t.ok(
    s.counts.some((c) => c.key === 'other' && c.reason === 'other'),
    'overflow entry',
  );
  checkAddsUp(t, log, happened, 'pre-auth', (e) => (e.type === 'handshake.rejected' ? sourceAddress(e.peer) : null));
});

t.test('past capacity − reserve every bounded event is summarized only; authorised events still written', async (t) => {
  const { log, clock, throttle } = setup();
  log.reserve = true;
  for (let i = 0; i < 10; i++)
    t.same(throttle.append(rejected('10.0.0.1:1')), { ok: true, seq: null, summarized: true });
  for (let i = 0; i < 10; i++) throttle.append(denial('spiffe://plant.example/zero'));
  for (let i = 0; i < 10; i++) t.ok(throttle.append(allowed(i)).ok);
  t.equal(log.events.length, 10, 'only the allowed decisions');
  clock.t += OPTS.intervalMs;
  throttle.tick();
  const s = log.of('audit.suppressed')[0]!;
  t.same(
    s.classes.map((c) => [c.class, c.recorded, c.causes.reserve]),
    [
      ['pre-auth', 0, 10],
      ['denial', 0, 10],
    ],
  );
});

t.test('an event larger than maxEventBytes is summarized (cause oversize)', async (t) => {
  const { log, clock, throttle } = setup({ maxEventBytes: 600 });
  throttle.append(rejected('10.0.0.9:5', 'untrusted-chain', 'x'.repeat(2000)));
  throttle.append(rejected('10.0.0.9:5', 'untrusted-chain', 'short'));
  t.equal(log.of('handshake.rejected').length, 1);
  clock.t += OPTS.intervalMs;
  throttle.tick();
  t.same(log.of('audit.suppressed')[0]!.classes[0]!.causes, { perKey: 0, perClass: 0, reserve: 0, oversize: 1 });
});

t.test(
  'a summary that cannot be written is kept and merged into the next one; a failed individual write is not "recorded"',
  async (t) => {
    const { log, clock, throttle } = setup({ perKey: 1 });
    throttle.append(rejected('10.0.0.1:1'));
    throttle.append(rejected('10.0.0.1:1'));
    log.failing = true;
    clock.t += OPTS.intervalMs;
    throttle.tick(); // summary fails
    throttle.append(rejected('10.0.0.1:2')); // new interval: would be written, but the write fails → lost, not recorded
    throttle.append(rejected('10.0.0.1:3')); // over perKey: counted
    log.failing = false;
    clock.t += OPTS.intervalMs;
    throttle.tick();
    const s = log.of('audit.suppressed');
    t.equal(s.length, 1);
    t.equal(s[0]!.from, '2026-03-01T00:00:00.000Z', 'covers both intervals');
    t.same(s[0]!.classes, [
      { class: 'pre-auth', recorded: 1, suppressed: 2, causes: { perKey: 2, perClass: 0, reserve: 0, oversize: 0 } },
    ]);
  },
);

t.test(
  'zero-right sessions: session.open/close of an identity the policy grants nothing are bounded per identity',
  async (t) => {
    const zero = 'spiffe://plant.example/nobody';
    const { log, clock, throttle } = setup({ perKey: 2 }, { zeroRight: (id) => id === zero });
    for (let i = 0; i < 10; i++) {
      throttle.append({
        type: 'session.open',
        session: `s${i}`,
        identity: zero,
        peer: '10.0.0.1:1',
        transport: 'mbaps',
      });
      throttle.append({ type: 'session.close', session: `s${i}`, identity: zero, reason: 'peer-closed' });
    }
    for (let i = 0; i < 10; i++) {
      throttle.append({
        type: 'session.open',
        session: `h${i}`,
        identity: 'spiffe://plant.example/hmi/1',
        peer: '10.0.0.2:1',
        transport: 'mbaps',
      });
      throttle.append({
        type: 'session.close',
        session: `h${i}`,
        identity: 'spiffe://plant.example/hmi/1',
        reason: 'peer-closed',
      });
    }
    t.equal(
      log.of('session.open').filter((e) => e.identity === zero).length +
        log.of('session.close').filter((e) => e.identity === zero).length,
      2,
    );
    t.equal(
      log.events.filter((e) => (e.type === 'session.open' || e.type === 'session.close') && e.identity !== zero).length,
      20,
      'sessions of identities with rights: all written',
    );
    clock.t += OPTS.intervalMs;
    throttle.tick();
    const s = log.of('audit.suppressed')[0]!;
    t.same(s.classes, [
      {
        class: 'zero-right',
        recorded: 2,
        suppressed: 18,
        causes: { perKey: 18, perClass: 0, reserve: 0, oversize: 0 },
      },
    ]);
    t.same(s.counts.map((c) => [c.reason, c.count]).sort(), [
      ['session.close', 9],
      ['session.open', 9],
    ]);
  },
);

t.test(
  'the timer writes the summary without further events; close() reports the partial interval and stops it',
  async (t) => {
    const { log, clock, timers, throttle } = setup({ perKey: 1 });
    throttle.append(rejected('10.0.0.1:1'));
    throttle.append(rejected('10.0.0.1:1'));
    timers.advance(CHECK_MS);
    t.equal(log.of('audit.suppressed').length, 0, 'interval not over');
    clock.t += OPTS.intervalMs;
    timers.advance(CHECK_MS);
    t.equal(log.of('audit.suppressed').length, 1);
    timers.advance(CHECK_MS);
    clock.t += OPTS.intervalMs;
    timers.advance(CHECK_MS);
    t.equal(log.of('audit.suppressed').length, 1, 'no summary for an interval with nothing suppressed');
    throttle.append(rejected('10.0.0.1:1'));
    throttle.append(rejected('10.0.0.1:1'));
    clock.t += 5_000;
    throttle.close();
    t.equal(log.of('audit.suppressed').length, 2, 'shutdown reports the partial interval');
    t.equal(timers.pending, 0, 'timer stopped');
  },
);

t.test(
  'bytes: written bounded events and summaries stay within the stated per-line bounds (real log, hostile keys)',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-throttle-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const log = await AuditLog.open({ dir, fsync: 'never', values: 'hash' });
    const clock = { t: Date.now() };
    const opts: ThrottleOptions = { ...OPTS, maxEventBytes: 1024, perKey: 3, summaryEntries: 16 };
    const throttle = new AuditThrottle({ log, now: () => clock.t, options: opts, zeroRight: () => true });
    const longId = `spiffe://plant.example/${'ä"\\'.repeat(600)}`;
    for (let i = 0; i < 300; i++) {
      throttle.append(rejected(`10.1.${i}.1:${i}`, `code-${'é'.repeat(i % 90)}`, 'd'.repeat(i * 4)));
      throttle.append({
        ...denial(i % 2 ? longId : `spiffe://plant.example/w${i}`, `reason-${'\u0000'.repeat(i % 80)}`),
        writes: [{ table: 'holding', start: i, count: 1, values: [i] }],
        fc: 6,
      });
      throttle.append({
        type: 'session.open',
        session: `s${i}`,
        identity: `spiffe://plant.example/s${i}`,
        peer: '1.2.3.4:5',
        transport: 'grpc',
      });
    }
    clock.t += opts.intervalMs;
    throttle.tick();
    await log.close();
    const lines = listSegments(dir).flatMap((s) =>
      readFileSync(join(dir, s), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0),
    );
    const bounded = lines.filter((l) => /"type":"(handshake.rejected|request.decision|session.open)"/.test(l));
    const summary = lines.filter((l) => l.includes('"type":"audit.suppressed"'));
    t.equal(summary.length, 1);
    t.ok(bounded.length > 0);
    const maxLine = Math.max(...bounded.map((l) => Buffer.byteLength(l) + 1));
    t.ok(maxLine <= maxBoundedEventBytes(opts), `largest bounded event ${maxLine} ≤ ${maxBoundedEventBytes(opts)}`);
    const sBytes = Buffer.byteLength(summary[0]!) + 1;
    t.ok(sBytes <= maxSummaryBytes(opts), `summary ${sBytes} ≤ ${maxSummaryBytes(opts)}`);
    t.ok(sBytes > maxSummaryBytes(opts) / 3, 'the bound is not absurdly loose for a full summary');
  },
);

t.test(
  'a deny record.decision (PROFINET) is a denial: bounded per identity, summarized, told to the flood guard; allows pass',
  async (t) => {
    const told: string[] = [];
    const { log, throttle } = setup({}, { onDenial: (id) => told.push(id) });
    const record = (decision: 'allow' | 'deny', reason: string): AuditEventInput => ({
      type: 'record.decision',
      identity: 'spiffe://td/prober',
      device: 'rio-1',
      access: 'read',
      api: 0,
      slot: 0,
      subslot: 1,
      index: 0x10,
      length: 64,
      decision,
      ruleId: null,
      reason,
      outcome: decision === 'deny' ? 'denied' : 'ok',
      latencyMs: 0,
      policyVersion: 'v',
    });
    for (let i = 0; i < 9; i++)
      throttle.append(record('deny', 'index-not-allowed read api 0 slot 0 subslot 0x0001 index 0x0010'));
    for (let i = 0; i < 3; i++) throttle.append(record('allow', 'allowed'));
    t.equal(
      log.of('record.decision').filter((e) => e.decision === 'deny').length,
      OPTS.perKey,
      'perKey written one by one',
    );
    t.equal(
      log.of('record.decision').filter((e) => e.decision === 'allow').length,
      3,
      'allowed records are never throttled',
    );
    t.equal(told.length, 9, 'every denial reaches the flood guard');
    throttle.close();
    const summary = log.of('audit.suppressed')[0];
    t.match(summary?.counts, [{ class: 'denial', key: 'spiffe://td/prober', reason: 'index-not-allowed', count: 4 }]);
  },
);
