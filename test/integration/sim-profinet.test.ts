/**
 * The PROFINET device simulator over real UDP on loopback, driven with the codec as client: records and
 * their PNIOStatus codes, device-access ARs (limit, timeout on an injected clock, writes only inside an
 * AR), byte orders in and out, fragmented answers, counters, faults, the control channel and the CLI's
 * opt-in crash on a user-index read.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import {
  decodeIm0,
  decodeDiagnosis,
  decodeRpcDatagram,
  decodeFaultBody,
  encodeCmRequest,
  encodeRpcDatagram,
  PacketType,
  pnioStatusHex,
  RecordIndex,
  requestHeader,
  type CmResponse,
} from '../../protocols/profinet/index.js';
import { startProfinetSimulator, type ProfinetSimulator } from '../../simulators/profinet/profinet-simulator.js';
import { connectDeviceAccess, PnTestClient, readImplicit, release, writeInAr } from '../helpers/pn-client.js';
import { REPO_ROOT } from '../helpers/tools.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const SCENARIO = 'simulators/scenarios/remote-io.yaml';
const IM0 = { api: 0, slot: 0, subslot: 1, index: RecordIndex.IM0 };
const P1 = { api: 0, slot: 1, subslot: 1, index: 0x0100 };
const AR1 = '22222222-0000-0000-0000-000000000001';
const AR2 = '22222222-0000-0000-0000-000000000002';
const status = (r: CmResponse | undefined): string => (r ? pnioStatusHex(r.status) : 'no answer');

async function rig(
  t: Test,
  o: Partial<Parameters<typeof startProfinetSimulator>[0]> = {},
): Promise<{ sim: ProfinetSimulator; c: PnTestClient }> {
  const sim = await startProfinetSimulator({ scenario: SCENARIO, sweepMs: 0, ...o });
  const c = await PnTestClient.open(sim.port, sim.objectUuid);
  t.teardown(async () => {
    c.close();
    await sim.close();
  });
  return { sim, c };
}

async function http(
  sim: ProfinetSimulator,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${sim.controlPort}${path}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: await res.json() };
}

t.test(
  'I&M0 by Read Implicit, both request byte orders; answers big-endian by default, echoed on request',
  async (t) => {
    const { sim, c } = await rig(t);
    for (const le of [false, true]) {
      const x = await c.call(readImplicit(IM0), { littleEndian: le });
      t.equal(x.answerLittleEndian, false, `${le ? 'little' : 'big'}-endian request → big-endian answer`);
      const im0 = x.response?.op === 'read-implicit' ? decodeIm0(x.response.data) : undefined;
      t.ok(im0?.ok && im0.value.vendorId === 0x0fee && im0.value.orderId === 'VG-RIO-ET16', 'I&M0 decoded');
    }
    const echo = await rig(t, { answerByteOrder: 'echo' });
    const le = await echo.c.call(readImplicit(IM0), { littleEndian: true });
    t.equal(le.answerLittleEndian, true, 'echo: little-endian answer');
    t.equal(status(le.response), '00000000');
    t.equal((await echo.c.call(readImplicit(IM0))).answerLittleEndian, false, 'echo: big stays big');
    t.same(sim.counters().reads, { '0/0/1/0xaff0': 2 });
  },
);

t.test('status codes on the wire: unknown index, empty slot/subslot, short RecordDataLength', async (t) => {
  const { c } = await rig(t);
  t.equal(status((await c.call(readImplicit({ ...P1, index: 0x4444 }))).response), 'de80b00a');
  t.equal(status((await c.call(readImplicit({ ...P1, slot: 9 }))).response), 'de80b200');
  t.equal(status((await c.call(readImplicit({ ...P1, subslot: 2 }))).response), 'de80b200');
  t.equal(status((await c.call(readImplicit(IM0, 20))).response), 'de80b700');
});

t.test(
  'AR limit and activity timeout (injected clock); writes only inside a known AR; wrong length; release',
  async (t) => {
    const clock = { t: 1_000_000 };
    const { sim, c } = await rig(t, { now: () => clock.t });
    t.equal(
      status((await c.call(writeInAr(AR1, P1, Buffer.from('0032', 'hex')))).response),
      'df814005',
      'write outside an AR refused',
    );
    t.equal(sim.counters().applied['0/1/1/0x0100'], undefined, 'nothing applied');
    t.equal(status((await c.call(connectDeviceAccess(AR1, { timeoutFactor: 30 }))).response), '00000000');
    t.equal(status((await c.call(connectDeviceAccess(AR2))).response), 'db814004', 'limit 1: out of AR resources');
    t.equal(
      status((await c.call(connectDeviceAccess(AR2, { arType: 0x0001 }))).response),
      'db810104',
      'IOCAR: AR type not supported',
    );
    t.equal(
      status((await c.call(writeInAr(AR1, P1, Buffer.from('003200', 'hex')))).response),
      'df80b100',
      'wrong write length',
    );
    const ok = await c.call(writeInAr(AR1, P1, Buffer.from('0032', 'hex')));
    t.ok(
      ok.response?.op === 'write' && ok.response.record?.recordDataLength === 2 && status(ok.response) === '00000000',
    );
    t.equal(
      ((await http(sim, 'GET', '/records?slot=1&subslot=1&index=0x0100')).json as { hex: string }).hex,
      '0032',
      'control channel sees the write',
    );
    clock.t += 3_000;
    t.equal(sim.sweep(), 1, 'idle for 3 s (factor 30): dropped');
    t.equal(status((await c.call(writeInAr(AR1, P1, Buffer.from('0033', 'hex')))).response), 'df814005');
    t.equal(
      status((await c.call(connectDeviceAccess(AR2, { sessionKey: 5 }))).response),
      '00000000',
      'slot free again',
    );
    t.equal(status((await c.call(release(AR2, 5))).response), '00000000');
    t.same(sim.ars(), []);
    t.same(sim.counters().ars, { current: 0, peak: 1, established: 2, refused: 2, released: 1, expired: 1 });
  },
);

t.test('a fragmented answer is reassembled; default is unfragmented', async (t) => {
  const small = await rig(t, { maxFragmentBody: 64 });
  const x = await small.c.call(readImplicit(IM0));
  t.equal(x.fragments, 3, '144-byte body in 64-byte fragments');
  t.ok(x.response?.op === 'read-implicit' && decodeIm0(x.response.data).ok, 'I&M0 from the reassembled body');
  const flags = x.datagrams.map((d) => (decodeRpcDatagram(d).ok ? (d[2] ?? 0) : -1));
  t.same(flags, [0x0c, 0x0c, 0x0e], 'frag + NoFragmentAck, the last also last_frag');
  const big = await rig(t);
  t.equal(
    (await big.c.call(readImplicit({ api: 0, slot: 0, subslot: 0, index: RecordIndex.RealIdentificationData })))
      .fragments,
    1,
  );
});

t.test(
  'counters: datagrams, reads/writes per record, retransmission answered from cache, malformed, unknown opnum',
  async (t) => {
    const { sim, c } = await rig(t);
    await c.call(readImplicit(IM0));
    await c.call(connectDeviceAccess(AR1));
    const req = writeInAr(AR1, P1, Buffer.from('0040', 'hex'));
    const first = await c.call(req, { seq: 77 });
    const again = await c.call(req, { seq: 77 });
    t.equal(status(again.response), status(first.response), 'retransmission answered');
    c.sendRaw(Buffer.from('not an rpc datagram'));
    const ctl = encodeRpcDatagram(
      { ...requestHeader({ activityUuid: c.activity, sequenceNumber: 900, objectUuid: sim.objectUuid }, 4) },
      Buffer.alloc(20),
    );
    c.sendRaw(ctl);
    const fault = await c.nextRaw(1000);
    const fd = fault ? decodeRpcDatagram(fault) : undefined;
    t.ok(fd?.ok && fd.value.header.packetType === PacketType.Fault, 'unsupported opnum → RPC fault');
    t.ok(
      fd?.ok &&
        decodeFaultBody(fd.value.body, false).ok &&
        (decodeFaultBody(fd.value.body, false) as { value: { name: string } }).value.name === 'nca_s_op_rng_error',
    );
    const k = sim.counters();
    t.equal(k.datagrams, 6, 'every datagram counted');
    t.same(k.writes, { '0/1/1/0x0100': 1 }, 'the retransmitted write ran once');
    t.equal(k.duplicates, 1);
    t.equal(k.malformed, 2);
    t.same(k.reads, { '0/0/1/0xaff0': 1 });
    t.equal(k.reads['0/1/1/0x0100'] ?? 0, 0, 'a record nobody asked for: zero');
    await http(sim, 'POST', '/counters/reset');
    t.equal(sim.counters().datagrams, 0);
    t.equal(sim.counters().ars.current, 1, 'reset keeps the live AR count');
  },
);

t.test('faults: silent, drop-answers, slow, garbage, status; restart', async (t) => {
  const { sim, c } = await rig(t);
  sim.setFault({ mode: 'silent' });
  t.equal((await c.call(readImplicit(IM0), { timeoutMs: 300 })).response, undefined, 'silent: no answer');
  await c.call(connectDeviceAccess(AR1), { timeoutMs: 300 });
  t.same(sim.ars(), [], 'silent: not executed');
  sim.setFault({ mode: 'none' });
  await c.call(connectDeviceAccess(AR1));
  sim.setFault({ mode: 'drop-answers' });
  t.equal(
    (await c.call(writeInAr(AR1, P1, Buffer.from('0099', 'hex')), { timeoutMs: 300 })).response,
    undefined,
    'answer lost',
  );
  t.same(sim.readRecord(P1), Buffer.from('0099', 'hex'), '…but the write was executed');
  t.equal(sim.counters().dropped, 3);
  sim.setFault({ mode: 'slow', delayMs: 250 });
  const t0 = Date.now();
  t.equal(status((await c.call(readImplicit(IM0), { timeoutMs: 2000 })).response), '00000000');
  t.ok(Date.now() - t0 >= 240, 'slow: answered after the delay');
  sim.setFault({ mode: 'garbage', variant: 'header' });
  await t.rejects(c.call(readImplicit(IM0)), /undecodable answer: ndr/, 'garbage matching the call, broken NDR');
  sim.setFault({ mode: 'garbage', variant: 'random' });
  t.equal((await c.call(readImplicit(IM0), { timeoutMs: 300 })).response, undefined, 'random garbage matches no call');
  t.equal(sim.counters().garbage, 2);
  t.equal((await http(sim, 'POST', '/fault', { mode: 'status', status: 'DEA08000' })).status, 200);
  t.equal(status((await c.call(readImplicit(IM0))).response), 'dea08000', 'status fault: every record answer');
  t.equal((await http(sim, 'POST', '/fault', { mode: 'bogus' })).status, 400);
  t.equal((await http(sim, 'POST', '/fault', { mode: 'none' })).status, 200);
  const bootBefore = (await c.call(readImplicit(IM0))).datagrams[0]?.readUInt32BE(64);
  t.equal((await http(sim, 'POST', '/restart', { downMs: 50 })).status, 200);
  t.same(sim.ars(), [], 'restart drops ARs');
  t.same(sim.readRecord(P1), Buffer.from('001e', 'hex'), 'restart resets records');
  const bootAfter = (await c.call(readImplicit(IM0))).datagrams[0]?.readUInt32BE(64);
  t.equal(bootAfter, (bootBefore ?? 0) + 1, 'server boot time changes');
  t.equal(sim.counters().restarts, 1);
});

t.test('control channel: state, diagnosis injected and read over UDP, logbook entries, records', async (t) => {
  const { sim, c } = await rig(t);
  const st = (await http(sim, 'GET', '/state')).json;
  t.match(st, {
    protocol: 'profinet',
    scenario: 'rio-1',
    stationName: 'rio-1',
    vendorId: 0x0fee,
    deviceId: 0x0301,
    port: sim.port,
    up: true,
  });
  t.equal(
    (await http(sim, 'POST', '/diagnosis', { slot: 1, subslot: 1, channel: 4, errorType: 0x0001, direction: 'input' }))
      .status,
    200,
  );
  t.equal((await http(sim, 'POST', '/diagnosis', { slot: 1 })).status, 400, 'bad entry');
  const x = await c.call(readImplicit({ api: 0, slot: 0, subslot: 0, index: RecordIndex.DiagnosisDevice }));
  const d = x.response?.op === 'read-implicit' ? decodeDiagnosis(x.response.data) : undefined;
  t.same(d?.ok && d.value.map((e) => [e.slot, e.channelNumber, e.channels[0]?.channelErrorType]), [
    [3, 2, 6],
    [1, 4, 1],
  ]);
  t.match((await http(sim, 'DELETE', '/diagnosis')).json, { removed: 2 });
  t.equal((await http(sim, 'POST', '/logbook', { status: 'df80b600', detail: 42 })).status, 200);
  t.match((await http(sim, 'GET', '/logbook')).json, [
    { entryDetail: 42, status: { errorCode: 0xdf, errorCode1: 0xb6 } },
  ]);
  t.equal((await http(sim, 'GET', '/records?slot=9&subslot=1&index=256')).status, 404);
  t.equal((await http(sim, 'GET', '/nope')).status, 404);
});

t.test('exitOnUserIndexRead over UDP: the crash answers nothing and takes the endpoint down', async (t) => {
  const exits: number[] = [];
  const { sim, c } = await rig(t, { exitOnUserIndexRead: true, exit: (code) => exits.push(code) });
  t.equal(status((await c.call(readImplicit(IM0))).response), '00000000', 'I&M0 is fine');
  t.equal((await c.call(readImplicit({ ...P1, index: 123 }), { timeoutMs: 300 })).response, undefined);
  t.same(exits, [70]);
  t.ok(sim.crashed);
  t.equal((await c.call(readImplicit(IM0), { timeoutMs: 300 })).response, undefined, 'nothing answers any more');
});

t.test(
  'sim CLI: detects the PROFINET scenario, answers on UDP, exits 70 on a user-index read when asked',
  async (t) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'simulators/cli.ts',
        '--scenario',
        SCENARIO,
        '--port',
        '0',
        '--exit-on-user-index-read',
        '--log-level',
        'error',
      ],
      {
        cwd: REPO_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const [line] = (await once(createInterface({ input: child.stdout }), 'line')) as [string];
    const ready = JSON.parse(line) as { protocol: string; port: number; scenario: string };
    t.match(ready, { protocol: 'profinet', scenario: 'rio-1' });
    const c = await PnTestClient.open(ready.port, 'dea00000-6c97-11d1-8271-000103010fee');
    t.teardown(() => c.close());
    t.equal(status((await c.call(readImplicit(IM0), { timeoutMs: 5000 })).response), '00000000');
    const exited = once(child, 'exit');
    const { datagrams } = encodeCmRequest(
      { activityUuid: c.activity, sequenceNumber: 50, objectUuid: c.objectUuid },
      readImplicit({ ...P1, index: 0x0001 }),
    );
    c.sendRaw(datagrams[0] as Buffer);
    const [code] = (await exited) as [number];
    t.equal(code, 70, 'process exited with 70');
  },
);

t.test('the device runs on injected timers: answer delay and AR sweep fire when the test moves them', async (t) => {
  const timers = new FakeTimers();
  const { sim, c } = await rig(t, { timers, answerDelayMs: 2000, sweepMs: 500 });
  t.same(timers.delays(), [500], 'the idle-AR sweep is armed on the injected timers');
  let answered = false;
  const armed = timers.armed();
  const pending = c.call(readImplicit(IM0), { timeoutMs: 10_000 }).then((x) => ((answered = true), x));
  await armed; // the request arrived and its answer is delayed on the device's timers
  t.ok(timers.delays().includes(2000), 'the answer delay is armed on the injected timers');
  timers.advance(1999);
  await flushIo(10);
  t.notOk(answered, 'no answer 1 ms before the answer delay ends');
  timers.advance(1);
  t.equal(status((await pending).response), '00000000', 'answered when the delay ends');
  t.equal(sim.counters().reads['0/0/1/0xaff0'], 1);
});
