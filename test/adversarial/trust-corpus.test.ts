/**
 * The trust score must not punish normal operation, and must still catch attacks (issue 9 item 4; IEC 62443-3-3
 * SR 1.1 guidance: an operator's control action must not be blocked by the security layer).
 *
 * Each case trains an identity on ten minutes of its habit, then plays a pattern through the real policy
 * (the lab's sample policy plus an alarm-acknowledge rule) and the real TrustRuntime, with an injected clock —
 * no sleeping. Operator patterns must NEVER leave the `normal` state nor have a request refused by the trust
 * layer; attack patterns must breach within the seconds stated here and in docs/zero-trust.md:
 *
 * | attack                                                   | trips within |
 * |----------------------------------------------------------|--------------|
 * | register scan, 125-register reads of new blocks, 10/s     | 1 s          |
 * | register scan, 16-register reads of new blocks, 5/s       | 5 s          |
 * | write burst outside habit (allowed setpoints, 20/s)       | 2 s          |
 * | denial storm (out-of-range setpoints, 20/s)               | 3 s          |
 * | denial storm by an identity with no rights, 20/s          | 1 s          |
 * | novel function codes (FC8/1, FC17, FC20, FC65 …, 5/s)     | 1 s          |
 *
 * Plus one end-to-end case through a real gateway: an HMI idle for 30 s that refreshes one screen and sends
 * one setpoint is never refused.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify, encodeRequest } from '../../protocols/modbus/index.js';
import type { ClassifiedRequest, ModbusRequest } from '../../protocols/modbus/index.js';
import { compilePolicyText, evaluate, type CompiledPolicy } from '../../gateway/policy/index.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import { reasonText } from '../../gateway/reasons.js';
import type { GateSession, SessionView } from '../../gateway/trust/runtime-gate.js';
import { startHarness, TestClock, TestMbapsClient } from '../helpers/gateway-harness.js';

const TD = 'spiffe://plant.example';
const HMI = `${TD}/hmi/line1`;
const HISTORIAN = `${TD}/historian`;
const ENG = `${TD}/eng/alice`;
const LEAD = `${TD}/ops/shift-lead`;
const STRANGER = `${TD}/stranger`;
const DEV = 'turbine-1';
const T0 = Date.UTC(2026, 2, 4, 10, 0, 0); // a Wednesday, 10:00 UTC

/** Operator patterns must keep the score at or above this (the threshold is 0.85): not a near miss. */
const MARGIN = 0.9;
const sample = readFileSync('gateway/config/samples/policy.yaml', 'utf8');
const alarmAck = `  - id: hmi-alarm-ack
    description: the HMI acknowledges alarms (coils 200-215)
    principals: [${HMI}]
    devices: [turbine-1]
    allow:
      - { access: write, table: coils, addresses: 200-215 }

`;
const corpusPolicy: CompiledPolicy = compilePolicyText(
  sample.replace('  - id: eng-reads', `${alarmAck}  - id: eng-reads`),
  'corpus.yaml',
);

const c = (r: ModbusRequest): ClassifiedRequest => classify(r, 1);
const rd = (address: number, quantity = 10): ClassifiedRequest =>
  c({ type: 'read-registers', fc: 3, address, quantity });
const rdIn = (address: number, quantity = 10): ClassifiedRequest =>
  c({ type: 'read-registers', fc: 4, address, quantity });
const setpoint = (value: number, address = 100): ClassifiedRequest =>
  c({ type: 'write-single-register', fc: 6, address, value });
const ack = (address: number): ClassifiedRequest => c({ type: 'write-single-coil', fc: 5, address, value: true });
const deviceId = (): ClassifiedRequest =>
  c({ type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 1, objectId: 0 });
/** One HMI screen: six reads of ten registers (screen k lives at holding k·100 …). */
const screen = (k: number): ClassifiedRequest[] => Array.from({ length: 6 }, (_, j) => rd(k * 100 + j * 10));

class Sessions implements SessionView {
  readonly list: (GateSession & { ended: string | null })[] = [];
  open(id: string): GateSession & { ended: string | null } {
    const s = {
      id: `s${this.list.length}`,
      peer: {
        id,
        role: null,
        notAfter: new Date(T0 + 7 * 86_400_000),
        notBefore: new Date(T0 - 3_600_000),
        fingerprint256: 'x',
      },
      readOnly: false,
      setReadOnly(readOnly: boolean): void {
        this.readOnly = readOnly;
      },
      ended: null as string | null,
      end(reason: string): void {
        this.ended = reason;
      },
    };
    this.list.push(s);
    return s;
  }
  all(): Iterable<GateSession> {
    return this.list.filter((s) => s.ended === null);
  }
  countFor(id: string): number {
    return this.list.filter((s) => s.peer.id === id && s.ended === null).length;
  }
  endMatching(pred: (s: GateSession) => boolean, reason: string): number {
    const hit = this.list.filter((s) => s.ended === null && pred(s));
    for (const s of hit) s.end(reason);
    return hit.length;
  }
}

interface TrustEvent {
  readonly type: string;
  readonly identity?: string;
  readonly state?: string;
  readonly reasons?: string[];
}

interface Sent {
  readonly denied: boolean;
  readonly reason: string;
}

/** The gateway's decision path without sockets: policy → runtime gate → observe, on an injected clock. */
class Plant {
  get now(): number {
    return this.clock.now;
  }
  set now(v: number) {
    this.clock.now = v;
  }
  /** Requests the trust layer refused (trust-read-only), per identity. */
  readonly trustRefusals = new Map<string, number>();
  /** Lowest score seen per identity since `resetMin` (the margin an operator pattern keeps). */
  readonly minScore = new Map<string, number>();
  private lastTick = T0;

  private constructor(
    readonly rt: TrustRuntime,
    readonly dir: string,
    readonly sessions: Sessions,
    readonly events: TrustEvent[],
    private readonly clock: { now: number },
  ) {}

  static async open(): Promise<Plant> {
    const dir = mkdtempSync(join(tmpdir(), 'vg-corpus-'));
    const clock = { now: T0 };
    const sessions = new Sessions();
    const events: TrustEvent[] = [];
    const rt = await TrustRuntime.open({
      dir,
      policy: () => corpusPolicy,
      sessions,
      audit: { append: (e: { type: string }) => (events.push(e), { ok: true }) } as never,
      now: () => clock.now,
      tickMs: 0,
    });
    return new Plant(rt, dir, sessions, events, clock);
  }

  close(): void {
    this.rt.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Moves the clock, running the runtime's 1 s housekeeping tick on the way (recovery is judged there). */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.lastTick + 1000 <= end) {
      this.lastTick += 1000;
      this.now = Math.max(this.now, this.lastTick);
      this.rt.tick();
    }
    this.now = end;
  }

  send(s: GateSession, req: ClassifiedRequest): Sent {
    const d = evaluate(corpusPolicy, { id: s.peer.id, role: s.peer.role }, DEV, req, new Date(this.now));
    let denied = d.effect === 'deny';
    let reason = d.reason;
    if (!denied) {
      const g = this.rt.check(s, DEV, req, d, this.now);
      if (g.effect === 'deny') {
        denied = true;
        reason = reasonText(g.code, g.detail);
        if (g.code === 'trust-read-only')
          this.trustRefusals.set(s.peer.id, (this.trustRefusals.get(s.peer.id) ?? 0) + 1);
      }
    }
    this.rt.observe(s, DEV, req, denied, this.now);
    const score = this.rt.trustOf(s.peer.id).score;
    this.minScore.set(s.peer.id, Math.min(score, this.minScore.get(s.peer.id) ?? 1));
    return { denied, reason };
  }

  /** Sends `reqs` spread evenly over `ms` from now (the clock ends `ms` later). */
  spread(s: GateSession, reqs: readonly ClassifiedRequest[], ms: number): Sent[] {
    const start = this.now;
    const out = reqs.map((r, i) => {
      this.advance(start + Math.floor((i * ms) / reqs.length) - this.now);
      return this.send(s, r);
    });
    this.advance(start + ms - this.now);
    return out;
  }

  state(id: string): string {
    return this.rt.trustOf(id).state;
  }

  breaches(id: string): number {
    return this.events.filter((e) => e.type === 'trust.changed' && e.identity === id && e.state !== 'normal').length;
  }
}

/** Ten minutes of an HMI's habit: the current screen refreshed every second, screen changes every 30 s, a
 * setpoint every two minutes, device identification at start. */
function trainHmi(p: Plant, s: GateSession): void {
  p.send(s, deviceId());
  for (let sec = 0; sec < 600; sec++) {
    const reqs = screen(Math.floor(sec / 30) % 10);
    if (sec % 120 === 60) reqs.push(setpoint(1400 + (sec % 7)));
    p.spread(s, reqs, 1000);
  }
}

/** Ten minutes of a historian's habit: ten reads a second of the same registers (input 0-39, holding 100-139). */
function trainHistorian(p: Plant, s: GateSession): void {
  const poll = [0, 10, 20, 30].flatMap((a) => [rdIn(a), rd(100 + a)]);
  for (let sec = 0; sec < 600; sec++) p.spread(s, [...poll, rdIn(0), rd(100)], 1000);
}

/** Training is not the pattern under test: its scores are not counted in the margin. */
function trained(p: Plant, id: string): void {
  p.minScore.delete(id);
}

function assertNormal(t: Test, p: Plant, id: string, what: string): void {
  const min = p.minScore.get(id) ?? 1;
  t.equal(p.state(id), 'normal', `${what}: still normal (lowest score ${min.toFixed(3)})`);
  t.ok(min >= MARGIN, `${what}: lowest score ${min.toFixed(3)} keeps a margin above the 0.85 threshold`);
  t.equal(p.breaches(id), 0, `${what}: no trust.changed breach event`);
  t.equal(p.trustRefusals.get(id) ?? 0, 0, `${what}: nothing refused by the trust layer`);
}

/** Runs `step` once per simulated second until the identity leaves `normal`; returns the seconds it took. */
function secondsToBreach(p: Plant, id: string, maxSeconds: number, step: (second: number) => void): number | null {
  for (let sec = 0; sec < maxSeconds; sec++) {
    step(sec);
    if (p.state(id) !== 'normal') return sec + 1;
  }
  return null;
}

async function withPlant(t: Test): Promise<Plant> {
  const p = await Plant.open();
  t.teardown(() => p.close());
  return p;
}

// ---------------------------------------------------------------- operator traffic: never trips

t.test('operator: HMI idle 30 s, then one screen refresh (6 reads) and one setpoint', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HMI);
  trainHmi(p, s);
  trained(p, HMI);
  for (let round = 0; round < 10; round++) {
    p.advance(30_000);
    p.spread(s, screen(round % 10), 300);
    t.same(p.send(s, setpoint(1500 + round)), { denied: false, reason: 'allowed' }, `round ${round}: setpoint allowed`);
  }
  assertNormal(t, p, HMI, 'idle → refresh → setpoint');
});

t.test('operator: a freshly connected HMI (still warming up) idles, refreshes and sets a setpoint', async (t) => {
  // The old defect: warm-up counted empty seconds, so 30 s of idleness "learned" a rate of zero.
  const p = await withPlant(t);
  const s = p.sessions.open(HMI);
  p.spread(s, [deviceId(), ...screen(0)], 1000);
  for (let round = 0; round < 20; round++) {
    p.advance(30_000);
    p.spread(s, screen(round % 3), 200);
    t.notOk(p.send(s, setpoint(1500)).denied, `round ${round}: setpoint allowed`);
  }
  assertNormal(t, p, HMI, 'fresh HMI');
});

t.test('operator: shift change — a new HMI session tours every screen (60 reads in 2 s)', async (t) => {
  const p = await withPlant(t);
  const old = p.sessions.open(HMI);
  trainHmi(p, old);
  trained(p, HMI);
  old.end('client-closed');
  p.advance(20_000);
  const s = p.sessions.open(HMI);
  p.send(s, deviceId());
  p.spread(s, Array.from({ length: 10 }, (_, k) => screen(k)).flat(), 2000);
  p.send(s, setpoint(1450));
  for (let sec = 0; sec < 60; sec++) p.spread(s, screen(3), 1000);
  assertNormal(t, p, HMI, 'shift change');
});

t.test('operator: alarm flurry — 30 reads/s and four acknowledge writes within five seconds', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HMI);
  trainHmi(p, s);
  trained(p, HMI);
  for (let sec = 0; sec < 5; sec++) {
    const reqs = [
      ...screen(sec % 10),
      ...screen((sec + 1) % 10),
      ...screen((sec + 2) % 10),
      ...screen((sec + 3) % 10),
      ...screen((sec + 4) % 10),
    ];
    if (sec < 4) reqs.push(ack(200 + sec));
    const out = p.spread(s, reqs, 1000);
    t.notOk(
      out.some((o) => o.denied),
      `second ${sec}: nothing refused`,
    );
  }
  t.notOk(p.send(s, setpoint(1300)).denied, 'the setpoint after the flurry');
  assertNormal(t, p, HMI, 'alarm flurry');
});

t.test('operator: historian catch-up after a 5-minute outage — 3 × its habitual rate for 2 minutes', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HISTORIAN);
  trainHistorian(p, s);
  trained(p, HISTORIAN);
  p.advance(300_000);
  const poll = [0, 10, 20, 30].flatMap((a) => [rdIn(a), rd(100 + a)]);
  for (let sec = 0; sec < 120; sec++) {
    const out = p.spread(s, [...poll, ...poll, ...poll, rdIn(0), rd(100), rdIn(10), rd(110), rdIn(20), rd(120)], 1000);
    t.equal(out.filter((o) => o.denied).length, 0);
  }
  assertNormal(t, p, HISTORIAN, 'historian catch-up');
});

t.test('operator: an engineer commissions under an approved JIT grant (300 writes + read-backs in 30 s)', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(ENG);
  for (let sec = 0; sec < 600; sec++) p.spread(s, [rd(500, 4)], 1000);
  trained(p, ENG);
  const g = p.rt.grants.request({
    requester: ENG,
    device: DEV,
    table: 'holding',
    start: 0,
    end: 999,
    access: 'write',
    durationMs: 5 * 60_000,
    reason: 'commission PID block',
  });
  if (!g.ok) throw new Error(g.message);
  t.match(p.rt.grants.approve(g.grant.id, LEAD), { ok: true });
  const reqs: ClassifiedRequest[] = [];
  for (let a = 0; a < 300; a++) reqs.push(setpoint(a * 3, a), rd(a, 1));
  const out = p.spread(s, reqs, 30_000);
  t.equal(out.filter((o) => o.denied).length, 0, 'every granted write and read-back passed');
  assertNormal(t, p, ENG, 'commissioning');
});

t.test('operator: a lone setpoint minutes after a recovered breach does not re-trip', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HMI);
  trainHmi(p, s);
  p.spread(
    s,
    Array.from({ length: 60 }, () => setpoint(1500)),
    2000,
  );
  t.equal(p.state(HMI), 'read-only', 'the write burst tripped');
  p.advance(180_000);
  t.equal(p.state(HMI), 'normal', 'recovered by the documented rule');
  t.notOk(p.send(s, setpoint(1500)).denied, 'the lone setpoint passes');
  p.spread(s, screen(1), 500);
  t.equal(p.state(HMI), 'normal', 'and does not re-trip');
  t.equal(p.breaches(HMI), 1);
});

// ---------------------------------------------------------------- attacks: still trip, within stated seconds

t.test('attack: register scan with 125-register reads of new blocks at 10/s trips within 1 s', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HISTORIAN);
  trainHistorian(p, s);
  let next = 1000;
  const took = secondsToBreach(p, HISTORIAN, 30, () => {
    p.spread(
      s,
      Array.from({ length: 10 }, () => rd((next += 125) - 125, 125)),
      1000,
    );
  });
  t.ok(took !== null && took <= 1, `tripped after ${took} s`);
  t.match(
    p.events.find((e) => e.type === 'trust.changed'),
    { state: 'read-only', reasons: [/^novelty=/] },
  );
});

t.test('attack: register scan with 16-register reads of new blocks at 5/s trips within 5 s', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HISTORIAN);
  trainHistorian(p, s);
  let next = 2000;
  const took = secondsToBreach(p, HISTORIAN, 60, () => {
    p.spread(
      s,
      Array.from({ length: 5 }, () => rd((next += 16) - 16, 16)),
      1000,
    );
  });
  t.ok(took !== null && took <= 5, `tripped after ${took} s`);
});

t.test(
  'attack: an engineer with a one-register write grant scans through FC23 read halves: trips within 1 s',
  async (t) => {
    // The grant vouches for its scope (the FC23 write half, holding 0), not for the read half that eng-reads
    // allows without a grant: a 125-register read of new blocks is a scan whether or not it rides on a write.
    const p = await withPlant(t);
    const s = p.sessions.open(ENG);
    for (let sec = 0; sec < 600; sec++) p.spread(s, [rd(500, 4)], 1000);
    const g = p.rt.grants.request({
      requester: ENG,
      device: DEV,
      table: 'holding',
      start: 0,
      end: 0,
      access: 'write',
      durationMs: 5 * 60_000,
      reason: 'tune one gain',
    });
    if (!g.ok) throw new Error(g.message);
    t.match(p.rt.grants.approve(g.grant.id, LEAD), { ok: true });
    let next = 1000;
    const fc23 = (): ClassifiedRequest =>
      c({
        type: 'read-write-registers',
        fc: 23,
        readAddress: (next += 125) - 125,
        readQuantity: 125,
        writeAddress: 0,
        values: [0],
      });
    const took = secondsToBreach(p, ENG, 30, () => {
      const out = p.spread(s, Array.from({ length: 10 }, fc23), 1000);
      if (out.some((o) => o.denied && o.reason !== 'trust-read-only'))
        throw new Error(`refused: ${out.map((o) => o.reason).join()}`);
    });
    t.ok(took !== null && took <= 1, `tripped after ${took} s`);
    t.match(
      p.events.find((e) => e.type === 'trust.changed'),
      { reasons: [/^novelty=/] },
    );
  },
);

t.test(
  'attack: a write burst outside habit (allowed setpoints at 20/s) trips within 2 s; other writes then refused',
  async (t) => {
    const p = await withPlant(t);
    const s = p.sessions.open(HMI);
    trainHmi(p, s);
    const took = secondsToBreach(p, HMI, 30, () => {
      p.spread(
        s,
        Array.from({ length: 20 }, (_, i) => setpoint(1000 + i, 100 + (i % 10))),
        1000,
      );
    });
    t.ok(took !== null && took <= 2, `tripped after ${took} s`);
    t.match(
      p.events.find((e) => e.type === 'trust.changed'),
      { reasons: [/^writes=/] },
    );
    t.same(
      p.send(s, setpoint(1500)),
      { denied: true, reason: 'trust-read-only' },
      'the sample setpoint rule is not essential',
    );
    t.notOk(p.send(s, rd(0)).denied, 'reads go on');
  },
);

t.test('attack: a denial storm (out-of-range setpoints at 20/s) trips within 3 s', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HMI);
  trainHmi(p, s);
  const took = secondsToBreach(p, HMI, 30, () => {
    p.spread(s, [...screen(2), ...Array.from({ length: 20 }, () => setpoint(9000))], 1000);
  });
  t.ok(took !== null && took <= 3, `tripped after ${took} s`);
  t.match(
    p.events.find((e) => e.type === 'trust.changed'),
    { reasons: [/denials=/] },
  );
});

t.test('attack: an identity with no rights hammering at 20/s trips within 1 s (no warm-up needed)', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(STRANGER);
  const took = secondsToBreach(p, STRANGER, 10, () =>
    p.spread(
      s,
      Array.from({ length: 20 }, (_, i) => rd(i * 10)),
      1000,
    ),
  );
  t.ok(took !== null && took <= 1, `tripped after ${took} s`);
});

t.test('attack: novel function codes (diagnostics, file records, user-defined) at 5/s trip within 1 s', async (t) => {
  const p = await withPlant(t);
  const s = p.sessions.open(HMI);
  trainHmi(p, s);
  const probes: ClassifiedRequest[] = [
    c({ type: 'diagnostics', fc: 8, subFunction: 1, data: Buffer.alloc(2) }),
    c({ type: 'serial-diagnostic', fc: 17, data: Buffer.alloc(0) }),
    c({ type: 'file-record', fc: 20, subRequests: [{ fileNumber: 1, recordNumber: 0, recordLength: 1 }] }),
    c({ type: 'other', fc: 65, data: Buffer.alloc(0) }),
    c({ type: 'other', fc: 90, data: Buffer.alloc(0) }),
  ];
  const took = secondsToBreach(p, HMI, 10, () => p.spread(s, probes, 1000));
  t.ok(took !== null && took <= 1, `tripped after ${took} s`);
  t.match(
    p.events.find((e) => e.type === 'trust.changed'),
    { reasons: [/novelty=/] },
  );
});

// ---------------------------------------------------------------- end to end through a real gateway

t.test(
  'end to end: an HMI idle for 30 s that refreshes one screen and sends one setpoint is never refused',
  async (t) => {
    const clock = new TestClock();
    const h = await startHarness({ policy: sample, now: clock.now });
    t.teardown(() => h.stop());
    const cl = await TestMbapsClient.connect(h.port, await h.mint(HMI));
    t.teardown(() => cl.close());
    const read = (address: number): Buffer => encodeRequest({ type: 'read-registers', fc: 3, address, quantity: 10 });
    const write = (value: number): Buffer =>
      encodeRequest({ type: 'write-single-register', fc: 6, address: 100, value });
    let accepted = 0;
    for (let round = 0; round < 6; round++) {
      if (round > 0) clock.advance(30_000);
      const answers = await Promise.all(Array.from({ length: 6 }, (_, j) => cl.request(1, read(j * 10))));
      t.ok(
        answers.every((a) => a?.[0] === 3),
        `round ${round}: the screen refresh is answered`,
      );
      const w = await cl.request(1, write(1500 + round));
      t.same([...(w ?? [])], [...write(1500 + round)], `round ${round}: the setpoint is executed, not refused`);
      if (w?.[0] === 6) accepted++;
    }
    t.equal(h.gateway.trust.trustOf(HMI).state, 'normal');
    t.equal(accepted, 6);
    t.equal(h.sim.counters().writes['holding:255:100'], 6, 'all six setpoints reached the PLC');
  },
);
