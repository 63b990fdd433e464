/**
 * PROFINET simulator: the scenario loader (schema + semantic errors at file:line:col) and the record store
 * (I&M, RealIdentificationData, diagnosis, logbook, parameter records, the real PNIOStatus codes).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import {
  decodeDiagnosis,
  decodeIm0,
  decodeIm1,
  decodeLogBook,
  decodeRealIdentification,
  encodeIm1,
  pnioStatusHex,
  pnioStatusFromHex,
  RecordIndex,
  type RecordAddress,
} from '../../protocols/profinet/index.js';
import { DiagnosisBook } from '../../simulators/profinet/diagnosis-book.js';
import { isProfinetScenarioFile, loadPnScenarioFile } from '../../simulators/profinet/load-pn-scenario.js';
import { scenarioErrorDetails } from '../../simulators/scenario-yaml.js';
import { LogbookRing, LogDetail } from '../../simulators/profinet/logbook-ring.js';
import { RecordStore } from '../../simulators/profinet/record-store.js';

const scenarios = resolve(import.meta.dirname, '../../simulators/scenarios');
const RIO = join(scenarios, 'remote-io.yaml');
const dir = mkdtempSync(join(tmpdir(), 'sim-pn-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function fresh(now = () => 1000) {
  const s = loadPnScenarioFile(RIO);
  const diag = new DiagnosisBook(s.diagnosis);
  const log = new LogbookRing(4, now);
  return { s, diag, log, store: new RecordStore(s, diag, log) };
}
const at = (slot: number, subslot: number, index: number, api = 0): RecordAddress => ({ api, slot, subslot, index });
const hex = (st: { status: Parameters<typeof pnioStatusHex>[0] }) => pnioStatusHex(st.status);

t.test('remote-io.yaml is a PROFINET scenario; the Modbus ones are not', async (t) => {
  t.ok(isProfinetScenarioFile(RIO));
  t.notOk(isProfinetScenarioFile(join(scenarios, 'turbine.yaml')));
  t.notOk(isProfinetScenarioFile(join(dir, 'missing.yaml')));
  const s = loadPnScenarioFile(RIO);
  t.equal(s.device.stationName, 'rio-1');
  t.equal(s.modules.length, 3);
});

t.test('scenario errors are located at file:line:col, all at once', async (t) => {
  const p = join(dir, 'bad.yaml');
  const base = (extra: string) => `protocol: profinet
name: bad
device: { stationName: rio-x, vendorId: 1, deviceId: 2, mac: "02:00:00:00:00:01", orderId: O, serialNumber: S, hardwareRevision: 1, softwareRevision: V1.0.0 }
dap: { moduleIdent: 1, submoduleIdent: 1, interface: { subslot: 0x8000, submoduleIdent: 2 }, ports: [ { subslot: 0x8001, submoduleIdent: 3 } ] }
${extra}`;
  writeFileSync(
    p,
    base(`modules:
  - slot: 1
    moduleIdent: 5
    subslots:
      - subslot: 1
        submoduleIdent: 1
        records:
          - { index: 0x0100, length: 2, value: "00" }
          - { index: 0x0100, length: 2 }
  - slot: 1
    moduleIdent: 6
    subslots: [ { subslot: 1, submoduleIdent: 1 } ]
diagnosis:
  - { slot: 7, subslot: 1, errorType: 1 }
`),
  );
  let err: unknown;
  try {
    loadPnScenarioFile(p);
  } catch (e) {
    err = e;
  }
  const d = scenarioErrorDetails(err).map((x) => `${x.line}:${x.col}: ${x.message}`);
  t.match(d, [
    /^12:\d+: value has 1 bytes, the record is 2 bytes long/,
    /^13:\d+: record index 0x100 appears twice/,
    /^14:\d+: slot 1 is already used/,
    /^18:\d+: no submodule plugged at slot 7 subslot 1/,
  ]);
  t.match(String(err), new RegExp(`${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:12:\\d+:`));

  writeFileSync(
    p,
    base(
      'modules: [ { slot: 1, moduleIdent: 5, subslots: [ { subslot: 1, submoduleIdent: 1, records: [ { index: 0x8000, length: 2 } ] } ] } ]\n',
    ),
  );
  t.throws(
    () => loadPnScenarioFile(p),
    /bad\.yaml:5:\d+: .*index must be <= 32767/,
    'a parameter record must be a user index (schema)',
  );
});

t.test(
  'I&M0..3 at slot 0 subslot 1; I&M0 is read-only; I&M1..3 fixed length; a write bumps the revision counter',
  async (t) => {
    const { store } = fresh();
    const im0 = store.read(at(0, 1, RecordIndex.IM0), 4096);
    t.equal(hex(im0), '00000000');
    const v = decodeIm0(im0.data);
    t.ok(
      v.ok &&
        v.value.vendorId === 0x0fee &&
        v.value.orderId === 'VG-RIO-ET16' &&
        v.value.serialNumber === 'S-RIO1-000123',
    );
    t.ok(
      v.ok &&
        v.value.softwareRevisionPrefix === 'V' &&
        v.value.softwareRevision.join('.') === '2.4.1' &&
        v.value.revisionCounter === 0,
    );
    const im1 = decodeIm1(store.read(at(0, 1, RecordIndex.IM1), 4096).data);
    t.ok(im1.ok && im1.value.tagFunction === 'Pump station P-101');
    t.equal(
      hex(store.read(at(1, 1, RecordIndex.IM0), 4096)),
      'de80b00a',
      'I&M0 is not a record of a module subslot here',
    );
    t.equal(
      hex(store.read(at(0, 1, RecordIndex.IM0), 10)),
      'de80b700',
      'RecordDataLength below the record size: refused, not truncated',
    );

    t.equal(pnioStatusHex(store.write(at(0, 1, RecordIndex.IM0), im0.data)), 'df80b600', 'I&M0 write: access denied');
    t.equal(pnioStatusHex(store.write(at(0, 1, RecordIndex.IM1), Buffer.alloc(10))), 'df80b100', 'I&M1 wrong length');
    const newIm1 = encodeIm1({ tagFunction: 'Pump P-102', tagLocation: 'Hall 4' });
    t.equal(pnioStatusHex(store.write(at(0, 1, RecordIndex.IM1), newIm1)), '00000000');
    t.same(store.read(at(0, 1, RecordIndex.IM1), 4096).data, newIm1);
    const after = decodeIm0(store.read(at(0, 1, RecordIndex.IM0), 4096).data);
    t.ok(after.ok && after.value.revisionCounter === 1, 'IM_Revision_Counter counts the change');
    store.reset();
    const reset = decodeIm0(store.read(at(0, 1, RecordIndex.IM0), 4096).data);
    t.ok(reset.ok && reset.value.revisionCounter === 0, 'reset restores the scenario');
  },
);

t.test('parameter records: read, write, wrong length, read-only, unknown index, empty slot/subslot', async (t) => {
  const { store } = fresh();
  t.same(store.read(at(1, 1, 0x0100), 4096).data, Buffer.from('001e', 'hex'));
  t.equal(pnioStatusHex(store.write(at(1, 1, 0x0100), Buffer.from('0032', 'hex'))), '00000000');
  t.same(store.peek(at(1, 1, 0x0100)), Buffer.from('0032', 'hex'));
  t.equal(pnioStatusHex(store.write(at(1, 1, 0x0100), Buffer.from('003200', 'hex'))), 'df80b100', 'wrong write length');
  t.equal(
    pnioStatusHex(store.write(at(2, 1, 0x0101), Buffer.from('00', 'hex'))),
    'df80b600',
    'read-only record: access denied',
  );
  t.same(store.peek(at(2, 1, 0x0101)), Buffer.from('ff', 'hex'), 'unchanged');
  t.equal(hex(store.read(at(1, 1, 0x0123), 4096)), 'de80b00a', 'unknown index');
  t.equal(pnioStatusHex(store.write(at(1, 1, 0x0123), Buffer.alloc(2))), 'df80b00a');
  t.equal(hex(store.read(at(9, 1, 0x0100), 4096)), 'de80b200', 'empty slot');
  t.equal(hex(store.read(at(1, 7, 0x0100), 4096)), 'de80b200', 'empty subslot');
  t.equal(hex(store.read(at(1, 1, 0x0100, 5), 4096)), 'de80b200', 'unknown API');
  t.equal(pnioStatusHex(store.write(at(9, 1, 0x0100), Buffer.alloc(2))), 'df80b200');
  t.equal(
    pnioStatusHex(store.write(at(0, 1, RecordIndex.RealIdentificationData), Buffer.alloc(2))),
    'df80b600',
    'system records are read-only',
  );
  t.equal(hex(store.read(at(0, 1, 0xf123), 4096)), 'de80b00a', 'unknown device-level index');
});

t.test('RealIdentificationData lists the DAP (interface + ports) and the modules', async (t) => {
  const { store } = fresh();
  const r = decodeRealIdentification(store.read(at(0, 0, RecordIndex.RealIdentificationData), 4096).data);
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(
    r.value.modules.map((m) => [m.slot, m.moduleIdentNumber]),
    [
      [0, 0x100],
      [1, 0x201],
      [2, 0x301],
      [3, 0x401],
    ],
  );
  t.same(
    r.value.modules[0]?.submodules.map((s) => s.subslot),
    [1, 0x8000, 0x8001, 0x8002],
  );
  const other = decodeRealIdentification(store.read(at(0, 0, RecordIndex.RealIdentificationData, 7), 4096).data);
  t.same(other.ok && other.value.modules, [], 'another API: no modules');
});

t.test('diagnosis records filter by subslot, slot, API, device; entries are injectable and clearable', async (t) => {
  const { store, diag } = fresh();
  const read = (a: RecordAddress) => {
    const d = decodeDiagnosis(store.read(a, 4096).data);
    if (!d.ok) t.fail(d.detail);
    return d.ok ? d.value : [];
  };
  t.equal(
    read(at(3, 1, RecordIndex.DiagnosisSubslot))?.[0]?.channels[0]?.channelErrorType,
    6,
    'scenario entry: wire break on AI channel 2',
  );
  t.same(read(at(1, 1, RecordIndex.DiagnosisSubslot)), [], 'no diagnosis: empty record, not an error');
  diag.add({
    slot: 1,
    subslot: 1,
    channel: 3,
    errorType: 0x0001,
    extErrorType: 0x8000,
    addValue: 7,
    severity: 'maintenance-required',
  });
  const e = read(at(1, 1, RecordIndex.DiagnosisSubslot))?.[0];
  t.equal(e?.usi, 0x8002, 'extended channel diagnosis');
  t.equal(e?.channels[0]?.extChannelAddValue, 7);
  t.equal(((e?.channelProperties ?? 0) >> 9) & 3, 1, 'maintenance required');
  t.equal(read(at(1, 0, RecordIndex.DiagnosisSlot))?.length, 1, '0xC00A: the slot, any subslot');
  t.equal(read(at(0, 0, RecordIndex.DiagnosisApi))?.length, 2, '0xF00A: the API');
  t.equal(read(at(0, 0, RecordIndex.DiagnosisDevice))?.length, 2, '0xF80C: the device');
  t.equal(diag.clear({ slot: 1, subslot: 1 }), 1);
  t.equal(read(at(0, 0, RecordIndex.DiagnosisDevice))?.length, 1);
  t.equal(hex(store.read(at(8, 1, RecordIndex.DiagnosisSubslot), 4096)), 'de80b200', 'diagnosis of an empty slot');
});

t.test('logbook: entries with the injected clock, bounded ring', async (t) => {
  let now = 0x1000;
  const { store, log } = fresh(() => now);
  log.add(pnioStatusFromHex('db814004'), LogDetail.ArRefused, '11111111-2222-3333-4444-555555555555');
  now = 0x2000;
  for (let i = 0; i < 5; i++) log.add(undefined, 100 + i);
  const lb = decodeLogBook(store.read(at(0, 0, RecordIndex.LogBookData), 4096).data);
  t.ok(lb.ok);
  if (!lb.ok) return;
  t.equal(lb.value.actualLocalTimeStamp, '0000000000002000');
  t.same(
    lb.value.entries.map((e) => e.entryDetail),
    [101, 102, 103, 104],
    'ring of 4 keeps the last 4',
  );
});
