// The simulator's request execution, driven with real request PDUs from the codec and answers decoded by
// the codec (no hand-built bytes except where a malformed PDU is the point).
import t from 'tap';
import {
  decodeResponse,
  encodeRequest,
  type ModbusRequest,
  type ModbusResponse,
} from '../../protocols/modbus/index.js';
import { PlcMemory } from '../../simulators/plc-memory.js';
import { createRequestHandler } from '../../simulators/request-handler.js';
import type { Scenario } from '../../simulators/scenario.js';
import { CounterSet } from '../../simulators/sim-counters.js';

const scenario: Scenario = {
  name: 'handler-test',
  device: { vendorName: 'ACME', productCode: 'P-1', revision: '2.3' },
  units: [
    {
      id: 255,
      aliases: [1],
      tables: { coils: 20, discrete: 10, holding: 50, input: 10 },
      init: { discrete: { 0: [1, 0, 1] }, input: { 0: [11, 22] }, holding: { 40: 0x00f2 } },
      fifos: { 45: [7, 8, 9] },
    },
  ],
};

function setup(over: Partial<Scenario> = {}) {
  const sc = { ...scenario, ...over };
  const memory = new PlcMemory(sc);
  const counters = new CounterSet();
  const handle = createRequestHandler({ memory, scenario: sc, counters });
  const call = (req: ModbusRequest, unit = 255): ModbusResponse | null => {
    const pdu = handle(unit, encodeRequest(req));
    if (pdu === null) return null;
    const r = decodeResponse(pdu, req);
    if (!r.ok) throw new Error(`undecodable answer: ${r.reason}`);
    return r.value;
  };
  return { memory, counters, handle, call, store: memory.lookup(255)! };
}

const exc = (code: number) => ({ type: 'exception', exception: code });

t.test('reads of all four tables', async (t) => {
  const { call } = setup();
  t.match(call({ type: 'read-bits', fc: 2, address: 0, quantity: 3 }), { values: [true, false, true] });
  t.match(call({ type: 'read-bits', fc: 1, address: 0, quantity: 20 }), { values: new Array(20).fill(false) });
  t.match(call({ type: 'read-registers', fc: 4, address: 0, quantity: 2 }), { values: [11, 22] });
  t.match(call({ type: 'read-registers', fc: 3, address: 49, quantity: 1 }), { values: [0] });
  t.match(call({ type: 'read-registers', fc: 3, address: 49, quantity: 2 }), exc(2), 'range past the end → 02');
  t.match(call({ type: 'read-bits', fc: 2, address: 10, quantity: 1 }), exc(2));
  t.match(call({ type: 'read-registers', fc: 4, address: 0, quantity: 2 }, 1), { values: [11, 22] }, 'alias unit');
});

t.test('single and multiple writes are applied and counted per register', async (t) => {
  const { call, store, counters } = setup();
  t.match(call({ type: 'write-single-register', fc: 6, address: 5, value: 1234 }), {
    type: 'write-single-register',
    address: 5,
    value: 1234,
  });
  t.match(call({ type: 'write-multiple-registers', fc: 16, address: 6, values: [1, 2, 3] }), {
    type: 'write-multiple',
    address: 6,
    quantity: 3,
  });
  t.match(call({ type: 'write-single-coil', fc: 5, address: 3, value: true }), { value: true });
  t.match(call({ type: 'write-multiple-coils', fc: 15, address: 10, values: [true, false, true] }), { quantity: 3 });
  t.same(store.snapshot('holding', 5, 4), [1234, 1, 2, 3]);
  t.same(store.snapshot('coils', 10, 3), [1, 0, 1]);
  t.equal(store.get('coils', 3), 1);
  call({ type: 'write-single-register', fc: 6, address: 5, value: 1 }, 1);
  t.same(
    counters.snapshot().writes,
    {
      'holding:255:5': 2,
      'holding:255:6': 1,
      'holding:255:7': 1,
      'holding:255:8': 1,
      'coils:255:3': 1,
      'coils:255:10': 1,
      'coils:255:11': 1,
      'coils:255:12': 1,
    },
    'the alias write counts on the primary unit',
  );
  t.match(call({ type: 'write-multiple-registers', fc: 16, address: 49, values: [1, 2] }), exc(2));
  t.equal(store.get('holding', 49), 0, 'rejected write changed nothing');
  t.notOk('holding:255:49' in counters.snapshot().writes, 'and is not counted');
});

t.test('FC22 mask write', async (t) => {
  const { call, store } = setup();
  // [MB-APP 6.16] example: current 0x12, and 0xF2, or 0x25 → 0x17
  store.write('holding', 4, [0x12]);
  t.match(call({ type: 'mask-write-register', fc: 22, address: 4, andMask: 0xf2, orMask: 0x25 }), {
    andMask: 0xf2,
    orMask: 0x25,
  });
  t.equal(store.get('holding', 4), 0x17);
  t.match(call({ type: 'mask-write-register', fc: 22, address: 50, andMask: 0, orMask: 0 }), exc(2));
});

t.test('FC23 writes before it reads, and checks both ranges first', async (t) => {
  const { call, store, counters } = setup();
  const res = call({
    type: 'read-write-registers',
    fc: 23,
    readAddress: 0,
    readQuantity: 4,
    writeAddress: 2,
    values: [77, 88],
  });
  t.match(res, { type: 'read-write-registers', values: [0, 0, 77, 88] }, 'read sees the write');
  t.same(store.snapshot('holding', 2, 2), [77, 88]);
  t.match(
    call({ type: 'read-write-registers', fc: 23, readAddress: 49, readQuantity: 2, writeAddress: 0, values: [5] }),
    exc(2),
  );
  t.equal(store.get('holding', 0), 0, 'no write when the read range is bad');
  t.equal(counters.snapshot().writes['holding:255:0'], undefined);
});

t.test('FC24 FIFO', async (t) => {
  const { call } = setup();
  t.match(call({ type: 'read-fifo', fc: 24, address: 45 }), { type: 'read-fifo', values: [7, 8, 9] });
  t.match(call({ type: 'read-fifo', fc: 24, address: 46 }), exc(2));
});

t.test('FC43/14 basic device identification', async (t) => {
  const { call } = setup();
  const all = call({ type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 1, objectId: 0 });
  t.match(all, { type: 'device-id', conformityLevel: 0x81, moreFollows: false });
  const objs = (all as unknown as { objects: { id: number; value: Buffer }[] }).objects.map((o) => [
    o.id,
    o.value.toString('latin1'),
  ]);
  t.same(objs, [
    [0, 'ACME'],
    [1, 'P-1'],
    [2, '2.3'],
  ]);
  const restart = call({ type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 1, objectId: 0x80 }) as unknown as {
    objects: unknown[];
  };
  t.equal(restart.objects.length, 3, 'unknown object id restarts the stream at 0');
  const one = call({ type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 4, objectId: 1 }) as unknown as {
    objects: { value: Buffer }[];
  };
  t.equal(one.objects.length, 1);
  t.equal(one.objects[0]?.value.toString(), 'P-1');
  t.match(call({ type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 4, objectId: 9 }), exc(2));
});

t.test('unsupported and invalid function codes', async (t) => {
  const { call, handle } = setup();
  t.match(
    call({ type: 'diagnostics', fc: 8, subFunction: 1, data: Buffer.from([0, 0]) }),
    exc(1),
    'FC8 restart comms → 01',
  );
  t.match(call({ type: 'serial-diagnostic', fc: 7, data: Buffer.alloc(0) }), exc(1));
  t.match(
    call({ type: 'file-record', fc: 20, subRequests: [{ fileNumber: 1, recordNumber: 0, recordLength: 1 }] }),
    exc(1),
  );
  t.match(call({ type: 'other', fc: 100, data: Buffer.from([1]) }), exc(1), 'user-defined FC → 01');
  t.same(handle(255, Buffer.from([0x03, 0x00])), Buffer.from([0x83, 0x03]), 'truncated FC3 → 03');
  t.same(
    handle(255, Buffer.from([0x05, 0x00, 0x01, 0x12, 0x34])),
    Buffer.from([0x85, 0x03]),
    'FC5 value not 0xFF00/0 → 03',
  );
  t.same(handle(255, Buffer.from([0x03, 0x00, 0x00, 0x00, 0x7e])), Buffer.from([0x83, 0x03]), 'FC3 quantity 126 → 03');
});

t.test('unknown unit: 0x0B by default, silence when configured', async (t) => {
  const a = setup();
  t.match(a.call({ type: 'read-registers', fc: 3, address: 0, quantity: 1 }, 7), exc(0x0b));
  const b = setup({ unknownUnit: 'ignore' });
  t.equal(b.call({ type: 'read-registers', fc: 3, address: 0, quantity: 1 }, 7), null);
});
