/**
 * gRPC `verigate.v1.Profinet` over the real front door (mTLS with SVIDs, a real grpc-js client) with a fake
 * RecordPipeline behind it: each pipeline outcome → its status code and trailing metadata; bad arguments →
 * INVALID_ARGUMENT with NOTHING handed to the pipeline; ReadIdentity = two reads (I&M0 0xAFF0 and
 * RealIdentificationData 0xF000 at 0/0/1), decoded with the codec's record parsers.
 */
import t from 'tap';
import type { ClientUnaryCall } from '@grpc/grpc-js';
import type { CallOutcome } from '../../gateway/cli/admin-client.js';
import type {
  DeviceIdentityMessage,
  ReadRecordResponse,
  WriteRecordResponse,
} from '../../gateway/frontdoor/grpc-proto.js';
import type { RecordOutcome, RecordPipelineResult } from '../../gateway/frontdoor/record-pipeline.js';
import { encodeIm0, encodeRealIdentification, RecordIndex, type Im0 } from '../../protocols/profinet/index.js';
import { CALLER, PN_DEVICE, startPnFrontDoor } from '../helpers/profinet-front-door.js';

const pn = await startPnFrontDoor();
t.teardown(() => pn.stop());
const client = await pn.client();

const READ = { device: PN_DEVICE, api: 0, slot: 1, subslot: 1, index: 0x0100, maxLength: 8 };
const WRITE = { device: PN_DEVICE, api: 0, slot: 1, subslot: 1, index: 0x0100, data: Buffer.from([1, 2, 3, 4]) };

function failed<T>(r: CallOutcome<T>): Extract<CallOutcome<T>, { ok: false }> {
  if (r.ok) throw new Error('expected the call to fail');
  return r;
}

t.beforeEach(() => {
  pn.pipeline.seen.length = 0;
  pn.pipeline.refusals.length = 0;
  pn.pipeline.script = () => ({ outcome: 'ok', reason: 'allowed', ruleId: 'r1' });
});

t.test(
  'ReadRecord: the request reaches the pipeline as a RecordRequest of the verified session; data returned',
  async (t) => {
    pn.pipeline.script = () => ({ outcome: 'ok', reason: 'allowed', ruleId: 'r1', data: Buffer.from('cafe', 'hex') });
    const r = await client.call<ReadRecordResponse>('ReadRecord', { ...READ, api: 7, index: 0xaff0, maxLength: 4096 });
    t.ok(r.ok);
    if (r.ok) t.same([...r.value.data], [0xca, 0xfe]);
    t.equal(pn.pipeline.seen.length, 1);
    const seen = pn.pipeline.seen[0];
    t.same(seen?.request, { access: 'read', api: 7, slot: 1, subslot: 1, index: 0xaff0, length: 4096 });
    t.equal(seen?.session.peer.id, CALLER, 'judged as the SVID of the connection, never a field');
    t.equal(seen?.device, pn.target, 'routed by name to the PROFINET target');
  },
);

t.test('WriteRecord: data and length reach the pipeline; the response names the length', async (t) => {
  const r = await client.call<WriteRecordResponse>('WriteRecord', WRITE);
  t.ok(r.ok);
  if (r.ok) t.equal(r.value.length, 4);
  const req = pn.pipeline.seen[0]?.request;
  t.equal(req?.access, 'write');
  t.equal(req?.length, 4);
  t.same([...(req?.data ?? [])], [1, 2, 3, 4]);
});

/** Every outcome but ok: [status name, extra metadata expected]. */
const TABLE: Record<Exclude<RecordOutcome, 'ok'>, [string, Record<string, string>]> = {
  denied: ['PERMISSION_DENIED', { 'verigate-rule-id': 'no-writes' }],
  'invalid-request': ['INVALID_ARGUMENT', {}],
  'pnio-error': [
    'FAILED_PRECONDITION',
    { 'verigate-pnio-status': 'de80b00a', 'verigate-pnio-meaning': 'invalid-index' },
  ],
  timeout: ['DEADLINE_EXCEEDED', {}],
  // sent, fate unknown: a status gRPC retry policies and meshes do not retry
  'write-lost': ['UNKNOWN', {}],
  unavailable: ['UNAVAILABLE', {}],
  'malformed-answer': ['UNKNOWN', {}],
  'rpc-fault': ['UNKNOWN', {}],
  'queue-full': ['UNAVAILABLE', {}],
  aborted: ['UNAVAILABLE', {}],
  'audit-unavailable': ['UNAVAILABLE', {}],
  'internal-error': ['INTERNAL', {}],
};

t.test('each pipeline outcome → status code + verigate-outcome/-reason (+ rule id, PNIOStatus) trailers', async (t) => {
  for (const [outcome, [code, extra]] of Object.entries(TABLE) as [
    Exclude<RecordOutcome, 'ok'>,
    [string, Record<string, string>],
  ][]) {
    pn.pipeline.script = (): RecordPipelineResult => ({
      outcome,
      reason: `because ${outcome}`,
      ruleId: extra['verigate-rule-id'] ?? null,
      ...(outcome === 'pnio-error' ? { pnioStatus: 'de80b00a', pnioMeaning: 'invalid-index' } : {}),
    });
    for (const [method, req] of [
      ['ReadRecord', READ],
      ['WriteRecord', WRITE],
    ] as const) {
      const r = failed(await client.call(method, req));
      t.equal(r.codeName, code, `${outcome} (${method})`);
      t.equal(r.metadata['verigate-outcome'], outcome);
      t.equal(r.metadata['verigate-reason'], `because ${outcome}`);
      for (const [k, v] of Object.entries(extra)) t.equal(r.metadata[k], v, `${outcome}: ${k}`);
      if (outcome !== 'denied') t.notOk(r.metadata['verigate-rule-id'], 'no rule id when the pipeline gave none');
    }
  }
  t.equal(pn.pipeline.seen.length, 2 * Object.keys(TABLE).length, 'every call reached the pipeline once');
});

t.test(
  'message texts: denial names the rule; a lost write says it may have been executed; PNIOStatus in details',
  async (t) => {
    pn.pipeline.script = () => ({ outcome: 'denied', reason: 'no-rule', ruleId: 'eng-reads' });
    t.match(failed(await client.call('WriteRecord', WRITE)).details, /denied: no-rule \(rule eng-reads\)/);
    pn.pipeline.script = () => ({ outcome: 'write-lost', reason: 'no answer after the write', ruleId: 'w' });
    t.match(failed(await client.call('WriteRecord', WRITE)).details, /may have been executed/);
    pn.pipeline.script = () => ({
      outcome: 'pnio-error',
      reason: 'device error',
      ruleId: 'r',
      pnioStatus: 'df80b100',
      pnioMeaning: 'write-length',
    });
    t.match(failed(await client.call('WriteRecord', WRITE)).details, /PNIOStatus df80b100 \(write-length\)/);
  },
);

t.test('a non-ASCII reason or a pipeline that rejects cannot break the call', async (t) => {
  pn.pipeline.script = () => ({ outcome: 'denied', reason: 'schedule → closed ✗', ruleId: 'règle' });
  const r = failed(await client.call('ReadRecord', READ));
  t.equal(r.codeName, 'PERMISSION_DENIED');
  t.equal(r.metadata['verigate-reason'], 'schedule ? closed ?');
  t.equal(r.metadata['verigate-rule-id'], 'r?gle');
  pn.pipeline.script = () => Promise.reject(new Error('boom'));
  const i = failed(await client.call('ReadRecord', READ));
  t.equal(i.codeName, 'INTERNAL');
  t.equal(i.metadata['verigate-outcome'], 'internal-error');
  t.match(i.metadata['verigate-reason'], /boom/);
});

t.test('fail-closed: a refusal whose event did not reach the file is UNAVAILABLE audit-unavailable', async (t) => {
  pn.pipeline.refusalCommitted = false;
  t.teardown(() => (pn.pipeline.refusalCommitted = true));
  const r = failed(await client.call('ReadRecord', { ...READ, device: 'nope' }));
  t.equal(r.codeName, 'UNAVAILABLE');
  t.equal(r.metadata['verigate-outcome'], 'audit-unavailable');
  t.equal(pn.pipeline.refusals.length, 1, 'reported to the pipeline');
  t.equal(pn.pipeline.seen.length, 0, 'nothing handled');
});

t.test('bad arguments → INVALID_ARGUMENT, outcome invalid-request, and the pipeline saw NOTHING', async (t) => {
  const cases: [string, string, object, RegExp, RegExp][] = [
    [
      'unknown device',
      'ReadRecord',
      { ...READ, device: 'nope' },
      /unknown PROFINET device "nope"/,
      /^unknown-device nope$/,
    ],
    [
      'a Modbus device name is not a PROFINET one',
      'ReadRecord',
      { ...READ, device: 'turbine-1' },
      /unknown PROFINET device/,
      /^unknown-device turbine-1$/,
    ],
    [
      'slot > 0xFFFF',
      'ReadRecord',
      { ...READ, slot: 0x10000 },
      /slot 65536 is outside 0\.\.65535/,
      /^invalid-request slot 65536/,
    ],
    [
      'subslot > 0xFFFF',
      'WriteRecord',
      { ...WRITE, subslot: 0x10000 },
      /subslot 65536/,
      /^invalid-request subslot 65536/,
    ],
    ['index > 0xFFFF', 'ReadRecord', { ...READ, index: 0x10000 }, /index 65536/, /^invalid-request index 65536/],
    [
      'max_length 0',
      'ReadRecord',
      { ...READ, maxLength: 0 },
      /max_length 0 is outside 1\.\.65535/,
      /^invalid-request max_length 0/,
    ],
    [
      'max_length > 65535',
      'ReadRecord',
      { ...READ, maxLength: 65536 },
      /max_length 65536/,
      /^invalid-request max_length/,
    ],
    [
      'empty data',
      'WriteRecord',
      { ...WRITE, data: Buffer.alloc(0) },
      /data of 0 bytes/,
      /^invalid-request data of 0 bytes/,
    ],
    [
      'data > 65535 bytes',
      'WriteRecord',
      { ...WRITE, data: Buffer.alloc(65536) },
      /data of 65536 bytes/,
      /^invalid-request data of 65536/,
    ],
    [
      'identity of an unknown device',
      'ReadIdentity',
      { device: 'nope' },
      /unknown PROFINET device/,
      /^unknown-device nope$/,
    ],
  ];
  for (const [what, method, req, details, reason] of cases) {
    pn.pipeline.refusals.length = 0;
    const r = failed(await client.call(method, req));
    t.equal(r.codeName, 'INVALID_ARGUMENT', what);
    t.equal(r.metadata['verigate-outcome'], 'invalid-request', what);
    t.match(r.details, details, what);
    t.equal(pn.pipeline.refusals.length, 1, `${what}: reported once to refused() (audited, counted)`);
    t.match(pn.pipeline.refusals[0]?.reason, reason, what);
    t.equal(pn.pipeline.refusals[0]?.session.peer.id, CALLER);
  }
  t.equal(pn.pipeline.seen.length, 0, 'nothing was handed to handle() (so nothing sent or queued)');
});

const IM0: Im0 = {
  vendorId: 0x002a,
  orderId: '6ES7 155-6AU01-0BN0',
  serialNumber: 'S C-X4U812345678',
  hardwareRevision: 3,
  softwareRevisionPrefix: 'V',
  softwareRevision: [4, 2, 1],
  revisionCounter: 5,
  profileId: 0,
  profileSpecificType: 4,
  imVersion: [1, 1],
  imSupported: 0x001e,
};
const MODULES = [
  {
    api: 0,
    slot: 0,
    moduleIdentNumber: 0x00000100,
    submodules: [
      { subslot: 1, submoduleIdentNumber: 1 },
      { subslot: 0x8000, submoduleIdentNumber: 2 },
    ],
  },
  { api: 0, slot: 1, moduleIdentNumber: 0x00002001, submodules: [{ subslot: 1, submoduleIdentNumber: 0x11 }] },
];

t.test('ReadIdentity: two reads at API 0 slot 0 subslot 1 (0xAFF0, 0xF000, 4096 bytes), decoded', async (t) => {
  pn.pipeline.script = (req) => ({
    outcome: 'ok',
    reason: 'allowed',
    ruleId: 'inventory',
    data: req.request.index === RecordIndex.IM0 ? encodeIm0(IM0) : encodeRealIdentification(MODULES),
  });
  const r = await client.call<DeviceIdentityMessage>('ReadIdentity', { device: PN_DEVICE });
  t.ok(r.ok, r.ok ? '' : r.details);
  if (!r.ok) return;
  t.same(r.value.im0, {
    vendorId: 0x2a,
    orderId: '6ES7 155-6AU01-0BN0',
    serialNumber: 'S C-X4U812345678',
    hardwareRevision: 3,
    softwareRevision: 'V4.2.1',
    revisionCounter: 5,
    profileId: 0,
    profileSpecificType: 4,
    imVersion: '1.1',
    imSupported: 0x1e,
  });
  t.same(r.value.modules, MODULES);
  t.same(
    pn.pipeline.seen.map((s) => s.request),
    [
      { access: 'read', api: 0, slot: 0, subslot: 1, index: 0xaff0, length: 4096 },
      { access: 'read', api: 0, slot: 0, subslot: 1, index: 0xf000, length: 4096 },
    ],
  );
});

t.test(
  'ReadIdentity: the first refusal answers and the second record is not asked for; bytes that do not parse → UNKNOWN malformed-answer',
  async (t) => {
    pn.pipeline.script = () => ({ outcome: 'denied', reason: 'no-rule', ruleId: null });
    const denied = failed(await client.call('ReadIdentity', { device: PN_DEVICE }));
    t.equal(denied.codeName, 'PERMISSION_DENIED');
    t.equal(pn.pipeline.seen.length, 1, 'I&M0 denied: 0xF000 not requested');

    pn.pipeline.seen.length = 0;
    pn.pipeline.script = (req) =>
      req.request.index === RecordIndex.IM0
        ? { outcome: 'ok', reason: 'allowed', ruleId: 'inventory', data: encodeIm0(IM0) }
        : {
            outcome: 'pnio-error',
            reason: 'device error',
            ruleId: 'inventory',
            pnioStatus: 'de80b00a',
            pnioMeaning: 'invalid-index',
          };
    const pnio = failed(await client.call('ReadIdentity', { device: PN_DEVICE }));
    t.equal(pnio.codeName, 'FAILED_PRECONDITION');
    t.equal(pnio.metadata['verigate-pnio-status'], 'de80b00a');
    t.equal(pn.pipeline.seen.length, 2);

    pn.pipeline.script = () => ({
      outcome: 'ok',
      reason: 'allowed',
      ruleId: 'inventory',
      data: Buffer.from('00200038', 'hex'),
    });
    const garbage = failed(await client.call('ReadIdentity', { device: PN_DEVICE }));
    t.equal(garbage.codeName, 'UNKNOWN');
    t.equal(garbage.metadata['verigate-outcome'], 'malformed-answer');
    t.match(garbage.details, /I&M0 record \(0xaff0\)/);
  },
);

t.test(
  'WriteRecord: response headers leave before the write reaches the pipeline (the call is committed)',
  async (t) => {
    // A client that has its response headers never retries or hedges the call (gRPC A6): a connection lost
    // under the write cannot turn into a replay. Uncommitted, an error answer would be trailers-only.
    const raw = client.raw as unknown as Record<
      'WriteRecord' | 'ReadRecord',
      (r: object, cb: (e: unknown) => void) => ClientUnaryCall
    >;
    const run = (method: 'WriteRecord' | 'ReadRecord', req: object): Promise<string[]> => {
      const events: string[] = [];
      return new Promise((resolve) => {
        const call = raw[method](req, () => resolve(events));
        call.on('metadata', () => events.push('metadata'));
        call.on('status', () => events.push('status'));
      });
    };
    pn.pipeline.script = () => ({ outcome: 'write-lost', reason: 'no answer', ruleId: 'r1' });
    t.same(await run('WriteRecord', WRITE), ['metadata', 'status'], 'a write: headers, then its status');
    t.equal(pn.pipeline.seen.length, 1);
    pn.pipeline.script = () => ({ outcome: 'unavailable', reason: 'no path', ruleId: null });
    t.same(await run('ReadRecord', READ), ['status'], 'a read is not committed early: trailers-only');
  },
);
