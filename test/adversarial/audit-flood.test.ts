/**
 * Issue 9 item 2 — nobody without rights can fill the audit store and so stop everyone [IEC 62443-3-3 SR 2.9
 * audit storage capacity, SR 7.1 DoS protection]. A real gateway; the throttle's clock is the gateway clock,
 * moved forward by whole intervals (TestClock) instead of waiting for them.
 *
 * 1. Floods of connections without a client certificate (plain TCP connects, some sending plaintext, and TLS
 *    connects without a certificate, from two source addresses) and a zero-right SVID sending denied requests,
 *    over three intervals, while an authorised HMI keeps reading. Checked: the bytes the attackers caused stay
 *    within the bound computed from the config (audit-bound.ts) for the simulated time, while unthrottled they
 *    would be well above it; individual events + the audit.suppressed counts = what happened (gateway metrics);
 *    the flooding identity is disconnected and held off by an expiring lock (lock.created by verigate,
 *    reason denial-flood), refused while held, and a repeat flood backs off twice as long; every HMI request
 *    is allowed and recorded, during and after.
 * 2. A small capacity: once the store passes capacity − reserve, the same floods are summarized only and the
 *    HMI's decisions keep being recorded in the reserve; at full capacity writes fail like a full disk
 *    (fail-closed: 0x06) and the store never exceeds its capacity.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AuditRecord, SuppressedClassCount, SuppressedCount } from '../../gateway/audit/audit-events.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { segmentBytesIn } from '../../gateway/audit/audit-budget.js';
import { summaryOnlyBytesPer, unprivilegedBytesPer } from '../../gateway/audit/audit-bound.js';
import { encodeRequest } from '../../protocols/modbus/index.js';
import {
  startHarness,
  TestClock,
  TestMbapsClient,
  type ClientCreds,
  type Harness,
} from '../helpers/gateway-harness.js';
import { when } from '../helpers/when.js';

const TD = 'plant.example';
const HMI = `spiffe://${TD}/hmi/line1`;
const ZERO = `spiffe://${TD}/intruder/zero`;
const INTERVAL_MS = 10_000;
const HOLD_OFF_MS = 15_000;
const FLOOD_DENIALS = 150;
const policy = `version: 1
trustDomain: ${TD}
rules:
  - id: hmi-reads
    principals: [${HMI}]
    devices: [turbine-1]
    allow:
      - { access: read, tables: [holding, input], addresses: 0-65535 }
`;
const throttleYaml = `throttle: { interval: ${INTERVAL_MS / 1000}s, perKey: 3, perClass: 5, maxEventBytes: 1024, summaryEntries: 16 }, denialFlood: { denials: ${FLOOD_DENIALS}, within: 10s, holdOff: ${HOLD_OFF_MS / 1000}s, maxHoldOff: 2m }`;
const read = encodeRequest({ type: 'read-registers', fc: 3, address: 0, quantity: 2 });

/** The trail after `afterSeq`, each event with its line's bytes. */
function trail(h: Harness, afterSeq: number): { rec: AuditRecord; bytes: number }[] {
  const dir = join(h.dir, 'audit');
  h.gateway.audit.flush(); // events staged this turn (e.g. by tick()) are written at its end: read them too
  return listSegments(dir)
    .flatMap((s) =>
      readFileSync(join(dir, s), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0),
    )
    .map((l) => ({ rec: JSON.parse(l) as AuditRecord, bytes: Buffer.byteLength(l) + 1 }))
    .filter((x) => x.rec.seq > afterSeq);
}

async function counter(
  h: Harness,
  name: 'handshakeRejections' | 'requests',
  label: string,
  value?: string,
): Promise<number> {
  const m = await h.gateway.metrics[name].get();
  return m.values
    .filter((v) => value === undefined || v.labels[label as never] === value)
    .reduce((a, v) => a + v.value, 0);
}

/**
 * The gateway's refusals as it logs them ("client rejected", counted in the same call as the metric): the
 * clients saw their connections close, but a client that closed first is refused a moment later, on the
 * gateway's side of the loopback connection. `reach(n)` waits for the n-th refusal line.
 */
function refusalLog(): { logSink: (line: string) => void; count(): number; reach(n: number): Promise<unknown> } {
  const events = new EventEmitter();
  let seen = 0;
  return {
    logSink: (line) => {
      if (!line.includes('"msg":"client rejected"')) return;
      seen++;
      events.emit('refused');
    },
    count: () => seen,
    reach: (n) => when(events, 'refused', () => seen >= n),
  };
}

async function inBatches(n: number, size: number, fn: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += size)
    await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, j) => fn(i + j)));
}

/** Plain TCP connects (every third one sends plaintext first), from `localAddress`; resolves when closed. */
function tcpConnect(port: number, localAddress: string, plaintext: boolean): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => {});
    s.once('connect', () => (plaintext ? s.end('GET / HTTP/1.0\r\n\r\n') : s.destroy()));
    s.once('close', () => resolve());
  });
}

/** A TLS client without a certificate; resolves when the gateway has closed it. */
function tlsNoCert(port: number, ca: string, localAddress: string): Promise<void> {
  return new Promise((resolve) => {
    // localAddress reaches the underlying net.connect (tls.ConnectionOptions does not declare it).
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      ca,
      minVersion: 'TLSv1.2',
      checkServerIdentity: () => undefined,
      ...({ localAddress } as object),
    });
    s.on('error', () => {});
    s.once('close', () => resolve());
  });
}

/** Pre-auth flood of one round: 200 plain TCP + 60 TLS-without-certificate connects from two sources. */
async function noCertFlood(h: Harness): Promise<number> {
  const ca = h.ca.bundlePem();
  await inBatches(200, 10, (i) => tcpConnect(h.port, '127.0.0.3', i % 3 === 0));
  await inBatches(60, 6, () => tlsNoCert(h.port, ca, '127.0.0.4'));
  return 260;
}

/** The zero-right identity pipelines denied reads (16 at a time) until the gateway closes it. */
async function denialFlood(
  h: Harness,
  creds: ClientCreds,
  max: number,
): Promise<{ answered: number; closed: boolean }> {
  const c = await TestMbapsClient.connect(h.port, creds);
  let answered = 0;
  for (let sent = 0; sent < max && !c.isClosed; sent += 16) {
    const res = await Promise.all(Array.from({ length: 16 }, () => c.request(1, read, 2000)));
    answered += res.filter((r) => r !== null && r[0] === 0x83).length;
  }
  // The flood tripped on the gateway's side: the close reaches this client over the loopback connection.
  await c.closed;
  const closed = c.isClosed;
  c.close();
  return { answered, closed };
}

/** A connection attempt of a held-off identity: refused at admission (the gateway closes it at once). */
async function refusedAtAdmission(h: Harness, creds: ClientCreds): Promise<boolean> {
  try {
    const c = await TestMbapsClient.connect(h.port, creds);
    const r = await c.request(1, read, 2000);
    c.close();
    return r === null;
  } catch {
    return true;
  }
}

/** The HMI reads `n` times; returns how many were answered normally. */
async function hmiReads(c: TestMbapsClient, n: number): Promise<number> {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const r = await c.request(1, read);
    if (r !== null && r[0] === 3) ok++;
  }
  return ok;
}

function suppressedOf(
  events: { rec: AuditRecord }[],
): { classes: SuppressedClassCount[]; counts: SuppressedCount[] }[] {
  return events
    .filter((e) => e.rec.type === 'audit.suppressed')
    .map((e) => e.rec as unknown as { classes: SuppressedClassCount[]; counts: SuppressedCount[] });
}

t.test(
  'floods without rights stay within the stated bound; counts add up; the flooder is held off; the HMI is served and recorded',
  async (t) => {
    const clock = new TestClock();
    const refusals = refusalLog();
    const h = await startHarness({
      policy,
      now: clock.now,
      auditYaml: `audit: { dir: audit, fsync: never, values: hash, ${throttleYaml} }`,
      logLevel: 'warn',
      logSink: refusals.logSink,
    });
    t.teardown(() => h.stop());
    const cfg = h.gateway.config.audit.throttle;
    const zero = await h.mint(ZERO);
    const hmi = await TestMbapsClient.connect(h.port, await h.mint(HMI));
    const startSeq = h.gateway.audit.head().seq;
    const startBytes = segmentBytesIn(join(h.dir, 'audit'));
    const startedAt = clock.now();
    const rej0 = await counter(h, 'handshakeRejections', 'reason');
    const log0 = refusals.count();
    const den0 = await counter(h, 'requests', 'outcome', 'denied');
    let hmiOk = 0;
    let hmiSent = 0;
    let preAuthSent = 0;
    const floodClock: { at: number; holdMs: number }[] = [];

    // Round 1: the zero-right SVID floods denials and is disconnected; pre-auth flood; the HMI reads throughout.
    hmiSent += 10;
    hmiOk += await hmiReads(hmi, 10);
    const before1 = clock.now();
    const f1 = await denialFlood(h, zero, 400);
    floodClock.push({ at: before1, holdMs: HOLD_OFF_MS });
    t.ok(f1.closed, 'the flooding identity is disconnected');
    t.ok(
      f1.answered > FLOOD_DENIALS - 32 && f1.answered < 400,
      `denied until the flood tripped (${f1.answered} answers)`,
    );
    preAuthSent += await noCertFlood(h);
    hmiSent += 10;
    hmiOk += await hmiReads(hmi, 10);
    t.ok(await refusedAtAdmission(h, zero), 'held off: refused at admission');
    preAuthSent += 1;
    clock.advance(INTERVAL_MS);
    h.gateway.auditThrottle.tick();

    // Round 2 (10 s later, still held off): pre-auth flood again; the HMI reads.
    t.ok(await refusedAtAdmission(h, zero), 'still held off 10 s later');
    preAuthSent += 1;
    preAuthSent += await noCertFlood(h);
    hmiSent += 10;
    hmiOk += await hmiReads(hmi, 10);
    clock.advance(INTERVAL_MS);
    h.gateway.auditThrottle.tick();

    // Round 3 (20 s: the hold-off has run out): admitted again, floods again, held off twice as long.
    const before3 = clock.now();
    const f3 = await denialFlood(h, zero, 400);
    floodClock.push({ at: before3, holdMs: 2 * HOLD_OFF_MS });
    t.ok(
      f3.closed && f3.answered > FLOOD_DENIALS - 32 && f3.answered < 400,
      `admitted after the hold-off, flooded, disconnected again (${f3.answered} answers)`,
    );
    preAuthSent += await noCertFlood(h);
    hmiSent += 10;
    hmiOk += await hmiReads(hmi, 10);
    clock.advance(INTERVAL_MS);
    h.gateway.auditThrottle.tick();
    hmiSent += 10;
    hmiOk += await hmiReads(hmi, 10); // after the flood
    t.equal(hmiOk, hmiSent, 'every HMI read was allowed, during and after the floods');

    await refusals.reach(log0 + preAuthSent); // every connect is refused once, the last ones a moment after they closed
    const rejections = (await counter(h, 'handshakeRejections', 'reason')) - rej0;
    const denials = (await counter(h, 'requests', 'outcome', 'denied')) - den0;
    t.ok(
      rejections >= 600 && rejections <= preAuthSent,
      `pre-auth refusals happened: ${rejections} of ${preAuthSent} connects`,
    );
    clock.advance(INTERVAL_MS);
    h.gateway.auditThrottle.tick();
    const windowMs = clock.now() - startedAt;
    const events = trail(h, startSeq);

    // Accounting: individual + summarized = what happened, per class.
    const summaries = suppressedOf(events);
    t.ok(summaries.length >= 3, `one summary per interval with suppression (${summaries.length})`);
    const sum = (cls: string, f: (c: SuppressedClassCount) => number): number =>
      summaries.reduce((a, s) => a + s.classes.filter((c) => c.class === cls).reduce((b, c) => b + f(c), 0), 0);
    for (const s of summaries) {
      for (const c of s.classes)
        t.equal(
          s.counts.filter((x) => x.class === c.class).reduce((a, x) => a + x.count, 0),
          c.suppressed,
          `${c.class}: entries add up`,
        );
    }
    const writtenRejections = events.filter((e) => e.rec.type === 'handshake.rejected').length;
    const writtenDenials = events.filter(
      (e) => e.rec.type === 'request.decision' && e.rec['decision'] === 'deny',
    ).length;
    t.equal(
      writtenRejections + sum('pre-auth', (c) => c.suppressed),
      rejections,
      `pre-auth: ${writtenRejections} written + summarized = ${rejections} refusals`,
    );
    t.equal(
      writtenDenials + sum('denial', (c) => c.suppressed),
      denials,
      `denials: ${writtenDenials} written + summarized = ${denials} denied requests`,
    );
    t.equal(
      sum('pre-auth', (c) => c.recorded),
      writtenRejections,
      "summaries' recorded = events in the trail",
    );
    const zeroSessions = events.filter(
      (e) => (e.rec.type === 'session.open' || e.rec.type === 'session.close') && e.rec['identity'] === ZERO,
    ).length;
    t.equal(
      zeroSessions + sum('zero-right', (c) => c.suppressed),
      4,
      'zero-right: two sessions opened and closed, all accounted for',
    );
    const keys = new Set(summaries.flatMap((s) => s.counts.map((c) => `${c.class} ${c.key}`)));
    t.ok(
      keys.has('pre-auth 127.0.0.3') && keys.has('pre-auth 127.0.0.4') && keys.has(`denial ${ZERO}`),
      'summarized by source address and by identity',
    );

    // The hold-offs: expiring identity locks by verigate, the second twice as long.
    const locks = events.filter((e) => e.rec.type === 'lock.created');
    t.equal(locks.length, 2, 'one lock per flood');
    locks.forEach((l, i) => {
      t.match(l.rec, { target: { kind: 'identity', value: ZERO }, by: 'verigate', reason: 'denial-flood' });
      const expires = Date.parse(l.rec['expiresAt'] as string);
      const f = floodClock[i]!;
      t.ok(
        expires >= f.at + f.holdMs && expires <= f.at + f.holdMs + 5_000,
        `hold-off ${i + 1} is ${f.holdMs / 1000} s`,
      );
    });

    // The HMI: every request recorded individually.
    const hmiDecisions = events.filter((e) => e.rec.type === 'request.decision' && e.rec['identity'] === HMI);
    t.equal(hmiDecisions.length, hmiSent, 'every HMI decision is in the trail');
    t.ok(hmiDecisions.every((e) => e.rec['decision'] === 'allow'));

    // The bound: bytes caused by peers without rights, within the formula for the simulated window.
    const attacker = new Set(['handshake.rejected', 'audit.suppressed']);
    let attackerBytes = 0;
    let extrasBytes = 0;
    let otherBytes = 0;
    for (const e of events) {
      const id = e.rec['identity'];
      if (
        attacker.has(e.rec.type) ||
        (e.rec.type === 'request.decision' && e.rec['decision'] === 'deny') ||
        (e.rec.type.startsWith('session.') && id === ZERO)
      )
        attackerBytes += e.bytes;
      else if (
        e.rec.type === 'lock.created' ||
        e.rec.type === 'lock.removed' ||
        (e.rec.type === 'trust.changed' && id === ZERO)
      )
        extrasBytes += e.bytes;
      else if (id === HMI) otherBytes += e.bytes;
      else t.fail(`unexpected event in the trail: ${e.rec.type}`);
    }
    const bound = unprivilegedBytesPer(cfg, windowMs);
    const growth = segmentBytesIn(join(h.dir, 'audit')) - startBytes;
    t.equal(attackerBytes + extrasBytes + otherBytes, growth, 'every byte of growth is accounted for');
    t.ok(
      attackerBytes <= bound,
      `attacker bytes ${attackerBytes} ≤ bound ${bound} for ${Math.round(windowMs / 1000)} s`,
    );
    t.ok(extrasBytes <= 2 * 2 * 1024, `per-flood extras (lock events) small: ${extrasBytes} bytes`);
    // Teeth: written one by one (at the mean size of those that were), the same floods would be far above it.
    const mean = (f: (r: AuditRecord) => boolean): number => {
      const xs = events.filter((e) => f(e.rec));
      return xs.reduce((a, e) => a + e.bytes, 0) / xs.length;
    };
    const unthrottled =
      rejections * mean((r) => r.type === 'handshake.rejected') +
      denials * mean((r) => r.type === 'request.decision' && r['decision'] === 'deny');
    t.ok(
      unthrottled > 2 * bound,
      `unthrottled the same floods would write ≈${Math.round(unthrottled)} bytes (> 2 × bound)`,
    );
    hmi.close();
  },
);

t.test(
  'small capacity: past capacity − reserve unauthorised traffic is summarized only, authorised decisions are still recorded; full capacity fails closed',
  async (t) => {
    const clock = new TestClock();
    const capacity = 160 * 1024;
    const reserve = 96 * 1024;
    const refusals = refusalLog();
    const h = await startHarness({
      policy: `${policy}      - { access: write, table: holding, addresses: 100-199 }\ntrust: { threshold: 0 }\n`,
      now: clock.now,
      auditYaml: `audit: { dir: audit, fsync: never, values: hash, capacityBytes: ${capacity}, reserveBytes: ${reserve}, capacityWarnPercent: 30, ${throttleYaml} }`,
      logLevel: 'warn',
      logSink: refusals.logSink,
    });
    t.teardown(() => h.stop());
    const dir = join(h.dir, 'audit');
    const zero = await h.mint(ZERO);
    const hmi = await TestMbapsClient.connect(h.port, await h.mint(HMI));
    // Authorised traffic fills the store up to the reserve line.
    let guard = 0;
    while (!h.gateway.audit.reserveReached() && guard++ < 2000) await hmiReads(hmi, 1);
    t.ok(h.gateway.audit.reserveReached(), 'store at capacity − reserve');
    const warn = trail(h, 0).filter((e) => e.rec.type === 'audit.capacity-warning');
    t.equal(warn.length, 1, 'the warning threshold was announced once');
    const reserveSeq = h.gateway.audit.head().seq;
    const startedAt = clock.now();
    const rej0 = await counter(h, 'handshakeRejections', 'reason');
    const log0 = refusals.count();

    // Floods while the store is in its reserve.
    const f = await denialFlood(h, zero, 400);
    t.ok(f.closed, 'the flooder is still disconnected');
    const preAuthSent = await noCertFlood(h);
    const hmiOk = await hmiReads(hmi, 20);
    t.equal(hmiOk, 20, 'the HMI is served');
    await refusals.reach(log0 + preAuthSent);
    const rejections = (await counter(h, 'handshakeRejections', 'reason')) - rej0;
    clock.advance(INTERVAL_MS);
    h.gateway.auditThrottle.tick();
    const events = trail(h, reserveSeq);
    t.equal(
      events.filter((e) => e.rec.type === 'handshake.rejected').length,
      0,
      'no refusal written individually in the reserve',
    );
    t.equal(
      events.filter((e) => e.rec.type === 'request.decision' && e.rec['decision'] === 'deny').length,
      0,
      'no denial written individually in the reserve',
    );
    t.equal(
      events.filter(
        (e) => e.rec.type === 'request.decision' && e.rec['identity'] === HMI && e.rec['decision'] === 'allow',
      ).length,
      20,
      "the HMI's decisions are recorded in the reserve",
    );
    const s = suppressedOf(events);
    t.equal(s.length, 1, 'one summary');
    const pre = s[0]!.classes.find((c) => c.class === 'pre-auth')!;
    t.equal(pre.suppressed, rejections, 'every refusal counted in the summary');
    t.equal(pre.causes.reserve, rejections, 'cause: reserve');
    const summaryBytes = events.filter((e) => e.rec.type === 'audit.suppressed').reduce((a, e) => a + e.bytes, 0);
    t.ok(
      summaryBytes <= summaryOnlyBytesPer(h.gateway.config.audit.throttle, clock.now() - startedAt),
      `reserve used by unauthorised traffic: ${summaryBytes} bytes of summaries only`,
    );

    // The HMI writes setpoints until the store is full: then writes fail like a full disk (fail-closed: 0x06,
    // write-ahead: the refused write never reaches the PLC).
    let answeredOk = 0;
    let busy: Buffer | null = null;
    for (let i = 0; i < 1000 && busy === null; i++) {
      const r = await hmi.request(
        1,
        encodeRequest({ type: 'write-single-register', fc: 6, address: 100 + (i % 100), value: i & 0xffff }),
      );
      if (r !== null && r[0] === 6) answeredOk++;
      else busy = r;
    }
    t.ok(answeredOk > 20, `${answeredOk} writes recorded in the reserve before it was full`);
    t.same(busy, Buffer.from([0x86, 0x06]), 'full: the next write is refused with 0x06 (audit unavailable)');
    t.notOk(h.gateway.audit.healthy(), 'fail-closed');
    t.ok(segmentBytesIn(dir) <= capacity, `store within capacity (${segmentBytesIn(dir)} ≤ ${capacity})`);
    const recorded = trail(h, reserveSeq).filter(
      (e) =>
        e.rec.type === 'request.decision' &&
        e.rec['identity'] === HMI &&
        e.rec['fc'] === 6 &&
        e.rec['decision'] === 'allow',
    ).length;
    t.equal(recorded, answeredOk, `every write answered OK has its decision in the trail (${recorded})`);
    hmi.close();
  },
);
