/**
 * Outcomes after a request reached the device: once it was sent and no valid answer says how it ended, the
 * client gets a status gRPC retry policies and meshes do NOT retry (UNKNOWN; timeouts keep DEADLINE_EXCEEDED),
 * and the audit trail marks it `mayHaveExecuted`. Ported from the review's proofs: a write the device ran whose
 * answer came back garbled (malformed-answer) or as a DCE/RPC fault was answered UNAVAILABLE (retried by
 * default: a replayed write) and audited like "nothing sent"; Modbus `no-answer` likewise.
 */
import t from 'tap';
import { status } from '@grpc/grpc-js';
import { encodeFaultBody, encodeRpcDatagram, PacketType } from '../../protocols/profinet/index.js';
import { ProfinetClient } from '../../gateway/upstream/profinet-client.js';
import { recordEnding } from '../../gateway/frontdoor/record-ending.js';
import { recordError } from '../../gateway/frontdoor/grpc-record-status.js';
import { pipelineError } from '../../gateway/frontdoor/grpc-status.js';
import { recordOutcomeEvent } from '../../gateway/frontdoor/record-events.js';
import type { RecordPipelineResult } from '../../gateway/frontdoor/record-pipeline.js';
import type { PipelineResult } from '../../gateway/frontdoor/request-pipeline.js';
import type { Session } from '../../gateway/frontdoor/session.js';
import type { ProfinetResult } from '../../gateway/upstream/profinet-types.js';
import { FakePnioDevice, recordKey, type Seen } from '../fixtures/profinet/fake-device.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const WRITE = {
  clientKey: 'spiffe://plant.example/eng/alice',
  api: 0,
  slot: 1,
  subslot: 1,
  index: 0x0100,
  data: Buffer.from('0032', 'hex'),
};

async function setup(t: {
  teardown(fn: () => unknown): void;
}): Promise<{ dev: FakePnioDevice; client: ProfinetClient }> {
  const dev = await FakePnioDevice.start();
  dev.records.set(recordKey(1, 1, 0x0100), Buffer.from('001e', 'hex'));
  const client = new ProfinetClient({
    name: 'rio-1',
    host: '127.0.0.1',
    port: dev.port,
    timeoutMs: 1000,
    timers: new FakeTimers(),
  });
  t.teardown(async () => {
    await client.close();
    await dev.close();
  });
  return { dev, client };
}

/** The result as the pipeline would hand it to the gRPC service, and the status it gets. */
function answered(r: ProfinetResult): { result: RecordPipelineResult; code: status; details: string } {
  const end = recordEnding(r, true);
  const result: RecordPipelineResult = { outcome: end.outcome, reason: end.detail ?? '', ruleId: 'eng' };
  const err = recordError(result, 'write');
  return { result, code: err.code, details: err.details };
}

const session = { id: 's1', peer: { id: WRITE.clientKey, role: null } } as unknown as Session;
const request = { access: 'write' as const, api: 0, slot: 1, subslot: 1, index: 0x0100, length: 2, data: WRITE.data };

t.test('a write the device ran and then answered a DCE/RPC fault: rpc-fault, UNKNOWN, may have executed', async (t) => {
  const { dev, client } = await setup(t);
  dev.handler = (s: Seen, d) => {
    if (s.request.op !== 'write') return d.standardReply(s);
    d.standardReply(s); // the device executes the write …
    // … then answers a C706 fault: it failed while EXECUTING the call (nca_s_fault_unspec)
    const head = { ...s.header, packetType: PacketType.Fault, flags1: 0, bodyLength: 0 };
    return [encodeRpcDatagram(head, encodeFaultBody(0x1c000019, false))];
  };
  const r = await client.writeRecord(WRITE);
  t.equal(dev.records.get(recordKey(1, 1, 0x0100))?.toString('hex'), '0032', 'the device changed the record');
  t.match(r, { kind: 'rpc-fault', packet: 'fault', stage: 'write' });
  const a = answered(r);
  t.equal(a.result.outcome, 'rpc-fault', 'not `unavailable`, the outcome of "nothing sent"');
  t.equal(a.code, status.UNKNOWN, 'a status clients and meshes do not retry');
  t.match(a.details, /may have been executed/);
  const event = recordOutcomeEvent({ session, device: 'rio-1', request }, 7, recordEnding(r, true), 1);
  t.match(event, { outcome: 'rpc-fault', mayHaveExecuted: true }, 'the trail says it may have run');
});

t.test(
  'a write the device ran whose answer came back garbled: malformed-answer, UNKNOWN, may have executed',
  async (t) => {
    const { dev, client } = await setup(t);
    dev.handler = (s: Seen, d) => {
      const [dg] = d.standardReply(s) as Buffer[];
      if (s.request.op !== 'write' || dg === undefined) return dg === undefined ? 'silent' : [dg];
      const cut = Buffer.from(dg.subarray(0, dg.length - 10));
      cut.writeUInt16BE(cut.length - 80, 74); // a consistent RPC length, a truncated PNIO answer inside
      return [cut];
    };
    const r = await client.writeRecord(WRITE);
    t.equal(dev.records.get(recordKey(1, 1, 0x0100))?.toString('hex'), '0032', 'the device HAS executed the write');
    t.equal(r.kind, 'malformed-answer');
    const a = answered(r);
    t.equal(a.result.outcome, 'malformed-answer');
    t.equal(a.code, status.UNKNOWN);
    t.match(a.details, /may have been executed/);
    const event = recordOutcomeEvent({ session, device: 'rio-1', request }, 7, recordEnding(r, true), 1);
    t.match(event, { outcome: 'malformed-answer', mayHaveExecuted: true });
  },
);

t.test('what failed in front of the write (its AR connect) says nothing was written, and is not marked', async (t) => {
  for (const r of [
    { kind: 'rpc-fault', packet: 'fault', nca: 0x1c000019, name: 'nca_s_fault_unspec', stage: 'connect' },
    { kind: 'malformed-answer', raw: Buffer.from('00', 'hex'), reason: 'truncated', detail: 'x', stage: 'connect' },
  ] as const) {
    const end = recordEnding(r, true);
    t.equal(end.outcome, 'unavailable', `${r.kind} of the connect`);
    t.match(end.detail, /nothing written/);
    t.notOk(end.mayHaveExecuted);
  }
  t.equal(answered({ kind: 'write-lost' }).code, status.UNKNOWN, 'write-lost: UNKNOWN');
  t.notOk(recordEnding({ kind: 'queue-full' }, true).mayHaveExecuted, 'nothing sent: no mark');
  t.equal(answered({ kind: 'timeout', stage: 'read' }).code, status.DEADLINE_EXCEEDED, 'timeouts keep theirs');
});

t.test('Modbus: no-answer (sent, then lost or garbled) is UNKNOWN, never the retried UNAVAILABLE', async (t) => {
  const r = {
    outcome: 'no-answer',
    reason: 'no-answer',
    ruleId: 'r',
    pdu: Buffer.alloc(0),
  } as unknown as PipelineResult;
  const err = pipelineError(r);
  t.equal(err.code, status.UNKNOWN);
  t.match(err.details, /may have been executed/);
  const timeout = { ...r, outcome: 'timeout' } as PipelineResult;
  t.equal(pipelineError(timeout).code, status.DEADLINE_EXCEEDED);
  const unsent = { ...r, outcome: 'upstream-unavailable' } as PipelineResult;
  t.equal(pipelineError(unsent).code, status.UNAVAILABLE, 'never sent: retrying is safe');
});
