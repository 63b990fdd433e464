import t from 'tap';
import {
  classify,
  decodeRequest,
  encodeRequest,
  isMutating,
  type ModbusRequest,
} from '../../protocols/modbus/index.js';

const c = (req: ModbusRequest) => classify(req, 1);
const raw = (bytes: number[]) => {
  const d = decodeRequest(Buffer.from(bytes));
  if (!d.ok) throw new Error(d.reason);
  return classify(d.value, 1);
};

t.test('only provably harmless requests are non-mutating (the read-only gate relies on it)', async (t) => {
  t.notOk(isMutating(c({ type: 'read-registers', fc: 3, address: 0, quantity: 1 })));
  t.notOk(isMutating(c({ type: 'read-bits', fc: 2, address: 0, quantity: 8 })));
  t.notOk(isMutating(c({ type: 'read-fifo', fc: 24, address: 10 })));
  t.notOk(isMutating(raw([0x2b, 0x0e, 0x01, 0x00])), 'FC43/14 device identification');
  t.notOk(isMutating(raw([0x08, 0x00, 0x00, 0x12, 0x34])), 'FC8/0 echo');
  t.ok(isMutating(c({ type: 'write-single-register', fc: 6, address: 1, value: 2 })));
  t.ok(isMutating(c({ type: 'mask-write-register', fc: 22, address: 1, andMask: 0, orMask: 1 })));
  t.ok(
    isMutating(
      c({ type: 'read-write-registers', fc: 23, readAddress: 0, readQuantity: 1, writeAddress: 0, values: [1] }),
    ),
  );
  t.ok(isMutating(raw([0x08, 0x00, 0x01, 0x00, 0x00])), 'FC8/1 restart communications');
  t.ok(isMutating(raw([0x08, 0x00, 0x04, 0x00, 0x00])), 'FC8/4 force listen-only');
  t.ok(isMutating(raw([0x2b, 0x0d, 0x00])), 'FC43/13 CANopen');
  t.ok(isMutating(raw([0x41, 0x01])), 'user-defined FC65');
  t.ok(isMutating(raw([0x5a, 0x00])), 'unknown FC90');
  const fileWrite = encodeRequest({
    type: 'file-record',
    fc: 21,
    subRequests: [{ fileNumber: 1, recordNumber: 0, recordLength: 1, values: [7] }],
  });
  t.ok(isMutating(raw([...fileWrite])), 'FC21 write file record');
  const fileRead = encodeRequest({
    type: 'file-record',
    fc: 20,
    subRequests: [{ fileNumber: 1, recordNumber: 0, recordLength: 1 }],
  });
  t.notOk(isMutating(raw([...fileRead])), 'FC20 read file record');
});
