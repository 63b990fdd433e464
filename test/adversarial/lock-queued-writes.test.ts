/**
 * A lock stops queued writes at once (issue 9 item 8). One session pipelines 10 writes to a PLC that takes one
 * request at a time (maxConnections 1, maxInFlight 1, scan delay 25 ms), so nine wait in the gateway's queue; a
 * lock on the identity is created while they wait. Repeated 50 times, the lock landing at different moments:
 * after the 1st or 2nd write reached the PLC (a timer turn), inside the audit append of a write-ahead decision
 * (between the decision and the submit to the pool), and inside the append of an outcome (right after a reply
 * freed the PLC's slot and the next write went out). Half the rounds lock the identity (the session ends),
 * half lock the device (the session stays; the queued writes are vetoed right before the socket write and
 * answered 0x0A). Every time: at most the one write already on the wire when the lock came reaches the PLC
 * after it, and the audited outcomes agree with the PLC's counters (and, for a device lock, with the answers).
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { encodeRequest } from '../../protocols/modbus/index.js';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';
import { when } from '../helpers/when.js';

const policy = `version: 1
trustDomain: plant.example
admins: [spiffe://plant.example/ops/**]
rules:
  - id: setpoints
    principals: [spiffe://plant.example/hmi/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 100-109 }]
trust: { threshold: 0 }
`;
const LEAD = 'spiffe://plant.example/ops/shift-lead';
const ROUNDS = 50;
const WRITES = 10;
const h = await startHarness({ policy, scanDelayMs: 25, deviceTimeout: '5s' });
t.teardown(() => h.stop());

const write = (address: number, value: number): Buffer =>
  encodeRequest({ type: 'write-single-register', fc: 6, address, value });
const received = (): number => h.sim.counters().byFc['6'] ?? 0;
const executed = (): number =>
  Object.entries(h.sim.counters().writes)
    .filter(([k]) => k.startsWith('holding:255:10'))
    .reduce((a, [, n]) => a + n, 0);

/** Audit events of the current round's identity, as the log writes them. */
let events: AuditRecord[] = [];
let onEvent: (rec: AuditRecord) => void = () => {};
/** 'event' after each audit event was handled: what the settle wait re-checks on. */
const audited = new EventEmitter();
t.teardown(
  h.gateway.audit.subscribe({
    event: (rec) => {
      onEvent(rec);
      audited.emit('event');
    },
  }),
);

type Moment = 'after-1st-reached-plc' | 'after-2nd-reached-plc' | 'in-write-ahead-of-3rd' | 'in-outcome-of-1st';
const MOMENTS: Moment[] = [
  'after-1st-reached-plc',
  'after-2nd-reached-plc',
  'in-write-ahead-of-3rd',
  'in-outcome-of-1st',
];

type Kind = 'identity' | 'device';

interface Round {
  readonly moment: Moment;
  readonly kind: Kind;
  /** Device-lock rounds (the session stays): writes answered OK; -1 when the session ended. */
  readonly answeredOk: number;
  /** Outcomes `ok` already audited when the lock was created. */
  readonly okAtLock: number;
  /** Writes the PLC had received and executed after everything settled (this round). */
  readonly reachedPlc: number;
  readonly executedAtPlc: number;
  readonly decisions: number;
  readonly outcomes: Readonly<Record<string, number>>;
  readonly unmatched: number;
}

async function round(i: number): Promise<Round> {
  const id = `spiffe://plant.example/hmi/lock-${i}`;
  const moment = MOMENTS[i % MOMENTS.length] as Moment;
  const kind: Kind = Math.floor(i / MOMENTS.length) % 2 === 0 ? 'identity' : 'device';
  const c = await TestMbapsClient.connect(h.port, await h.mint(id));
  const before = { received: received(), executed: executed() };
  events = [];
  let okAtLock = -1;
  let lockId: string | null = null;
  const lock = (): void => {
    if (okAtLock >= 0) return;
    okAtLock = events.filter((e) => e.type === 'request.outcome' && e['outcome'] === 'ok').length;
    const r = h.gateway.trust.lock(
      kind === 'identity' ? { kind, value: id } : { kind, value: 'turbine-1' },
      LEAD,
      `round ${i}`,
    );
    if (r.ok) lockId = r.lock.id;
  };
  let writeAheads = 0;
  onEvent = (rec) => {
    if (rec['identity'] !== id) return;
    events.push(rec);
    if (
      moment === 'in-write-ahead-of-3rd' &&
      rec.type === 'request.decision' &&
      rec['outcome'] === 'pending' &&
      ++writeAheads === 3
    )
      lock();
    if (moment === 'in-outcome-of-1st' && rec.type === 'request.outcome') lock();
  };
  const answers = Array.from({ length: WRITES }, (_, k) => c.request(1, write(100 + k, i), 8000));
  if (moment === 'after-1st-reached-plc')
    // The lock lands in the turn the simulator counted the write (a microtask later), not a poll later.
    await when(h.sim.events, 'request', () => received() - before.received >= 1).then(lock);
  if (moment === 'after-2nd-reached-plc')
    await when(h.sim.events, 'request', () => received() - before.received >= 2).then(lock);
  const answered = await Promise.all(answers);
  if (kind === 'identity') await c.closed;
  else c.close();
  // Settled: every write-ahead decision of this session has its outcome (nothing of it is left in the pool).
  const decided = (): AuditRecord[] =>
    events.filter((e) => e.type === 'request.decision' && e['outcome'] === 'pending');
  const outcomeOf = (d: AuditRecord): AuditRecord | undefined =>
    events.find((e) => e.type === 'request.outcome' && e['decisionSeq'] === d.seq);
  await when(audited, 'event', () => okAtLock >= 0 && decided().every((d) => outcomeOf(d) !== undefined));
  onEvent = () => {};
  if (lockId) h.gateway.trust.locks.remove(lockId, LEAD);
  const outcomes: Record<string, number> = {};
  for (const d of decided()) {
    const o = String(outcomeOf(d)?.['outcome']);
    outcomes[o] = (outcomes[o] ?? 0) + 1;
  }
  const echo = (a: Buffer | null, k: number): boolean => a !== null && a.equals(write(100 + k, i));
  return {
    moment,
    kind,
    okAtLock,
    answeredOk: kind === 'device' ? answered.filter(echo).length : -1,
    reachedPlc: received() - before.received,
    executedAtPlc: executed() - before.executed,
    decisions: decided().length,
    outcomes,
    unmatched: events.filter((e) => e.type === 'request.outcome' && !decided().some((d) => d.seq === e['decisionSeq']))
      .length,
  };
}

t.test(
  `a lock (identity or device) during ${WRITES} queued writes, ${ROUNDS} times: never more than the in-flight one reaches the PLC`,
  async (t) => {
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await round(i));
    const bad = rounds.filter((r) => r.reachedPlc > r.okAtLock + 1);
    t.same(bad, [], 'after the lock, at most the write on the wire reached the PLC');
    const disagree = rounds.filter(
      (r) =>
        (r.outcomes['ok'] ?? 0) !== r.executedAtPlc ||
        r.executedAtPlc !== r.reachedPlc ||
        r.unmatched !== 0 ||
        (r.kind === 'device' && r.answeredOk !== r.executedAtPlc),
    );
    t.same(
      disagree,
      [],
      'audited ok outcomes = writes the PLC received = writes it executed; every outcome names its decision',
    );
    const other = rounds.filter((r) => Object.keys(r.outcomes).some((o) => o !== 'ok' && o !== 'aborted'));
    t.same(other, [], 'every write either executed (ok) or was dropped unsent (aborted)');
    t.ok(
      rounds.every((r) => r.decisions >= 3),
      'the writes were queued when the lock came (≥ 3 decided per round)',
    );
    t.ok(
      rounds.some((r) => (r.outcomes['aborted'] ?? 0) >= 5),
      'queued writes were aborted',
    );
    for (const m of MOMENTS)
      for (const k of ['identity', 'device'])
        t.ok(
          rounds.some((r) => r.moment === m && r.kind === k),
          `covered: ${k} lock ${m}`,
        );
    t.comment(`executed after the lock, per round: ${rounds.map((r) => r.reachedPlc - r.okAtLock).join('')}`);
  },
);
