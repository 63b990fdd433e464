/**
 * The PROFINET record pipeline with a real compiled policy and the real TrustRuntime (injected clock) around
 * a fake ProfinetClient that counts calls: the decision order (validate → policy → runtime gates), the
 * write-ahead order and the refusal on a failed append, every upstream result → its outcome, locks,
 * read-only downgrade vs essential, rate, JIT grants with `table: records` (and their expiry), nothing sent
 * when denied, an internal failure answered and audited, and record traffic feeding the trust baselines.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  RecordPipeline,
  type RecordPipelineDeps,
  type RecordPipelineRequest,
} from '../../gateway/frontdoor/record-pipeline.js';
import { Session } from '../../gateway/frontdoor/session.js';
import { GatewayMetrics } from '../../gateway/observability/metrics.js';
import { compilePolicyText, evaluateRecord } from '../../gateway/policy/index.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { AppendResult, AuditEventInput } from '../../gateway/audit/audit-events.js';
import type { GateSession, SessionView } from '../../gateway/trust/runtime-gate.js';
import type { ProfinetDeviceConfig } from '../../gateway/config/gateway-config.js';
import type { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import type { ProfinetResult, ReadRecordRequest, WriteRecordRequest } from '../../gateway/upstream/profinet-types.js';
import type { RecordRequest } from '../../protocols/profinet/record-request.js';

const TD = 'spiffe://plant.example';
const HIST = `${TD}/historian`;
const ENG = `${TD}/eng/bob`;
const OP = `${TD}/op`;
const LEAD = `${TD}/ops/lead`;
const T0 = Date.parse('2026-03-04T10:00:00Z');

const POLICY = (extra = ''): string => `version: 1
trustDomain: plant.example
${extra}rules:
  - id: hist
    principals: [${HIST}]
    devices: [rio-*]
    rate: 3/s
    profinet:
      - { access: read, slots: "*", subslots: "*", indices: [0xAFF0, 0xF000], length: 4096 }
  - id: eng
    principals: [${TD}/eng/*]
    devices: [rio-1]
    jit: { approvers: [${TD}/ops/*], maxDuration: 15m }
    profinet:
      - { access: write, slots: 1, subslots: 1, indices: 0x0100-0x0103, length: 4 }
  - id: op-essential
    principals: [${OP}]
    devices: [rio-1]
    essential: true
    profinet:
      - { access: write, slots: 1, subslots: 1, indices: 0x0110, length: 2 }
  - id: op-plain
    principals: [${OP}]
    devices: [rio-1]
    profinet:
      - { access: write, slots: 1, subslots: 1, indices: 0x0111, length: 2 }
      - { access: read, slots: 1, subslots: 1, indices: 0x0111, length: 2 }
`;

const read = (index: number, o: Partial<RecordRequest> = {}): RecordRequest => ({
  access: 'read',
  api: 0,
  slot: 0,
  subslot: 1,
  index,
  length: 4096,
  ...o,
});
const write = (index: number, hex: string, o: Partial<RecordRequest> = {}): RecordRequest => {
  const data = Buffer.from(hex, 'hex');
  return { access: 'write', api: 0, slot: 1, subslot: 1, index, length: data.length, data, ...o };
};

const RECORD: ProfinetResult = {
  kind: 'record',
  data: Buffer.from('cafe', 'hex'),
  pnioStatus: Buffer.alloc(4),
  latencyMs: 1,
};

class LiveSessions implements SessionView {
  readonly list: Session[] = [];
  all(): Iterable<GateSession> {
    return this.list;
  }
  countFor(id: string): number {
    return this.list.filter((s) => s.peer.id === id).length;
  }
  endMatching(p: (s: GateSession) => boolean, reason: string): number {
    const hit = this.list.filter((s) => s.isOpen && p(s));
    for (const s of hit) s.end(reason);
    return hit.length;
  }
}

interface Setup {
  readonly pipeline: RecordPipeline;
  readonly trust: TrustRuntime;
  readonly trace: string[];
  readonly events: AuditEventInput[];
  readonly trustEvents: AuditEventInput[];
  readonly calls: { reads: ReadRecordRequest[]; writes: WriteRecordRequest[] };
  readonly clock: { now: number };
  readonly metrics: GatewayMetrics;
  session(id: string): Session;
  req(session: Session, request: RecordRequest, device?: string): RecordPipelineRequest;
  /** What the fake device answers next (default: the record). */
  answer: ProfinetResult | ((r: ReadRecordRequest | WriteRecordRequest) => ProfinetResult);
  appendFails: boolean;
  healthy: boolean;
  /** While set, a request waits here before the fake's "send" (as if queued behind another). */
  queue: Promise<void> | null;
}

async function setup(
  t: { teardown(fn: () => unknown): void },
  over: { policyExtra?: string; continueOnFailure?: boolean; dispatchCheck?: boolean; baseline?: boolean } = {},
): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-record-'));
  const policy = compilePolicyText(POLICY(over.policyExtra), 'record.yaml');
  const clock = { now: T0 };
  const sessions = new LiveSessions();
  const trustEvents: AuditEventInput[] = [];
  const trust = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions,
    now: () => clock.now,
    tickMs: 0,
    audit: { append: (e) => (trustEvents.push(e), { ok: true, seq: trustEvents.length }) },
    ...(over.baseline ? { baseline: { warmupSeconds: 1, warmupRequests: 5, tauMs: 30_000 } } : {}),
  });
  t.teardown(() => {
    trust.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const trace: string[] = [];
  const events: AuditEventInput[] = [];
  let seq = 0;
  const s = {} as Setup;
  s.appendFails = false;
  s.healthy = true;
  s.answer = RECORD;
  s.queue = null;
  const audit = {
    append(e: AuditEventInput): AppendResult {
      trace.push(`append ${e.type}${'outcome' in e ? ` ${e.outcome}` : ''}`);
      if (s.appendFails) return { ok: false, error: 'audit: write failed: ENOSPC' };
      events.push(e);
      return { ok: true, seq: ++seq };
    },
    healthy: () => s.healthy,
    committed: (): Promise<boolean> => Promise.resolve(true), // group commit (group-commit.ts): every batch written here
  };
  const calls = { reads: [] as ReadRecordRequest[], writes: [] as WriteRecordRequest[] };
  const settle = (r: ReadRecordRequest | WriteRecordRequest): ProfinetResult => {
    if (r.signal?.aborted || (r.stillAllowed && !r.stillAllowed())) return { kind: 'aborted' };
    return typeof s.answer === 'function' ? s.answer(r) : s.answer;
  };
  const client = {
    readRecord: async (r: ReadRecordRequest) => (
      trace.push('readRecord'),
      calls.reads.push(r),
      await s.queue,
      settle(r)
    ),
    writeRecord: async (r: WriteRecordRequest) => (
      trace.push('writeRecord'),
      calls.writes.push(r),
      await s.queue,
      settle(r)
    ),
  } as unknown as ProfinetClient;
  const metrics = new GatewayMetrics({ defaultMetrics: false });
  const deps: RecordPipelineDeps = {
    policy: () => ({
      version: policy.version,
      evaluateRecord: (peer, device, req, now) => evaluateRecord(policy, peer, device, req, now),
    }),
    gate: trust,
    audit,
    metrics,
    now: () => clock.now,
    ...(over.continueOnFailure ? { auditContinueOnFailure: true } : {}),
    ...(over.dispatchCheck
      ? {
          dispatchCheck: (ss, device) =>
            trust.locks.matching({ identity: ss.peer.id, role: ss.peer.role, device }) === null,
        }
      : {}),
  };
  const config: ProfinetDeviceConfig = {
    name: 'rio-1',
    host: '127.0.0.1',
    port: 34964,
    timeoutMs: 1000,
    queueLimit: 64,
    arIdleMs: 10_000,
  };
  return Object.assign(s, {
    pipeline: new RecordPipeline(deps),
    trust,
    trace,
    events,
    trustEvents,
    calls,
    clock,
    metrics,
    session(id: string): Session {
      const ss = new Session(
        'grpc',
        {
          id,
          role: null,
          notAfter: new Date(T0 + 86_400_000),
          notBefore: new Date(T0 - 86_400_000),
          fingerprint256: 'x',
        },
        '127.0.0.1:1',
        clock.now,
        () => {},
      );
      sessions.list.push(ss);
      return ss;
    },
    req: (session: Session, request: RecordRequest, device = 'rio-1'): RecordPipelineRequest => ({
      session,
      device: { config: { ...config, name: device }, client },
      request,
    }),
  });
}

const last = (s: Setup): AuditEventInput => s.events[s.events.length - 1] as AuditEventInput;
const sent = (s: Setup): number => s.calls.reads.length + s.calls.writes.length;

function grant(
  s: Setup,
  index: { start: number; end: number },
  access: 'read' | 'write' | 'read-write' = 'write',
  durationMs = 60_000,
): string {
  const r = s.trust.grants.request({
    requester: ENG,
    device: 'rio-1',
    table: 'records',
    ...index,
    access,
    durationMs,
    reason: 'retune input delay',
  });
  if (!r.ok) throw new Error(r.message);
  const a = s.trust.grants.approve(r.grant.id, LEAD);
  if (!a.ok) throw new Error(a.message);
  return r.grant.id;
}

t.test(
  'an allowed read: policy, then the device, then one record.decision with the record and who asked',
  async (t) => {
    const s = await setup(t);
    const hist = s.session(HIST);
    const r = await s.pipeline.handle(s.req(hist, read(0xaff0)));
    t.match(r, { outcome: 'ok', ruleId: 'hist', reason: 'allowed' });
    t.same(r.data, Buffer.from('cafe', 'hex'));
    t.same(s.trace, ['readRecord', 'append record.decision ok']);
    t.match(s.calls.reads[0], { clientKey: HIST, api: 0, slot: 0, subslot: 1, index: 0xaff0, maxLength: 4096 });
    t.equal(s.calls.reads[0]?.signal, hist.signal, 'the session signal goes with the request');
    t.match(last(s), {
      type: 'record.decision',
      session: hist.id,
      identity: HIST,
      device: 'rio-1',
      access: 'read',
      api: 0,
      slot: 0,
      subslot: 1,
      index: 0xaff0,
      length: 4096,
      decision: 'allow',
      ruleId: 'hist',
      reason: 'allowed',
      outcome: 'ok',
    });
    t.notOk('data' in last(s), 'a read records no data');
    t.equal(hist.requests, 1);
  },
);

t.test('denied by policy: nothing sent, one deny record.decision, the session keeps going', async (t) => {
  const s = await setup(t);
  const hist = s.session(HIST);
  const r = await s.pipeline.handle(s.req(hist, read(0x0001)));
  t.match(r, { outcome: 'denied', ruleId: null, reason: /^index-not-allowed read/ });
  t.equal(sent(s), 0, 'nothing reached the device');
  t.same(s.trace, ['append record.decision denied']);
  t.match(last(s), { type: 'record.decision', decision: 'deny', outcome: 'denied', index: 1 });
  const other = await s.pipeline.handle(s.req(hist, read(0xaff0), 'rio-2'));
  t.equal(other.outcome, 'ok', 'the same rule covers rio-* devices');
  const wrongDevice = await s.pipeline.handle(s.req(s.session(OP), read(0x0111), 'rio-2'));
  t.equal(wrongDevice.outcome, 'denied');
  t.ok(hist.isOpen);
});

t.test('bad arguments: invalid-request before policy, nothing sent, audited without the bytes', async (t) => {
  const s = await setup(t);
  const eng = s.session(ENG);
  for (const bad of [
    read(0xaff0, { slot: 0x10000 }),
    read(0xaff0, { length: 0 }),
    read(0xaff0, { length: 65536 }),
    write(0x0100, '01020304', { length: 3 }),
    write(0x0100, ''),
  ]) {
    const r = await s.pipeline.handle(s.req(eng, bad));
    t.equal(r.outcome, 'invalid-request', JSON.stringify({ ...bad, data: bad.data?.toString('hex') }));
    t.match(r.reason, /^invalid-request /);
    t.match(last(s), { type: 'record.decision', decision: 'deny', outcome: 'invalid-request', ruleId: null });
    t.notOk('data' in last(s));
  }
  t.equal(sent(s), 0);
});

t.test('a write: decision written ahead (pending) before it is sent, then request.outcome naming it', async (t) => {
  const s = await setup(t);
  const eng = s.session(ENG);
  grant(s, { start: 0x0100, end: 0x0101 });
  s.trace.length = 0;
  s.events.length = 0;
  const r = await s.pipeline.handle(s.req(eng, write(0x0100, '000a0100')));
  t.match(r, { outcome: 'ok', ruleId: 'eng' });
  t.same(s.trace, ['append record.decision pending', 'writeRecord', 'append request.outcome ok']);
  t.match(s.events[0], {
    type: 'record.decision',
    decision: 'allow',
    outcome: 'pending',
    access: 'write',
    index: 0x100,
    length: 4,
    data: '000a0100',
    ruleId: 'eng',
  });
  t.match(s.events[1], {
    type: 'request.outcome',
    decisionSeq: 1,
    identity: ENG,
    device: 'rio-1',
    access: 'write',
    slot: 1,
    subslot: 1,
    index: 0x100,
    outcome: 'ok',
  });
  t.same(s.calls.writes[0]?.data, Buffer.from('000a0100', 'hex'));
});

t.test(
  'write-ahead append fails: refused audit-unavailable and never sent; failurePolicy continue sends it',
  async (t) => {
    const s = await setup(t);
    const eng = s.session(ENG);
    grant(s, { start: 0x0100, end: 0x0100 });
    s.trace.length = 0;
    s.appendFails = true;
    const r = await s.pipeline.handle(s.req(eng, write(0x0100, '000a0100')));
    t.equal(r.outcome, 'audit-unavailable');
    t.equal(s.calls.writes.length, 0, 'no write without its event in the log');
    t.same(s.trace, ['append record.decision pending', 'append record.decision audit-unavailable']);

    const c = await setup(t, { continueOnFailure: true });
    grant(c, { start: 0x0100, end: 0x0100 });
    c.appendFails = true;
    const r2 = await c.pipeline.handle(c.req(c.session(ENG), write(0x0100, '000a0100')));
    t.equal(r2.outcome, 'ok');
    t.equal(c.calls.writes.length, 1);

    const u = await setup(t);
    u.healthy = false;
    const r3 = await u.pipeline.handle(u.req(u.session(HIST), read(0xaff0)));
    t.match(r3, { outcome: 'audit-unavailable', reason: 'audit-unavailable' });
    t.equal(sent(u), 0, 'audit down: even reads are refused (fail-closed)');
  },
);

t.test('every device result maps to its outcome (reads and writes)', async (t) => {
  const s = await setup(t);
  const eng = s.session(ENG);
  const hist = s.session(HIST);
  grant(s, { start: 0x0100, end: 0x0103 });
  const status = Buffer.from('de80b00a', 'hex');
  const cases: [ProfinetResult, 'read' | 'write', string, object][] = [
    [
      { kind: 'pnio-error', status, name: 'invalid-index', meaning: 'the index is not known', stage: 'read' },
      'read',
      'pnio-error',
      { pnioStatus: 'de80b00a', pnioMeaning: 'invalid-index' },
    ],
    [
      { kind: 'pnio-error', status, name: 'invalid-index', meaning: 'x', stage: 'write' },
      'write',
      'pnio-error',
      { pnioStatus: 'de80b00a' },
    ],
    [
      { kind: 'rpc-fault', packet: 'reject', nca: 0x1c010003, name: 'nca_op_rng_error', stage: 'read' },
      'read',
      'rpc-fault',
      { reason: /may have been executed/ },
    ],
    [
      { kind: 'rpc-fault', packet: 'fault', nca: 0x1c000019, name: 'nca_s_fault_unspec', stage: 'connect' },
      'write',
      'unavailable',
      { reason: /nothing written/ },
    ],
    [{ kind: 'timeout', stage: 'read' }, 'read', 'timeout', {}],
    [{ kind: 'timeout', stage: 'connect' }, 'write', 'timeout', { reason: /nothing written/ }],
    [{ kind: 'write-lost' }, 'write', 'write-lost', { reason: /may have been executed/ }],
    [{ kind: 'unavailable', sent: false, reason: 'queue wait' }, 'read', 'unavailable', {}],
    [
      { kind: 'malformed-answer', raw: Buffer.from('0badf00d', 'hex'), reason: 'field-value', detail: 'bad block' },
      'read',
      'malformed-answer',
      {},
    ],
    [{ kind: 'queue-full' }, 'write', 'queue-full', {}],
    [{ kind: 'aborted' }, 'read', 'aborted', {}],
    [{ kind: 'invalid-argument', reason: 'slot' }, 'read', 'invalid-request', {}],
  ];
  for (const [answer, access, outcome, extra] of cases) {
    s.answer = answer;
    s.events.length = 0;
    s.clock.now += 1000; // past the historian's rate limit
    const r = await s.pipeline.handle(
      access === 'read' ? s.req(hist, read(0xf000)) : s.req(eng, write(0x0101, '00000000')),
    );
    t.match(r, { outcome, ...extra }, `${answer.kind} (${access}) → ${outcome}`);
    t.notOk(r.data, 'no data unless ok');
    const ev = last(s) as Record<string, unknown>;
    t.equal(ev['outcome'], outcome);
    t.equal(ev['type'], access === 'write' ? 'request.outcome' : 'record.decision');
    if (answer.kind === 'pnio-error') t.equal(ev['pnioStatus'], 'de80b00a', 'status in the audit event');
    const sent =
      ['rpc-fault', 'write-lost', 'malformed-answer'].includes(outcome) ||
      (answer.kind === 'timeout' && answer.stage === 'read');
    t.equal(ev['mayHaveExecuted'], sent ? true : undefined, `${outcome}: marked only when sent and its fate unknown`);
    if (answer.kind === 'malformed-answer') {
      t.equal(ev['raw'], '0badf00d', 'raw bytes in the audit event');
      t.notOk(JSON.stringify(r).includes('0badf00d'), 'never to the client');
    }
  }
  const counted = (await s.metrics.recordRequests.get()).values.find((v) => v.labels.outcome === 'write-lost');
  t.equal(counted?.value, 1, 'counted by outcome');
});

t.test('JIT: a write needs an active records grant over its index; refused again after expiry', async (t) => {
  const s = await setup(t);
  const eng = s.session(ENG);
  const no = await s.pipeline.handle(s.req(eng, write(0x0100, '000a0100')));
  t.match(no, { outcome: 'denied', ruleId: 'eng', reason: 'jit-required eng' });
  grant(s, { start: 0x0102, end: 0x0103 }, 'write', 60_000);
  t.equal(
    (await s.pipeline.handle(s.req(eng, write(0x0100, '000a0100')))).outcome,
    'denied',
    'a grant over other indices does not cover it',
  );
  t.equal((await s.pipeline.handle(s.req(eng, write(0x0102, '000a0100')))).outcome, 'ok');
  s.clock.now += 60_001;
  t.match(
    await s.pipeline.handle(s.req(eng, write(0x0102, '000a0100'))),
    { outcome: 'denied', reason: 'jit-required eng' },
    'expired',
  );
  t.equal(s.calls.writes.length, 1, 'only the granted write was sent');
});

t.test('JIT grant requests for records are checked against the profinet entries of the JIT rule', async (t) => {
  const s = await setup(t);
  const ask = (start: number, end: number, access: 'read' | 'write' | 'read-write' = 'write') =>
    s.trust.grants.request({
      requester: ENG,
      device: 'rio-1',
      table: 'records',
      start,
      end,
      access,
      durationMs: 60_000,
      reason: 'r',
    });
  t.match(ask(0x0100, 0x0103), { ok: true, grant: { table: 'records', start: 0x100, end: 0x103, ruleId: 'eng' } });
  t.match(ask(0x0100, 0x0104), { ok: false, code: 'forbidden' }, 'beyond the entry');
  t.match(ask(0x0100, 0x0100, 'read'), { ok: false, code: 'forbidden' }, 'the rule has no read entry');
  t.match(ask(0x0100, 0x0100, 'read-write'), { ok: false, code: 'forbidden' });
  t.match(ask(0x0103, 0x0100), { ok: false, code: 'invalid' });
  const modbus = s.trust.grants.request({
    requester: ENG,
    device: 'rio-1',
    table: 'holding',
    start: 0x100,
    end: 0x100,
    access: 'write',
    durationMs: 60_000,
    reason: 'r',
  });
  t.match(modbus, { ok: false, code: 'forbidden' }, 'a Modbus table is not a profinet entry');
  const id = grant(s, { start: 0x0100, end: 0x0103 });
  t.equal(
    s.trust.grants.covering(ENG, 'eng', 'rio-1', { reads: [], writes: [{ table: 'holding', start: 0x100, count: 1 }] }),
    null,
    'a records grant covers no register',
  );
  t.equal(s.trust.grants.coveringRecord(ENG, 'eng', 'rio-1', { access: 'write', index: 0x103 })?.id, id);
  t.equal(s.trust.grants.coveringRecord(ENG, 'eng', 'rio-1', { access: 'read', index: 0x103 }), null);
  t.equal(s.trust.grants.coveringRecord(ENG, 'eng', 'rio-2', { access: 'write', index: 0x103 }), null);
  t.equal(s.trust.grants.coveringRecord(`${TD}/eng/eve`, 'eng', 'rio-1', { access: 'write', index: 0x103 }), null);
});

t.test(
  'locks: device, identity and grant locks refuse before anything is sent; a lock while queued aborts it',
  async (t) => {
    const s = await setup(t, { dispatchCheck: true });
    const hist = s.session(HIST);
    s.trust.lock({ kind: 'device', value: 'rio-1' }, LEAD, 'maintenance');
    const r = await s.pipeline.handle(s.req(hist, read(0xaff0)));
    t.match(r, { outcome: 'denied', reason: /^locked / });
    t.equal(sent(s), 0);
    t.equal((await s.pipeline.handle(s.req(hist, read(0xaff0), 'rio-2'))).outcome, 'ok', 'other devices unaffected');

    const l = await setup(t, { dispatchCheck: true });
    const eng = l.session(ENG);
    const gid = grant(l, { start: 0x0100, end: 0x0100 });
    l.trust.lock({ kind: 'grant', value: gid }, LEAD, 'no');
    t.match(await l.pipeline.handle(l.req(l.session(ENG), write(0x0100, '000a0100'))), { outcome: 'denied' });
    t.notOk(eng.isOpen, 'a grant lock ends the holder’s sessions');
    t.equal(l.calls.writes.length, 0);

    const q = await setup(t, { dispatchCheck: true });
    grant(q, { start: 0x0100, end: 0x0100 });
    // the lock lands while the write waits for the device: stillAllowed() says no → aborted, never sent
    let release = (): void => {};
    q.queue = new Promise<void>((resolve) => (release = resolve));
    const qs = q.session(ENG);
    const pending = q.pipeline.handle(q.req(qs, write(0x0100, '000a0100')));
    await new Promise((r) => setImmediate(r));
    t.match(q.events[q.events.length - 1], { outcome: 'pending' }, 'written ahead, waiting for the device');
    q.trust.lock({ kind: 'device', value: 'rio-1' }, LEAD, 'stop');
    release();
    const r3 = await pending;
    t.equal(r3.outcome, 'aborted');
    t.match(last(q), { type: 'request.outcome', outcome: 'aborted' });
  },
);

t.test('read-only downgrade refuses writes unless the verdict is essential; reads go on', async (t) => {
  const s = await setup(t);
  const op = s.session(OP);
  op.setReadOnly(true);
  t.match(await s.pipeline.handle(s.req(op, write(0x0111, '0001'))), { outcome: 'denied', reason: 'trust-read-only' });
  t.match(await s.pipeline.handle(s.req(op, write(0x0110, '0001'))), { outcome: 'ok', ruleId: 'op-essential' });
  t.match(await s.pipeline.handle(s.req(op, read(0x0111, { slot: 1, length: 2 }))), { outcome: 'ok' });
  t.equal(s.calls.writes.length, 1);
  t.same(
    s.calls.writes.map((w) => w.index),
    [0x110],
  );
});

t.test('rate obligation: the 4th read in a second is refused; the bucket refills with the clock', async (t) => {
  const s = await setup(t);
  const hist = s.session(HIST);
  const outcomes: string[] = [];
  for (let i = 0; i < 4; i++) outcomes.push((await s.pipeline.handle(s.req(hist, read(0xaff0)))).outcome);
  t.same(outcomes, ['ok', 'ok', 'ok', 'denied']);
  t.match(last(s), { reason: 'rate-limited hist' });
  s.clock.now += 1000;
  t.equal((await s.pipeline.handle(s.req(hist, read(0xaff0)))).outcome, 'ok');
  t.equal(s.calls.reads.length, 4);
});

t.test('an internal failure: internal-error answered, logged and audited; handle() never rejects', async (t) => {
  const s = await setup(t);
  s.answer = () => {
    throw new Error('client exploded');
  };
  const r = await s.pipeline.handle(s.req(s.session(HIST), read(0xaff0)));
  t.match(r, { outcome: 'internal-error', reason: 'internal-error: client exploded', ruleId: 'hist' });
  t.match(last(s), { type: 'record.decision', outcome: 'internal-error' });
  grant(s, { start: 0x0100, end: 0x0100 });
  const w = await s.pipeline.handle(s.req(s.session(ENG), write(0x0100, '000a0100')));
  t.equal(w.outcome, 'internal-error');
  t.match(last(s), { type: 'request.outcome', outcome: 'internal-error' }, 'after a write-ahead decision: its outcome');
});

t.test('an unknown device name refused by the front door is audited and counted', async (t) => {
  const s = await setup(t);
  const hist = s.session(HIST);
  await s.pipeline.refused(hist, 'rio-9', read(0xaff0), 'unknown-device rio-9');
  t.match(last(s), {
    type: 'record.decision',
    device: 'rio-9',
    decision: 'deny',
    outcome: 'invalid-request',
    reason: 'unknown-device rio-9',
    index: 0xaff0,
  });
  t.equal(hist.denied, 1);
});

t.test('fail-closed: a refusal or internal failure whose event is not in the file → audit-unavailable', async (t) => {
  const s = await setup(t);
  const hist = s.session(HIST);
  t.equal(await s.pipeline.refused(hist, 'rio-9', read(0xaff0), 'unknown-device rio-9'), true, 'in the file');
  s.appendFails = true;
  t.equal(await s.pipeline.refused(hist, 'rio-9', read(0xaff0), 'unknown-device rio-9'), false, 'not in the file');
  s.answer = () => {
    throw new Error('client exploded');
  };
  t.match(await s.pipeline.handle(s.req(hist, read(0xaff0))), { outcome: 'audit-unavailable', ruleId: 'hist' });
  s.answer = RECORD;
  t.match(
    await s.pipeline.handle(s.req(hist, read(0x7777))),
    { outcome: 'audit-unavailable' },
    'a denial whose event is not in the file is not answered as a denial either',
  );
  const c = await setup(t, { continueOnFailure: true });
  c.appendFails = true;
  t.equal(await c.pipeline.refused(hist, 'rio-9', read(0xaff0), 'x'), true, 'failurePolicy continue answers it');
});

t.test('refused before the pipeline and denied by it: record.decision events of the same shape', async (t) => {
  const s = await setup(t);
  const hist = s.session(HIST);
  const keys = (e: AuditEventInput | undefined): string[] => Object.keys(e ?? {}).sort();
  const r = await s.pipeline.handle(s.req(hist, read(0x7777)));
  t.equal(r.outcome, 'denied');
  const denied = last(s);
  await s.pipeline.refused(hist, 'rio-9', read(0x7777), 'unknown-device rio-9');
  t.same(keys(last(s)), keys(denied), 'one builder: same members');
  const denials = (await s.metrics.denials.get()).values.map((v) => [v.labels.code, v.value]);
  t.same(denials, [['index-not-allowed', 1]], 'the denial counted by its reason code; the refusal is not a denial');
});

t.test(
  'record traffic feeds the trust baselines: a probe of unknown indices is denials + novelty evidence',
  async (t) => {
    const s = await setup(t, { policyExtra: 'trust: { threshold: 0.8, onBreach: read-only }\n', baseline: true });
    const op = s.session(OP);
    // warm up on the habitual record
    for (let i = 0; i < 20; i++) {
      s.clock.now += 500;
      await s.pipeline.handle(s.req(op, read(0x0111, { slot: 1, length: 2 })));
    }
    t.equal(s.trust.trustOf(OP).state, 'normal');
    for (let i = 0; i < 60; i++) {
      s.clock.now += 50;
      await s.pipeline.handle(s.req(op, read(0x0200 + i, { slot: 1, length: 2 })));
    }
    const changed = s.trustEvents.find((e) => e.type === 'trust.changed');
    t.match(changed, { type: 'trust.changed', identity: OP, state: 'read-only' });
    const reasons = (changed as { reasons?: string[] } | undefined)?.reasons?.join(' ') ?? '';
    t.match(reasons, /denials=/);
    t.match(reasons, /novelty=/);
    t.equal(s.calls.reads.length, 20, 'none of the probes reached the device');
    t.match(await s.pipeline.handle(s.req(op, write(0x0111, '0001'))), {
      outcome: 'denied',
      reason: 'trust-read-only',
    });
  },
);

t.test('audit values hash: a record write stores dataSha256 instead of the bytes', async (t) => {
  const { buildRecord } = await import('../../gateway/audit/build-record.js');
  const input: AuditEventInput = {
    type: 'record.decision',
    identity: HIST,
    device: 'rio-1',
    access: 'write',
    api: 0,
    slot: 1,
    subslot: 1,
    index: 0x100,
    length: 2,
    data: 'beef',
    decision: 'allow',
    ruleId: 'r',
    reason: 'allowed',
    outcome: 'pending',
    latencyMs: 0,
    policyVersion: 'v',
  };
  const hashed = buildRecord(input, { seq: 1, time: 'x', prev: '0', values: 'hash' }).record as Record<string, unknown>;
  t.notOk('data' in hashed);
  t.equal(
    hashed['dataSha256'],
    createHash('sha256').update(Buffer.from('beef', 'hex')).digest('hex'),
    'SHA-256 of the record bytes',
  );
  const kept = buildRecord(input, { seq: 1, time: 'x', prev: '0', values: 'include' }).record as Record<
    string,
    unknown
  >;
  t.equal(kept['data'], 'beef');
});
