/**
 * pymodbus's serial RTU server as a third-party device on a socat PTY line, read and written first by pymodbus's
 * serial RTU client directly on the line, then by pymodbus's TLS client through the gateway (device `rtu-dev`,
 * `serial:` on the same PTY): the same reads, writes and exceptions come back.
 */
import t from 'tap';
import { startHarness, TD } from '../helpers/gateway-harness.js';
import { startPtyPair } from '../helpers/pty-pair.js';
import { runPymodbus, type PyOp } from '../helpers/pymodbus.js';
import { runPymodbusRtu, startPymodbusRtuServer } from '../helpers/pymodbus-rtu.js';

const ID = `spiffe://${TD}/hmi/line1`;
const POLICY = `version: 1
trustDomain: ${TD}
rules:
  - { id: rtu-dev, principals: ["${ID}"], devices: [rtu-dev], allow: [{ access: read, tables: [holding, input], addresses: 0-65535 }, { access: write, table: holding, addresses: 0-199 }] }
`;

t.test('pymodbus RTU server behind the gateway answers as it does on the line', async (t) => {
  const pty = await startPtyPair();
  t.teardown(() => pty.close());
  const server = await startPymodbusRtuServer(pty.a, { 21: { holding: [10, 20, 30, 40], input: [111, 222, 333] } });
  t.teardown(() => server.close());
  const ops = (value: number): PyOp[] => [
    { op: 'read_holding', address: 0, count: 3, unit: 21 },
    { op: 'read_input', address: 0, count: 2, unit: 21 },
    { op: 'write_register', address: 1, value, unit: 21 },
    { op: 'read_holding', address: 1, count: 1, unit: 21 },
    { op: 'write_registers', address: 2, values: [value, value + 1], unit: 21 },
    { op: 'read_holding', address: 2, count: 2, unit: 21 },
    { op: 'read_holding', address: 150, count: 1, unit: 21 },
  ];
  const onLine = await runPymodbusRtu({ kind: 'serial', path: pty.b }, ops(25));
  const exception = onLine[6];
  t.ok(
    exception?.exception,
    `an address outside the datastore is an exception on the line: ${JSON.stringify(exception)}`,
  );
  t.same(
    onLine,
    [
      { values: [10, 20, 30] },
      { values: [111, 222] },
      { ok: true },
      { values: [25] },
      { ok: true },
      { values: [25, 26] },
      exception,
    ],
    'on the line',
  );

  const h = await startHarness({
    policy: POLICY,
    extraDevices: [
      `{ name: rtu-dev, unitId: 21, serial: { path: "${pty.b}", baudRate: 9600, parity: even }, timeout: 1s }`,
    ],
  });
  t.teardown(() => h.stop());
  const creds = await h.mint(ID);
  // write other values through the gateway, so the reads prove these writes went through
  const via = await runPymodbus('127.0.0.1', h.port, ops(26), 30_000, {
    cert: creds.files.cert,
    key: creds.files.key,
    ca: creds.files.bundle,
  });
  const expected = [
    { values: [10, 25, 25] },
    { values: [111, 222] },
    { ok: true },
    { values: [26] },
    { ok: true },
    { values: [26, 27] },
    exception,
  ];
  t.same(via, expected, 'same answers through the gateway (values written this time: 26, 27)');
});
