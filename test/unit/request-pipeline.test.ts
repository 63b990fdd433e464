/**
 * The request pipeline with fakes around it: the order of the write-ahead audit event and the submit to the
 * PLC, what a failed append does under each failure policy, reads staying one event, and an internal failure
 * answered 0x04 while being logged, counted and audited (mbaps and gRPC).
 */
import t from 'tap';
import { status } from '@grpc/grpc-js';
import { classify, decodeRequest, encodeRequest, type ModbusRequest } from '../../protocols/modbus/index.js';
import { RequestPipeline, type PipelineDeps, type PipelineRequest } from '../../gateway/frontdoor/request-pipeline.js';
import { runCall } from '../../gateway/frontdoor/grpc-modbus-call.js';
import { Session } from '../../gateway/frontdoor/session.js';
import { GatewayMetrics } from '../../gateway/observability/metrics.js';
import type { AppendResult, AuditEventInput } from '../../gateway/audit/audit-events.js';
import type { DeviceConfig } from '../../gateway/config/gateway-config.js';
import type { UpstreamRequest, UpstreamResult } from '../../gateway/upstream/types.js';
import type { GateResult, RuntimeGate } from '../../gateway/trust/runtime-gate.js';
import { GATE_REASON_CODES, reasonText } from '../../gateway/reasons.js';
import { nullLogger } from '../../gateway/logger.js';

const WRITE: ModbusRequest = { type: 'write-single-register', fc: 6, address: 100, value: 5 };
const READ: ModbusRequest = { type: 'read-registers', fc: 3, address: 100, quantity: 1 };

function setup(
  over: {
    appendFails?: boolean;
    commitFails?: boolean;
    continueOnFailure?: boolean;
    gateThrows?: boolean;
    gate?: GateResult;
    role?: string;
    upstream?: UpstreamResult;
  } = {},
) {
  const trace: string[] = [];
  const events: AuditEventInput[] = [];
  const logs: { obj: object; msg?: string }[] = [];
  let seq = 0;
  const audit = {
    append(e: AuditEventInput): AppendResult {
      trace.push(`append ${e.type}${'outcome' in e ? ` ${e.outcome}` : ''}`);
      if (over.appendFails) return { ok: false, error: 'audit: write failed: ENOSPC' };
      events.push(e);
      return { ok: true, seq: ++seq };
    },
    healthy: () => true,
    // Group commit: the log writes this turn's events at its end; a failed batch write resolves false.
    committed: async (at: number | null): Promise<boolean> => {
      trace.push(`committed ${at}`);
      return Promise.resolve(over.commitFails !== true);
    },
  };
  const gate: RuntimeGate = {
    admit: () => ({ ok: true }),
    check: () => {
      if (over.gateThrows) throw new Error('gate exploded');
      return over.gate ?? { effect: 'allow' };
    },
    observe: () => {},
  };
  const submitted: UpstreamRequest[] = [];
  const pool = {
    submit: async (r: UpstreamRequest): Promise<UpstreamResult> => {
      trace.push('submit');
      submitted.push(r);
      // a write is echoed [MB-APP 6.6]; a read of one register answers 5
      return Promise.resolve(
        over.upstream ?? {
          kind: 'response',
          pdu: r.pdu[0] === 3 ? Buffer.from([3, 2, 0, 5]) : Buffer.from(r.pdu),
          latencyMs: 1,
        },
      );
    },
  };
  const metrics = new GatewayMetrics();
  const deps: PipelineDeps = {
    policy: () => ({
      version: 'v1',
      evaluate: () => ({ effect: 'allow', ruleId: 'r1', code: 'allowed', reason: 'allowed' }),
    }),
    gate,
    audit,
    metrics,
    now: () => 1000,
    ...(over.continueOnFailure ? { auditContinueOnFailure: true } : {}),
    logger: {
      ...nullLogger,
      error: (obj, msg) => logs.push({ obj, ...(msg ? { msg } : {}) }),
      warn: (obj, msg) => logs.push({ obj, ...(msg ? { msg } : {}) }),
    },
  };
  const pipeline = new RequestPipeline(deps);
  const session = new Session(
    'mbaps',
    {
      id: 'spiffe://plant.example/hmi/1',
      role: over.role ?? null,
      notAfter: new Date(Date.now() + 3_600_000),
      fingerprint256: 'x',
    },
    '127.0.0.1:1',
    0,
    () => {},
  );
  const device = { config: { name: 'plc-1' } as DeviceConfig, pool };
  const request = (m: ModbusRequest): PipelineRequest => {
    const pdu = encodeRequest(m);
    const d = decodeRequest(pdu);
    if (!d.ok) throw new Error(d.reason);
    return { session, device, classified: classify(d.value, 1), pdu, transactionId: 7 };
  };
  const counted = async (outcome: string): Promise<number> =>
    (await metrics.requests.get()).values.filter((v) => v.labels.outcome === outcome).reduce((a, v) => a + v.value, 0);
  const denials = async (): Promise<Record<string, number>> =>
    Object.fromEntries((await metrics.denials.get()).values.map((v) => [String(v.labels.code), v.value]));
  return { pipeline, request, trace, events, logs, submitted, session, device, counted, denials };
}

t.test(
  'a write: its decision is appended before it is forwarded, its outcome after, naming the decision',
  async (t) => {
    const s = setup();
    const r = await s.pipeline.handle(s.request(WRITE));
    t.equal(r.outcome, 'ok');
    t.same(s.trace, [
      'append request.decision pending',
      'committed 1',
      'submit',
      'append request.outcome ok',
      'committed 2',
    ]);
    t.match(s.events[0], {
      type: 'request.decision',
      decision: 'allow',
      outcome: 'pending',
      ruleId: 'r1',
      transactionId: 7,
      writes: [{ table: 'holding', start: 100, values: [5] }],
    });
    t.match(s.events[1], {
      type: 'request.outcome',
      decisionSeq: 1,
      outcome: 'ok',
      identity: 'spiffe://plant.example/hmi/1',
      device: 'plc-1',
      fc: 6,
      transactionId: 7,
    });
  },
);

t.test('a read stays one event, after its answer', async (t) => {
  const s = setup();
  t.equal((await s.pipeline.handle(s.request(READ))).outcome, 'ok');
  t.same(s.trace, ['submit', 'append request.decision ok', 'committed 1'], 'answered once its event is committed');
});

t.test("group commit failed: a read's data is withheld (0x06), a write is refused unsent", async (t) => {
  const read = setup({ commitFails: true });
  const r = await read.pipeline.handle(read.request(READ));
  t.equal(r.outcome, 'audit-unavailable', 'data whose event is not in the file is not released');
  t.same([...r.pdu], [0x83, 0x06]);
  const write = setup({ commitFails: true });
  const w = await write.pipeline.handle(write.request(WRITE));
  t.equal(w.outcome, 'audit-unavailable');
  t.same(write.submitted, [], 'the write-ahead decision did not reach the file: nothing reaches the PLC');
  t.same(write.trace, [
    'append request.decision pending',
    'committed 1',
    'append request.decision audit-unavailable',
    'committed 2',
  ]);
  const cont = setup({ commitFails: true, continueOnFailure: true });
  t.equal((await cont.pipeline.handle(cont.request(READ))).outcome, 'ok', 'failurePolicy continue keeps serving');
});

t.test('group commit failed: a denial or a timeout is answered 0x06 too, not before its event', async (t) => {
  const denied = setup({ commitFails: true, gate: { effect: 'deny', code: 'locked', detail: 'L1' } });
  const d = await denied.pipeline.handle(denied.request(READ));
  t.equal(d.outcome, 'audit-unavailable', 'the denial event is not in the file: the denial is not answered');
  t.same([...d.pdu], [0x83, 0x06]);
  const timedOut = setup({ commitFails: true, upstream: { kind: 'timeout' } });
  t.equal((await timedOut.pipeline.handle(timedOut.request(READ))).outcome, 'audit-unavailable');
  const cont = setup({
    commitFails: true,
    continueOnFailure: true,
    gate: { effect: 'deny', code: 'locked', detail: 'L1' },
  });
  t.equal((await cont.pipeline.handle(cont.request(READ))).outcome, 'denied', 'failurePolicy continue answers it');
});

t.test('fail-closed: a write whose write-ahead event fails is refused with 0x06 and never submitted', async (t) => {
  const s = setup({ appendFails: true });
  const r = await s.pipeline.handle(s.request(WRITE));
  t.equal(r.outcome, 'audit-unavailable');
  t.same([...r.pdu], [0x86, 0x06]);
  t.same(s.submitted, [], 'nothing reaches the PLC');
  t.same(
    s.trace,
    ['append request.decision pending', 'append request.decision audit-unavailable'],
    'the refusal is appended too (counted lost if it fails)',
  );
  t.equal(await s.counted('audit-unavailable'), 1);
  t.match(s.logs, [{ msg: /write refused/ }]);
});

t.test('failurePolicy continue: the write goes on, and is recorded as one decision after the answer', async (t) => {
  const s = setup({ appendFails: true, continueOnFailure: true });
  const r = await s.pipeline.handle(s.request(WRITE));
  t.equal(r.outcome, 'ok');
  t.same(s.trace, ['append request.decision pending', 'submit', 'append request.decision ok']);
});

t.test('a queued write dropped by its ended session is audited as aborted (0x0A, never sent)', async (t) => {
  const s = setup({ upstream: { kind: 'aborted' } });
  const r = await s.pipeline.handle(s.request(WRITE));
  t.equal(r.outcome, 'aborted');
  t.same([...r.pdu], [0x86, 0x0a]);
  t.match(s.events[1], { type: 'request.outcome', decisionSeq: 1, outcome: 'aborted' });
});

t.test('ending a session aborts its signal once, with the end reason (no DOMException per session)', async (t) => {
  const { session } = setup({});
  t.equal(session.signal.aborted, false);
  session.end('idle-timeout');
  session.end('locked');
  t.equal(session.signal.aborted, true);
  t.equal(session.signal.reason, 'idle-timeout', 'the first reason wins');
  t.equal(session.endReason, 'idle-timeout');
});

t.test('an exception inside handle() answers 0x04 and is logged, counted and audited', async (t) => {
  const s = setup({ gateThrows: true });
  const r = await s.pipeline.handle(s.request(WRITE));
  t.equal(r.outcome, 'internal-error');
  t.same([...r.pdu], [0x86, 0x04]);
  t.same(s.submitted, []);
  t.match(s.events, [
    { type: 'request.decision', outcome: 'internal-error', reason: /internal-error: gate exploded/, transactionId: 7 },
  ]);
  t.equal(await s.counted('internal-error'), 1);
  t.match(s.logs, [{ msg: /pipeline failed/, obj: { err: { message: 'gate exploded' } } }]);
  t.ok(s.session.isOpen, 'the session stays');
});

t.test('an exception after the write-ahead decision completes it with an internal-error outcome', async (t) => {
  const s = setup();
  const req = s.request(WRITE);
  const bad = { ...req, device: { ...req.device, pool: { submit: () => Promise.reject(new Error('pool exploded')) } } };
  const r = await s.pipeline.handle(bad);
  t.equal(r.outcome, 'internal-error');
  t.match(s.events, [
    { type: 'request.decision', outcome: 'pending' },
    { type: 'request.outcome', decisionSeq: 1, outcome: 'internal-error' },
  ]);
});

t.test('a failure outside handle() (decode, route): failed() answers 0x04, logs, counts, audits', async (t) => {
  const s = setup();
  const failed = await s.pipeline.failed(s.session, { unit: 1, fc: 3 }, new Error('router exploded'));
  t.same([...failed.pdu], [0x83, 0x04]);
  t.equal(failed.outcome, 'internal-error');
  t.match(s.trace.at(-1), /^committed/, 'answered after its event was committed');
  t.match(s.events, [
    { type: 'request.decision', outcome: 'internal-error', reason: /router exploded/, fc: 3, unit: 1 },
  ]);
  t.equal(await s.counted('internal-error'), 1);
  t.match(s.logs, [{ msg: /0x04/ }]);
});

t.test('gRPC: an internal failure is INTERNAL with outcome internal-error, and reported to the pipeline', async (t) => {
  const s = setup();
  const reported: unknown[] = [];
  const deps = {
    router: { named: () => s.device },
    pipeline: {
      handle: () => Promise.reject(new Error('handler exploded')),
      failed: (_s: Session, frame: { fc: number }, err: unknown) => {
        reported.push(err);
        const pdu = Buffer.from([frame.fc | 0x80, 4]);
        return Promise.resolve({
          outcome: 'internal-error' as const,
          pdu,
          code: 'internal-error' as const,
          reason: 'x',
          ruleId: null,
        });
      },
    },
  };
  const r = await runCall(deps, s.session, 'plc-1', WRITE);
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.error.code, status.INTERNAL);
    t.equal(r.error.metadata?.get('verigate-outcome')[0], 'internal-error');
  }
  t.equal(reported.length, 1);
  const pipelineResult = await runCall(
    { router: { named: () => s.device }, pipeline: s.pipeline },
    s.session,
    'plc-1',
    READ,
  );
  t.equal(pipelineResult.ok, true, 'the normal path still works through the same function');
});

t.test(
  'gRPC: a PLC answer the typed mapping cannot decode is UNKNOWN (it may have executed), never retried UNAVAILABLE',
  async (t) => {
    const s = setup();
    const truncated = Buffer.from([0x06, 0x00]); // an FC6 echo cut short: the PLC answered, the write may have run
    const pipeline = {
      handle: () =>
        Promise.resolve({
          outcome: 'ok' as const,
          pdu: truncated,
          code: 'allowed' as const,
          reason: 'allowed',
          ruleId: 'r',
        }),
    };
    const r = await runCall({ router: { named: () => s.device }, pipeline }, s.session, 'plc-1', WRITE);
    t.equal(r.ok, false);
    if (!r.ok) {
      t.equal(r.error.code, status.UNKNOWN);
      t.match(r.error.details, /may have been executed/);
    }
  },
);

t.test(
  'every runtime-gate refusal: 0x01 on the wire, its code in the result and the metric, its text audited',
  async (t) => {
    for (const code of GATE_REASON_CODES) {
      const detail = code === 'trust-read-only' ? '' : 'r-7';
      const s = setup({ gate: { effect: 'deny', code, detail } });
      const r = await s.pipeline.handle(s.request(WRITE));
      t.match(r, { outcome: 'denied', code, reason: reasonText(code, detail), ruleId: 'r1' }, code);
      t.same([...r.pdu], [0x86, 0x01], `${code}: denied answers 0x01 [MB-TCP-SEC R-24]`);
      t.same(s.submitted, [], `${code}: nothing reaches the PLC`);
      t.match(s.events, [{ type: 'request.decision', decision: 'deny', outcome: 'denied', reason: r.reason }]);
      t.same(await s.denials(), { [code]: 1 }, `${code}: counted by its code`);
    }
  },
);

t.test('refused before policy and handled: request.decision events of the same shape', async (t) => {
  // What the stored line keeps: members whose value is undefined are omitted (canonical-json.ts).
  const keys = (e: AuditEventInput | undefined): string[] =>
    Object.entries(e ?? {})
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k)
      .sort();
  const s = setup({ role: 'operator', gate: { effect: 'deny', code: 'locked', detail: 'L1' } });
  await s.pipeline.handle(s.request(READ));
  const noPath = Buffer.from([0x83, 0x0a]);
  t.equal(
    await s.pipeline.refused(s.session, { unit: 1, fc: 3, transactionId: 7 }, 'no-route', 'no-route unit 1', noPath),
    noPath,
    'answered as refused once its event is in the file',
  );
  t.equal(s.events.length, 2);
  const [handled, refused] = s.events;
  t.same(keys(refused), keys(handled), 'same members, transaction id and role included');
  t.match(refused, { type: 'request.decision', device: '', unit: 1, fc: 3, transactionId: 7, role: 'operator' });
  t.match(refused, {
    decision: 'deny',
    ruleId: null,
    reason: 'no-route unit 1',
    outcome: 'no-route',
    policyVersion: 'v1',
  });
});

t.test(
  'fail-closed: a refusal or failure whose event did not reach the file is answered 0x06, not as refused',
  async (t) => {
    const s = setup({ commitFails: true });
    const frame = { unit: 9, fc: 3, transactionId: 7 };
    const noPath = Buffer.from([0x83, 0x0a]);
    t.same([...(await s.pipeline.refused(s.session, frame, 'no-route', 'no-route unit 9', noPath))], [0x83, 0x06]);
    t.same(
      [...(await s.pipeline.refused(s.session, frame, 'invalid-request', 'invalid-request x', Buffer.from([0x83, 3])))],
      [0x83, 0x06],
    );
    const failed = await s.pipeline.failed(s.session, frame, new Error('router exploded'));
    t.match(failed, { outcome: 'audit-unavailable', code: 'audit-unavailable' });
    t.same([...failed.pdu], [0x83, 0x06]);
    const inside = setup({ commitFails: true, gateThrows: true });
    const r = await inside.pipeline.handle(inside.request(READ));
    t.match(r, { outcome: 'audit-unavailable' }, 'an internal failure inside handle() too');
    t.same([...r.pdu], [0x83, 0x06]);
    // gRPC: the same failure is UNAVAILABLE audit-unavailable, not INTERNAL
    const grpc = await runCall(
      {
        router: { named: () => s.device },
        pipeline: { handle: () => Promise.reject(new Error('x')), failed: (...a) => s.pipeline.failed(...a) },
      },
      s.session,
      'plc-1',
      READ,
    );
    t.equal(grpc.ok, false);
    if (!grpc.ok) {
      t.equal(grpc.error.code, status.UNAVAILABLE);
      t.equal(grpc.error.metadata?.get('verigate-outcome')[0], 'audit-unavailable');
    }

    const kept = setup({ commitFails: true, continueOnFailure: true });
    t.equal(await kept.pipeline.refused(kept.session, frame, 'no-route', 'no-route unit 9', noPath), noPath);
    t.match(await kept.pipeline.failed(kept.session, frame, new Error('x')), { outcome: 'internal-error' });
  },
);
