import t from 'tap';
import { TidAllocator } from '../../gateway/upstream/tid-allocator.js';
import { ExponentialBackoff } from '../../gateway/backoff.js';

t.test('tids are unique among reserved ids and skip reserved ones on wrap-around', async (t) => {
  const a = new TidAllocator(0xfffe);
  t.equal(a.allocate(), 0xfffe);
  t.equal(a.allocate(), 0xffff);
  t.equal(a.allocate(), 0, 'wraps to 0');
  t.equal(a.release(0xffff), true);
  t.equal(a.release(0xffff), false, 'double release reports false');
  // 0xfffe stays reserved (e.g. a timed-out request waiting for its late reply): never handed out again.
  const seen = new Set<number>();
  for (let i = 0; i < 0x10000 - 2; i++) {
    const tid = a.allocate();
    if (tid === null) throw new Error('ran out early');
    seen.add(tid);
  }
  t.notOk(seen.has(0xfffe), 'reserved id skipped');
  t.notOk(seen.has(0), 'reserved id skipped');
  t.equal(a.reservedCount, 0x10000);
  t.equal(a.allocate(), null, 'exhausted → null');
  t.equal(a.isReserved(1234), true);
});

t.test('backoff grows, is capped, has a floor, and resets', async (t) => {
  const hi = new ExponentialBackoff({ initialMs: 100, maxMs: 1000 }, () => 0.999999);
  const delays = Array.from({ length: 8 }, () => hi.next());
  t.same(delays.slice(0, 5), [100, 200, 400, 800, 1000]);
  t.ok(
    delays.every((d) => d <= 1000),
    'capped at maxMs',
  );
  t.equal(hi.attempts, 8);
  hi.reset();
  t.equal(hi.next(), 100, 'reset starts over');
  const lo = new ExponentialBackoff({ initialMs: 100, maxMs: 1000 }, () => 0);
  t.same([lo.next(), lo.next(), lo.next()], [50, 50, 50], 'jitter floor is initialMs/2');
  t.throws(() => new ExponentialBackoff({ initialMs: 0, maxMs: 10 }), RangeError);
});
