/**
 * PROFINET simulator: device-access ARs (limit, activity timeout on an injected clock, release, refused AR
 * types) and the request handler (reads without an AR, writes only inside a known AR, the user-index crash).
 */
import { join, resolve } from 'node:path';
import t from 'tap';
import {
  ARType,
  decodeLogBook,
  pnioStatusHex,
  RecordIndex,
  type CmRequest,
  type CmResponse,
} from '../../protocols/profinet/index.js';
import { ArTable } from '../../simulators/profinet/ar-table.js';
import { DiagnosisBook } from '../../simulators/profinet/diagnosis-book.js';
import { loadPnScenarioFile } from '../../simulators/profinet/load-pn-scenario.js';
import { LogbookRing } from '../../simulators/profinet/logbook-ring.js';
import { PnCounterSet } from '../../simulators/profinet/pn-counters.js';
import { handleCmRequest, type HandlerDeps } from '../../simulators/profinet/pn-handler.js';
import { RecordStore } from '../../simulators/profinet/record-store.js';
import { connectDeviceAccess, readImplicit, readInAr, release, writeInAr } from '../helpers/pn-client.js';

const RIO = join(resolve(import.meta.dirname, '../../simulators/scenarios'), 'remote-io.yaml');
const AR1 = '11111111-0000-0000-0000-000000000001';
const AR2 = '11111111-0000-0000-0000-000000000002';
const P1 = { api: 0, slot: 1, subslot: 1, index: 0x0100 };

function rig(o: { max?: number; timeoutMs?: number; exitOnUserIndexRead?: boolean } = {}) {
  const clock = { t: 10_000 };
  const now = () => clock.t;
  const s = loadPnScenarioFile(RIO);
  const logbook = new LogbookRing(32, now);
  const store = new RecordStore(s, new DiagnosisBook(s.diagnosis), logbook);
  const ars = new ArTable({ max: o.max ?? 1, now, ...(o.timeoutMs ? { activityTimeoutMs: o.timeoutMs } : {}) });
  const counters = new PnCounterSet();
  ars.onExpire = () => counters.ar('expired', ars.size);
  const crashes: string[] = [];
  const deps: HandlerDeps = {
    store,
    ars,
    logbook,
    counters,
    mac: s.device.mac,
    forcedStatus: () => undefined,
    exitOnUserIndexRead: () => o.exitOnUserIndexRead === true,
    crash: (why) => crashes.push(why),
  };
  const call = (req: CmRequest): CmResponse | null => handleCmRequest(deps, req, '127.0.0.1:5000');
  const status = (req: CmRequest): string => {
    const r = call(req);
    return r ? pnioStatusHex(r.status) : 'none';
  };
  return { clock, ars, store, counters, crashes, call, status, logbook };
}

t.test(
  'a device-access AR opens, is answered with ARBlockRes, and the limit refuses one more (DB 81 40 04)',
  async (t) => {
    const r = rig({ max: 1 });
    const res = r.call(connectDeviceAccess(AR1, { sessionKey: 7 }));
    t.equal(res?.status && pnioStatusHex(res.status), '00000000');
    t.ok(
      res?.op === 'connect' &&
        res.ar?.arUuid === AR1 &&
        res.ar.sessionKey === 7 &&
        res.ar.responderMac === '02:00:5e:10:00:01',
    );
    t.equal(r.status(connectDeviceAccess(AR2)), 'db814004', 'out of AR resources');
    t.equal(r.status(connectDeviceAccess(AR1)), 'db814006', 'a second connect for a live AR: state conflict');
    t.equal(r.ars.size, 1);
    const c = r.counters.snapshot().ars;
    t.same([c.established, c.refused, c.current, c.peak], [1, 2, 1, 1]);
  },
);

t.test(
  "an IOCAR (the PLC's AR) is refused with DB 81 01 04; an IOSAR without DeviceAccess with DB 81 01 09",
  async (t) => {
    const r = rig({ max: 4 });
    t.equal(r.status(connectDeviceAccess(AR1, { arType: ARType.IOCARSingle })), 'db810104');
    t.equal(r.status(connectDeviceAccess(AR1, { properties: 0x11 })), 'db810109');
    t.equal(r.ars.size, 0);
    const t2 = new ArTable({ max: 4, now: () => 0, deviceAccess: false });
    const refused = t2.connect((connectDeviceAccess(AR1) as Extract<CmRequest, { op: 'connect' }>).ar, 'x');
    t.ok(
      !refused.ok && pnioStatusHex(refused.status) === 'db810104',
      'a stack without DeviceAccessSupported refuses the AR type',
    );
  },
);

t.test('activity timeout: an idle AR is dropped (clock driven); activity keeps it; its slot frees', async (t) => {
  const r = rig({ max: 1 });
  r.call(connectDeviceAccess(AR1, { timeoutFactor: 50 })); // 5 s
  r.clock.t += 4_000;
  t.equal(r.status(writeInAr(AR1, P1, Buffer.from('0001', 'hex'))), '00000000', 'activity at 4 s');
  r.clock.t += 4_999;
  t.equal(r.status(readInAr(AR1, P1)), '00000000', 'still alive 4.999 s after the last call');
  r.clock.t += 5_000;
  t.equal(r.ars.sweep(), 1, 'idle for the whole timeout: dropped');
  t.equal(r.status(writeInAr(AR1, P1, Buffer.from('0002', 'hex'))), 'df814005', 'write in a dropped AR: unknown AR');
  t.equal(r.status(connectDeviceAccess(AR2)), '00000000', 'the slot is free again');
  t.equal(r.counters.snapshot().ars.expired, 1);
  const lb = decodeLogBook(r.store.read({ api: 0, slot: 0, subslot: 0, index: RecordIndex.LogBookData }, 4096).data);
  t.same(
    lb.ok && lb.value.entries.map((e) => [e.entryDetail, pnioStatusHex(e.status)]),
    [
      [1, '00000000'],
      [1, '00000000'],
    ],
    'logbook has both establishments',
  );
});

t.test("the scenario/option timeout overrides the initiator's factor", async (t) => {
  const r = rig({ timeoutMs: 200 });
  r.call(connectDeviceAccess(AR1, { timeoutFactor: 1000 }));
  r.clock.t += 200;
  t.equal(r.status(writeInAr(AR1, P1, Buffer.from('0001', 'hex'))), 'df814005', 'expired lazily on the next call');
});

t.test('writes only inside a known AR; reads implicit need none; Read in an unknown AR is refused', async (t) => {
  const r = rig();
  t.equal(r.status(writeInAr(AR1, P1, Buffer.from('0032', 'hex'))), 'df814005', 'no AR: unknown AR');
  t.same(r.store.peek(P1), Buffer.from('001e', 'hex'), 'not written');
  t.equal(r.status(readImplicit(P1)), '00000000');
  t.equal(r.status(readInAr(AR1, P1)), 'de814005');
  r.call(connectDeviceAccess(AR1));
  const w = r.call(writeInAr(AR1, P1, Buffer.from('0032', 'hex')));
  t.ok(
    w?.op === 'write' && w.record?.recordDataLength === 2 && pnioStatusHex(w.record.status) === '00000000',
    'IODWriteResHeader acknowledges 2 bytes',
  );
  t.equal(r.status(writeInAr(AR1, P1, Buffer.from('00', 'hex'))), 'df80b100', 'wrong length inside the AR');
  const c = r.counters.snapshot();
  t.same(c.writes, { '0/1/1/0x0100': 3 }, 'every write addressed to the record is counted');
  t.same(c.applied, { '0/1/1/0x0100': 1 }, 'one applied');
  t.same(c.statuses, { df814005: 1, de814005: 1, df80b100: 1 });
  t.equal(r.status(release(AR1, 99)), 'dc814005', 'release with the wrong session key');
  t.equal(r.status(release(AR1, 1)), '00000000');
  t.equal(r.status(release(AR1, 1)), 'dc814005', 'released twice');
  t.equal(r.ars.size, 0);
});

t.test(
  'exitOnUserIndexRead: a user-index read crashes and answers nothing; other reads and writes do not',
  async (t) => {
    const r = rig({ exitOnUserIndexRead: true });
    t.equal(r.status(readImplicit({ api: 0, slot: 0, subslot: 1, index: RecordIndex.IM0 })), '00000000');
    r.call(connectDeviceAccess(AR1));
    t.equal(r.status(writeInAr(AR1, P1, Buffer.from('0032', 'hex'))), '00000000', 'a write to a user index is no read');
    t.same(r.crashes, []);
    t.equal(r.status(readImplicit({ api: 0, slot: 1, subslot: 1, index: 123 })), 'none', 'no answer');
    t.match(r.crashes, [/user index 0x007b at 0\/1\/1/]);
    t.equal(r.counters.snapshot().userIndexReads, 1);
    const off = rig();
    t.equal(
      off.status(readImplicit({ api: 0, slot: 1, subslot: 1, index: 123 })),
      'de80b00a',
      'off by default: an ordinary unknown index',
    );
    t.same(off.crashes, []);
  },
);
