import t from 'tap';
import { alternate, median, measurePaired, pairOrder, summarizePairs } from '../../bench/paired-throughput.js';
import type { DataPathOptions } from '../../bench/data-path.js';
import { turnServers } from '../helpers/turn-servers.js';

const O: DataPathOptions = {
  connections: 4,
  depthConnections: 2,
  rate: 0,
  highRate: 0,
  depth: 4,
  pacedMs: 0,
  latencyWarmupMs: 0,
  closedMs: 100,
  warmupMs: 20,
};

t.test('both paths take turns, ABBA, each load measured once per side per round', async (t) => {
  const s = await turnServers(['haproxy', 'verigate']);
  t.teardown(() => s.close());
  const [ref, target] = s.ports.map((port) => ({ port, tls: null }));
  // the host's steal would redo a pair and add turns: the order is what is checked here
  const r = await measurePaired(ref!, target!, O, 2, { limitPct: Infinity });
  t.equal(r.rounds, 2);
  for (const load of [r.single, r.pipelined]) {
    t.equal(load.ref.length, 2);
    t.equal(load.target.length, 2);
    t.ok(
      [...load.ref, ...load.target].every((x) => x > 0),
      'every run served requests',
    );
    t.equal(load.failed, 0);
  }
  // round 0: haproxy, verigate (×1), haproxy, verigate (pipelined); round 1: verigate, haproxy, verigate, haproxy
  t.same(s.turns, ['haproxy', 'verigate', 'haproxy', 'verigate', 'haproxy', 'verigate', 'haproxy']);
});

t.test('pair helpers: median, ABBA order, summary of no pairs', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.ok(Number.isNaN(median([])));
  t.same([0, 1, 2, 3].map(pairOrder), [
    ['ref', 'target'],
    ['target', 'ref'],
    ['ref', 'target'],
    ['target', 'ref'],
  ]);
  t.ok(Number.isNaN(summarizePairs({ ref: [], target: [], failed: 0 }).median));
});

t.test('alternate: any measurement in ABBA pairs; only the target’s failures count', async (t) => {
  const calls: string[] = [];
  const r = await alternate(3, async (side) => {
    calls.push(side);
    return { perSecond: side === 'ref' ? 100 + calls.length : 50, failed: 1 };
  });
  t.same(calls, ['ref', 'target', 'target', 'ref', 'ref', 'target']);
  t.same(r.ref, [101, 104, 105]);
  t.same(r.target, [50, 50, 50]);
  t.equal(r.failed, 3, 'three target runs with one failure each');
});
