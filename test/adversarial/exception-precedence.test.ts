/**
 * Exception precedence as in the MODBUS Application Protocol's per-function state diagrams [MB-APP 6.1–6.18]:
 * function code (01) → quantity / byte count / value (03) → address (02) → execution (04). One table, checked
 * three ways: the request decoder, the PLC simulator's handler, and on the wire through a real gateway (which
 * answers decode failures itself and forwards decodable requests to the simulator, whose memory map then
 * decides 02). The identity used on the wire may read and write everything, so policy (01) never masks the
 * codec's or the PLC's answer; a zero-right identity's rows are at the end.
 */
import t from 'tap';
import { decodeRequest } from '../../protocols/modbus/index.js';
import { loadScenarioFile } from '../../simulators/load-scenario.js';
import { PlcMemory } from '../../simulators/plc-memory.js';
import { createRequestHandler } from '../../simulators/request-handler.js';
import { CounterSet } from '../../simulators/sim-counters.js';
import { startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const pdu = (...parts: (number | number[])[]): Buffer => Buffer.from(parts.flat());
const zeros = (n: number): number[] => new Array<number>(n).fill(0);

interface Row {
  readonly name: string;
  readonly pdu: Buffer;
  /** The decoder's exception; null = decodes. */
  readonly decoder: number | null;
  /** What a client gets: the codec's exception, else the PLC's (turbine: 16 coils/discrete/input, 256 holding). */
  readonly plc: number | 'ok';
}

const rows: Row[] = [
  // FC1/2/3/4: quantity (03) before address (02) [MB-APP 6.1–6.4]
  { name: 'FC3 65500 q126: quantity beats address', pdu: pdu(3, u16(65500), u16(126)), decoder: 3, plc: 3 },
  { name: 'FC3 65500 q100: address', pdu: pdu(3, u16(65500), u16(100)), decoder: 2, plc: 2 },
  { name: 'FC3 65535 q0', pdu: pdu(3, u16(65535), u16(0)), decoder: 3, plc: 3 },
  { name: 'FC3 250 q10: past the PLC memory', pdu: pdu(3, u16(250), u16(10)), decoder: null, plc: 2 },
  { name: 'FC3 0 q125', pdu: pdu(3, u16(0), u16(125)), decoder: null, plc: 'ok' },
  { name: 'FC4 65500 q126', pdu: pdu(4, u16(65500), u16(126)), decoder: 3, plc: 3 },
  { name: 'FC4 65500 q100', pdu: pdu(4, u16(65500), u16(100)), decoder: 2, plc: 2 },
  { name: 'FC1 65000 q2001', pdu: pdu(1, u16(65000), u16(2001)), decoder: 3, plc: 3 },
  { name: 'FC1 65000 q1000', pdu: pdu(1, u16(65000), u16(1000)), decoder: 2, plc: 2 },
  { name: 'FC1 10 q10: past the PLC memory', pdu: pdu(1, u16(10), u16(10)), decoder: null, plc: 2 },
  { name: 'FC2 65535 q0', pdu: pdu(2, u16(65535), u16(0)), decoder: 3, plc: 3 },
  { name: 'FC2 65535 q2', pdu: pdu(2, u16(65535), u16(2)), decoder: 2, plc: 2 },
  // FC5: value 0x0000/0xFF00 (03) before address (02) [MB-APP 6.5]
  { name: 'FC5 65535 value 0x1234: value beats address', pdu: pdu(5, u16(65535), u16(0x1234)), decoder: 3, plc: 3 },
  { name: 'FC5 100 value 0x0001', pdu: pdu(5, u16(100), u16(1)), decoder: 3, plc: 3 },
  { name: 'FC5 100 value 0xFF00: past the PLC memory', pdu: pdu(5, u16(100), u16(0xff00)), decoder: null, plc: 2 },
  // FC6 [MB-APP 6.6]: any value; address only
  { name: 'FC6 300: past the PLC memory', pdu: pdu(6, u16(300), u16(7)), decoder: null, plc: 2 },
  // FC15/16: quantity and byte count (03) before address (02) [MB-APP 6.11, 6.12]
  { name: 'FC15 65535 q1969', pdu: pdu(15, u16(65535), u16(1969), 247, zeros(247)), decoder: 3, plc: 3 },
  { name: 'FC15 65535 q8 byte count 2', pdu: pdu(15, u16(65535), u16(8), 2, zeros(2)), decoder: 3, plc: 3 },
  { name: 'FC15 65535 q2', pdu: pdu(15, u16(65535), u16(2), 1, 3), decoder: 2, plc: 2 },
  { name: 'FC15 10 q10: past the PLC memory', pdu: pdu(15, u16(10), u16(10), 2, zeros(2)), decoder: null, plc: 2 },
  // (a 124-register write cannot be framed: 248 data bytes make a PDU past 253 — its byte count is short too)
  { name: 'FC16 65535 q124', pdu: pdu(16, u16(65535), u16(124), 240, zeros(240)), decoder: 3, plc: 3 },
  { name: 'FC16 65535 q2 byte count 3', pdu: pdu(16, u16(65535), u16(2), 3, zeros(3)), decoder: 3, plc: 3 },
  { name: 'FC16 65535 q2', pdu: pdu(16, u16(65535), u16(2), 4, zeros(4)), decoder: 2, plc: 2 },
  { name: 'FC16 250 q10: past the PLC memory', pdu: pdu(16, u16(250), u16(10), 20, zeros(20)), decoder: null, plc: 2 },
  // FC22 [MB-APP 6.16]: address only
  { name: 'FC22 300: past the PLC memory', pdu: pdu(22, u16(300), u16(0xff), u16(0)), decoder: null, plc: 2 },
  // FC23: both quantities and the byte count (03) before both ranges (02) [MB-APP 6.17]
  { name: 'FC23 read 65500 q126', pdu: pdu(23, u16(65500), u16(126), u16(0), u16(1), 2, u16(1)), decoder: 3, plc: 3 },
  { name: 'FC23 read 65500 q100', pdu: pdu(23, u16(65500), u16(100), u16(0), u16(1), 2, u16(1)), decoder: 2, plc: 2 },
  {
    name: 'FC23 write 65535 q2 byte count 2',
    pdu: pdu(23, u16(0), u16(1), u16(65535), u16(2), 2, u16(1)),
    decoder: 3,
    plc: 3,
  },
  {
    name: 'FC23 write 65535 q2',
    pdu: pdu(23, u16(0), u16(1), u16(65535), u16(2), 4, u16(1), u16(2)),
    decoder: 2,
    plc: 2,
  },
  { name: 'FC23 write q0, read 65535 q2', pdu: pdu(23, u16(65535), u16(2), u16(0), u16(0), 0), decoder: 3, plc: 3 },
  {
    name: 'FC23 read 250 q10: past the PLC memory',
    pdu: pdu(23, u16(250), u16(10), u16(0), u16(1), 2, u16(1)),
    decoder: null,
    plc: 2,
  },
  // FC24 [MB-APP 6.18]: pointer address (02), then the queue count (03) — both the PLC's
  { name: 'FC24 pointer 300: no FIFO there', pdu: pdu(24, u16(300)), decoder: null, plc: 2 },
  { name: 'FC24 pointer 200', pdu: pdu(24, u16(200)), decoder: null, plc: 'ok' },
  // function code first (01)
  { name: 'FC0', pdu: pdu(0, u16(0), u16(1)), decoder: 1, plc: 1 },
  { name: 'FC 0x83 (an exception code, not a request)', pdu: pdu(0x83, u16(0), u16(1)), decoder: 1, plc: 1 },
];

const answerCode = (fc: number, answer: Buffer | null): number | 'ok' | 'none' =>
  answer === null
    ? 'none'
    : (answer[0] as number) === ((fc | 0x80) & 0xff) && answer.length === 2
      ? (answer[1] as number)
      : 'ok';

t.test('the decoder', async (t) => {
  for (const r of rows) {
    const d = decodeRequest(r.pdu);
    t.equal(d.ok ? null : d.exception, r.decoder, `${r.name}${d.ok ? '' : ` (${d.reason})`}`);
  }
});

const scenario = loadScenarioFile('simulators/scenarios/turbine.yaml');

t.test('the PLC simulator answers like the spec', async (t) => {
  const handle = createRequestHandler({ memory: new PlcMemory(scenario), scenario, counters: new CounterSet() });
  for (const r of rows) t.equal(answerCode(r.pdu[0] as number, handle(255, r.pdu)), r.plc, r.name);
  // A function code the PLC does not implement is 01 even when its bytes are also malformed (FC first).
  t.equal(
    answerCode(20, handle(255, pdu(20, 7, 5, u16(1), u16(0), u16(0)))),
    1,
    'FC20 (unsupported) with a bad reference type and length 0',
  );
  t.equal(answerCode(8, handle(255, pdu(8))), 1, 'FC8 (unsupported) without its sub-function');
  t.equal(answerCode(20, handle(255, pdu(20, 7, 6, u16(1), u16(0), u16(2)))), 1, 'FC20 well-formed: unsupported');
});

t.test('on the wire through the gateway', async (t) => {
  const h = await startHarness({
    policy: `version: 1
trustDomain: plant.example
rules:
  - id: tester
    principals: [spiffe://plant.example/tester]
    devices: [turbine-1]
    allow: [{ access: read-write, tables: [holding, coils], addresses: 0-65535 }, { access: read, tables: [input, discrete], addresses: 0-65535 }]
    functions: [24, 20]
`,
  });
  t.teardown(() => h.stop());
  const c = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/tester'));
  t.teardown(() => c.close());
  for (const r of rows) t.equal(answerCode(r.pdu[0] as number, await c.request(1, r.pdu)), r.plc, r.name);
  // The gateway cannot know which codes a PLC implements: a malformed file-record request is the codec's 03
  // (quantity: record length 0) before its address (02: reference type 5).
  t.equal(
    answerCode(20, await c.request(1, pdu(20, 7, 5, u16(1), u16(0), u16(0)))),
    3,
    'FC20 ref type 5 + length 0: 03 before 02',
  );
  t.notOk(c.isClosed, 'every refusal kept the session');

  // An identity with no rights: a decodable request is the policy's 01; a malformed one the codec's answer,
  // which the gateway gives before policy (it cannot classify bytes it cannot decode).
  const s = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/stranger'));
  t.teardown(() => s.close());
  t.equal(answerCode(3, await s.request(1, pdu(3, u16(0), u16(1)))), 1, 'stranger, well-formed FC3: 01');
  t.equal(answerCode(3, await s.request(1, pdu(3, u16(65500), u16(126)))), 3, 'stranger, FC3 65500 q126: 03');
  t.equal(answerCode(3, await s.request(1, pdu(3, u16(65500), u16(100)))), 2, 'stranger, FC3 65500 q100: 02');
  t.same(h.sim.counters().writes, {}, 'no refused write changed the PLC memory');
});
