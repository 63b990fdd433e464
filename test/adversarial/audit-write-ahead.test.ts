/**
 * Fail-closed is write-ahead (issue 9 item 3, IEC 62443-3-3 SR 2.10): the disk fills at the moment of a write.
 * A real gateway (fsync always, failurePolicy fail-closed) in front of the simulator; ENOSPC (and once EIO on
 * fdatasync) is injected into the audit log's segment writer, the one place that touches the file. Proven from
 * the outside: the PLC's write counters equal the write-ahead decisions in the trail, the write whose event
 * could not be written and every later one answer 0x06 (audit-unavailable) and never reach the PLC, and every
 * write answered OK has its decision in the trail before its outcome.
 * The gateway runs on fake timers: the log's write-retry fires when the test advances the clock, not after a wait.
 */
import t, { type Test } from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const policy = `version: 1
trustDomain: plant.example
rules:
  - id: setpoints
    principals: [spiffe://plant.example/hmi/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 100-199 }]
trust: { threshold: 0 }
`;
const timers = new FakeTimers(Date.now());
const h = await startHarness({
  policy,
  scanDelayMs: 20,
  deviceTimeout: '3s',
  auditYaml: 'audit: { dir: audit, fsync: always, values: include, failurePolicy: fail-closed }',
  timers,
});
t.teardown(() => h.stop());
/** The audit log's default write-retry period (AuditLogOptions.retryMs). */
const RETRY_MS = 1000;
// Minted now: the gateway's fake clock stands still while the test runs, so a certificate minted later (NotBefore
// backdated 10 s from the real time) could start after it.
const creds = {
  pipelined: await h.mint('spiffe://plant.example/hmi/pipelined'),
  sequential: await h.mint('spiffe://plant.example/hmi/sequential'),
  fsync: await h.mint('spiffe://plant.example/hmi/fsync'),
};

/**
 * The injected fault: the segment writer is the one place that writes the trail (segment-writer.ts). A batch
 * (the group commit of one turn) is written up to the line where the disk fills; that line and the rest fail.
 */
type Lines = readonly { at: number; seq: number; bytes: number }[];
interface Writer {
  writeBytes(buf: Buffer, lines: Lines): { written: number; error: Error | null };
  sync(): void;
}
const writer = (h.gateway.audit as unknown as { writer: Writer }).writer;
const fault = { full: false, fullAtWriteAhead: Infinity, writeAheads: 0, failNextSync: false, batches: 0 };
const realWriteBatch = writer.writeBytes.bind(writer);
const realSync = writer.sync.bind(writer);
const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
writer.writeBytes = (buf, lines) => {
  fault.batches++;
  let room = 0;
  for (; room < lines.length && !fault.full; room++) {
    const l = lines[room]!;
    const e = JSON.parse(buf.toString('utf8', l.at, l.at + l.bytes)) as { type: string; outcome?: string };
    if (e.type === 'request.decision' && e.outcome === 'pending' && ++fault.writeAheads >= fault.fullAtWriteAhead)
      fault.full = true;
    if (fault.full) break;
  }
  const r = room > 0 ? realWriteBatch(buf, lines.slice(0, room)) : { written: 0, error: null };
  return room < lines.length && r.error === null ? { written: r.written, error: enospc() } : r;
};
writer.sync = () => {
  if (fault.failNextSync) {
    fault.failNextSync = false;
    throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
  }
  realSync();
};
/** The disk fills while writing the n-th write-ahead decision from now on. */
function fillAt(n: number): void {
  fault.writeAheads = 0;
  fault.fullAtWriteAhead = n;
}
/** Room again; the log recovers on its retry timer (audit.gap first), then requests are served again. */
function freeSpace(t: Test): void {
  fault.full = false;
  fault.fullAtWriteAhead = Infinity;
  t.notOk(h.gateway.audit.healthy(), 'still failing (fail-closed) until the retry timer fires');
  timers.advance(RETRY_MS);
  t.ok(h.gateway.audit.healthy(), 'the retry timer wrote the audit.gap: healthy again');
}

const write = (address: number, value: number): Buffer =>
  encodeRequest({ type: 'write-single-register', fc: 6, address, value });
const bytes = (b: Buffer | null): number[] => [...(b ?? [])];
const REFUSED = [0x86, 0x06]; // audit-unavailable → ServerDeviceBusy [errors.ts Outcomes]
/** The fields of an audit line these tests read (docs/reference.md, "Audit events"); the rest stays unknown. */
interface Ev {
  readonly type: string;
  readonly seq: number;
  readonly identity?: string;
  readonly outcome?: string;
  readonly writes?: readonly { readonly start: number }[];
  readonly decisionSeq?: number;
  readonly session?: string;
  readonly transactionId?: number;
  readonly lost?: number;
  readonly [field: string]: unknown;
}

function trail(): Ev[] {
  const dir = join(h.dir, 'audit');
  return readdirSync(dir)
    .filter((f) => f.startsWith('audit-') && f.endsWith('.jsonl'))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').trim().split('\n'))
    .map((l) => JSON.parse(l) as Ev);
}
const plcWrites = (address: number): number => h.sim.counters().writes[`holding:255:${address}`] ?? 0;
const writeAheadFor = (events: Ev[], identity: string, address: number): Ev[] =>
  events.filter(
    (e) =>
      e.type === 'request.decision' &&
      e.identity === identity &&
      e.outcome === 'pending' &&
      e.writes?.[0]?.start === address,
  );

t.test(
  'pipelined writes, the disk fills at the 5th: the first 4 execute and are audited, the rest never reach the PLC',
  async (t) => {
    const id = 'spiffe://plant.example/hmi/pipelined';
    const c = await TestMbapsClient.connect(h.port, creds.pipelined);
    t.teardown(() => c.close());
    fillAt(5);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => c.request(1, write(100 + i, 7))));
    answers.forEach((a, i) => t.same(bytes(a), i < 4 ? bytes(write(100 + i, 7)) : REFUSED, `write ${i + 1}`));
    for (let i = 0; i < 10; i++) t.equal(plcWrites(100 + i), i < 4 ? 1 : 0, `register ${100 + i} at the PLC`);
    t.notOk(c.isClosed, 'refusals keep the session');

    freeSpace(t);
    t.same(bytes(await c.request(1, write(110, 8))), bytes(write(110, 8)), 'writes pass again once the disk has room');
    const events = trail();
    for (let i = 0; i < 10; i++)
      t.equal(writeAheadFor(events, id, 100 + i).length, i < 4 ? 1 : 0, `write-ahead decision of register ${100 + i}`);
    const gap = events.find((e) => e.type === 'audit.gap');
    t.ok(gap, 'the recovery names what was lost');
    // Lost: each refused write's decision (and its refusal), and the outcomes of writes answered while full.
    const outcomes = new Set(events.filter((e) => e.type === 'request.outcome').map((e) => e.decisionSeq));
    const missing = [0, 1, 2, 3].filter((i) => !outcomes.has(writeAheadFor(events, id, 100 + i)[0]?.seq)).length;
    t.ok(
      gap !== undefined && (gap.lost ?? 0) >= 6 + missing,
      `lost ${gap?.lost} ≥ 6 refused writes + ${missing} outcomes due while full`,
    );
    const after = writeAheadFor(events, id, 110)[0];
    t.ok(
      after !== undefined && after.seq > (gap?.seq ?? Infinity),
      'the next write-ahead decision follows the gap event',
    );
    t.match(
      events.find((e) => e.type === 'request.outcome' && e.decisionSeq === after?.seq),
      { outcome: 'ok', identity: id },
    );
  },
);

t.test(
  'sequential writes, the disk fills at the 3rd: every answered write has its decision, then its outcome',
  async (t) => {
    const id = 'spiffe://plant.example/hmi/sequential';
    const c = await TestMbapsClient.connect(h.port, creds.sequential);
    t.teardown(() => c.close());
    fillAt(3);
    const answers: number[][] = [];
    for (let i = 0; i < 5; i++) answers.push(bytes(await c.request(1, write(120 + i, 9))));
    t.same(answers, [bytes(write(120, 9)), bytes(write(121, 9)), REFUSED, REFUSED, REFUSED]);
    t.same([120, 121, 122, 123, 124].map(plcWrites), [1, 1, 0, 0, 0], 'only the audited writes reached the PLC');
    freeSpace(t);
    t.same(bytes(await c.request(1, write(125, 9))), bytes(write(125, 9)));
    const events = trail();
    for (const address of [120, 121, 125]) {
      const [d] = writeAheadFor(events, id, address);
      const o = events.find((e) => e.type === 'request.outcome' && e.decisionSeq === d?.seq);
      t.ok(d && o && o.seq > d.seq, `register ${address}: decision ${d?.seq} before outcome ${o?.seq}`);
      t.match(o, { outcome: 'ok', fc: 6, device: 'turbine-1' });
    }
    for (const address of [122, 123, 124])
      t.equal(writeAheadFor(events, id, address).length, 0, `register ${address}: no decision, no write`);
  },
);

t.test('fsync always: a write-ahead event that cannot be made durable refuses the write', async (t) => {
  const id = 'spiffe://plant.example/hmi/fsync';
  const c = await TestMbapsClient.connect(h.port, creds.fsync);
  t.teardown(() => c.close());
  t.same(bytes(await c.request(1, write(130, 1))), bytes(write(130, 1)));
  fault.failNextSync = true; // the next event synced is this write's write-ahead decision
  t.same(bytes(await c.request(1, write(131, 1))), REFUSED, 'not durable → not forwarded');
  t.equal(plcWrites(131), 0, 'never reached the PLC');
  t.same(bytes(await c.request(1, write(132, 1))), bytes(write(132, 1)), 'the log recovered on the next event');
  const events = trail();
  const [pending] = writeAheadFor(events, id, 131);
  t.ok(pending, 'the line reached the file (only its fdatasync failed)');
  const refusal = events.find(
    (e) =>
      e.type === 'request.decision' &&
      e.session === pending?.session &&
      e.transactionId === pending?.transactionId &&
      e.seq > (pending?.seq ?? Infinity),
  );
  t.match(refusal, { decision: 'deny', outcome: 'audit-unavailable' }, 'followed by its refusal, for SIEM and replay');
});

t.test('across the whole trail: PLC writes = write-ahead decisions that were not refused', async (t) => {
  const events = trail();
  const refused = new Set(
    events
      .filter((e) => e.type === 'request.decision' && e.outcome === 'audit-unavailable')
      .map((e) => `${e.session}/${e.transactionId}`),
  );
  const executed = events.filter(
    (e) => e.type === 'request.decision' && e.outcome === 'pending' && !refused.has(`${e.session}/${e.transactionId}`),
  );
  const plc = Object.values(h.sim.counters().writes).reduce((a, b) => a + b, 0);
  t.equal(plc, executed.length, `${plc} writes at the PLC, ${executed.length} audited ahead`);
  const outcomes = new Set(events.filter((e) => e.type === 'request.outcome').map((e) => e.decisionSeq));
  const withoutOutcome = executed.filter((e) => !outcomes.has(e.seq)).map((e) => e.writes?.[0]?.start);
  // Their outcomes were due while the disk was full: lost, and counted in audit.gap. Their decisions stand.
  t.ok(
    withoutOutcome.length > 0 && withoutOutcome.every((a) => a !== undefined && a >= 100 && a <= 103),
    `only writes answered while the disk was full lack an outcome event (${withoutOutcome.join(', ')})`,
  );
});
