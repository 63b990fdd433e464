import t from 'tap';
import { ExceptionCode } from '../../protocols/modbus/types.js';
import { RegisterStore } from '../../simulators/register-store.js';

const sizes = { coils: 8, discrete: 8, holding: 10, input: 4 };

t.test('reads and writes inside each table', async (t) => {
  const s = new RegisterStore(255, sizes);
  t.same(s.write('holding', 8, [1, 0x1ffff]), { ok: true, value: undefined });
  t.same(s.read('holding', 7, 3), { ok: true, value: [0, 1, 0xffff] }, 'words are masked to 16 bits');
  t.ok(s.write('coils', 0, [1, 0, 5]).ok);
  t.same(s.read('coils', 0, 3), { ok: true, value: [1, 0, 1] }, 'any non-zero bit is 1');
  t.same(s.read('input', 0, 4), { ok: true, value: [0, 0, 0, 0] });
  t.equal(s.unit, 255);
});

t.test('out-of-range access answers exception 02 and writes nothing', async (t) => {
  const s = new RegisterStore(1, sizes);
  const e = { ok: false, exception: ExceptionCode.IllegalDataAddress };
  t.same(s.read('holding', 9, 2), e, 'range crosses the end');
  t.same(s.read('input', 4, 1), e, 'first address past the end');
  t.same(s.read('coils', -1, 1), e);
  t.same(s.read('coils', 0, 0), e, 'zero count');
  t.same(s.write('holding', 9, [7, 7]), e);
  t.equal(s.get('holding', 9), 0, 'partial write did not happen');
  t.same(new RegisterStore(2, { ...sizes, discrete: 0 }).read('discrete', 0, 1), e, 'empty table');
});

t.test('program writes (set) clamp and ignore out-of-range addresses', async (t) => {
  const s = new RegisterStore(1, sizes);
  s.set('input', 0, 70000.4);
  s.set('input', 1, -5);
  s.set('input', 2, 12.6);
  s.set('input', 99, 1);
  t.same(s.snapshot('input'), [65535, 0, 13, 0]);
  t.equal(s.get('input', 99), 0);
});

t.test('FIFO queues for FC24', async (t) => {
  const s = new RegisterStore(1, sizes);
  s.setFifo(5, [1, 2, 0x10003]);
  t.same(s.readFifo(5), { ok: true, value: [1, 2, 3] });
  t.same(s.readFifo(6), { ok: false, exception: ExceptionCode.IllegalDataAddress });
});
