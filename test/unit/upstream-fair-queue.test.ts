import t from 'tap';
import fc from 'fast-check';
import { FairQueue } from '../../gateway/upstream/fair-queue.js';

t.test('FIFO within one key', async (t) => {
  const q = new FairQueue<number>(10);
  for (const v of [1, 2, 3]) q.push('a', v);
  t.same(q.drain(), [1, 2, 3]);
  t.equal(q.size, 0);
});

t.test('round-robin between keys: a flooder does not go ahead of a single late arrival', async (t) => {
  const q = new FairQueue<string>(1000);
  for (let i = 0; i < 200; i++) q.push('noisy', `n${i}`);
  q.push('quiet', 'q0');
  const order: string[] = [];
  for (let v = q.shift(); v !== undefined; v = q.shift()) order.push(v);
  // The quiet client's only request is served within the first round (position ≤ 1), not after 200.
  t.ok(order.indexOf('q0') <= 1, `q0 at ${order.indexOf('q0')}`);
  t.equal(order.length, 201);
  t.same(
    order.filter((v) => v.startsWith('n')),
    Array.from({ length: 200 }, (_, i) => `n${i}`),
  );
});

t.test('three keys alternate', async (t) => {
  const q = new FairQueue<string>(100);
  for (const k of ['a', 'b', 'c']) for (let i = 0; i < 2; i++) q.push(k, `${k}${i}`);
  t.same(q.drain(), ['a0', 'b0', 'c0', 'a1', 'b1', 'c1']);
});

t.test('remove takes an item out once; byKey and sizeOf follow', async (t) => {
  const q = new FairQueue<string>(10);
  const r1 = q.push('a', 'a0');
  q.push('a', 'a1');
  q.push('b', 'b0');
  if (r1.kind !== 'queued') throw new Error('expected queued');
  t.same(q.byKey(), { a: 2, b: 1 });
  t.equal(q.remove(r1.handle), true);
  t.equal(q.remove(r1.handle), false, 'second removal is a no-op');
  t.equal(q.sizeOf('a'), 1);
  t.equal(q.size, 2);
  t.same(q.drain(), ['a1', 'b0']);
  t.same(q.byKey(), {});
});

t.test('removing a shifted item is a no-op', async (t) => {
  const q = new FairQueue<string>(10);
  const r = q.push('a', 'x');
  if (r.kind !== 'queued') throw new Error('expected queued');
  t.equal(q.shift(), 'x');
  t.equal(q.remove(r.handle), false);
  t.equal(q.size, 0);
});

t.test('bounded: full for the key already holding the most', async (t) => {
  const q = new FairQueue<string>(3);
  for (let i = 0; i < 3; i++) t.equal(q.push('noisy', `n${i}`).kind, 'queued');
  t.equal(q.push('noisy', 'n3').kind, 'full');
  t.equal(q.size, 3);
});

t.test("bounded: a quiet key pushes out the flooder's newest item instead of being refused", async (t) => {
  const q = new FairQueue<string>(3);
  for (let i = 0; i < 3; i++) q.push('noisy', `n${i}`);
  const r = q.push('quiet', 'q0');
  t.equal(r.kind, 'queued-evicting');
  if (r.kind === 'queued-evicting') t.equal(r.evicted.value, 'n2');
  t.equal(q.size, 3);
  t.same(q.byKey(), { noisy: 2, quiet: 1 });
  // Shares even out: quiet (1) vs noisy (2) → another quiet push evicts only if noisy > quiet + 1.
  t.equal(q.push('quiet', 'q1').kind, 'full');
});

t.test('rejects a non-positive limit', async (t) => {
  t.throws(() => new FairQueue(0), RangeError);
});

t.test('property: never exceeds the limit, conserves items, keeps per-key FIFO', async (t) => {
  const op = fc.oneof(
    fc.record({ op: fc.constant('push' as const), key: fc.constantFrom('a', 'b', 'c', 'd') }),
    fc.record({ op: fc.constant('shift' as const) }),
    fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.array(op, { maxLength: 200 }), (limit, ops) => {
      const q = new FairQueue<{ key: string; seq: number }>(limit);
      const live = new Map<number, ReturnType<FairQueue<{ key: string; seq: number }>['push']>>();
      const lastOut = new Map<string, number>();
      let seq = 0;
      for (const o of ops) {
        if (o.op === 'push') {
          const r = q.push(o.key, { key: o.key, seq: seq });
          if (r.kind !== 'full') live.set(seq, r);
          if (r.kind === 'queued-evicting') live.delete(r.evicted.value.seq);
          seq++;
        } else if (o.op === 'shift') {
          const v = q.shift();
          if (v !== undefined) {
            if (!live.delete(v.seq)) return false;
            if ((lastOut.get(v.key) ?? -1) > v.seq) return false;
            lastOut.set(v.key, v.seq);
          }
        } else if (live.size > 0) {
          const keys = [...live.keys()];
          const s = keys[o.pick % keys.length]!;
          const r = live.get(s)!;
          if (r.kind !== 'full' && !q.remove(r.handle)) return false;
          live.delete(s);
        }
        if (q.size > limit || q.size !== live.size) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('property held');
});
