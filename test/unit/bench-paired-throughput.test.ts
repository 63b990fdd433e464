import net from 'node:net';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { alternate, median, measurePaired, pairOrder, summarizePairs } from '../../bench/paired-throughput.js';
import type { DataPathOptions } from '../../bench/data-path.js';
import { MbapFramer, encodeAdu } from '../../protocols/modbus/index.js';

/** Plain Modbus/TCP servers answering every request; `turns` lists which one served, a switch per entry. */
async function servers(names: readonly string[]) {
  const turns: string[] = [];
  const started = await Promise.all(
    names.map(async (name) => {
      const server = net.createServer((s) => {
        const framer = new MbapFramer();
        s.on('error', () => s.destroy());
        s.on('data', (chunk) => {
          framer.push(chunk);
          for (let r = framer.next(); r.kind === 'frame'; r = framer.next()) {
            if (turns.at(-1) !== name) turns.push(name);
            s.write(encodeAdu(r.frame.header.transactionId, r.frame.header.unitId, Buffer.from([3, 0])));
          }
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return { port: (server.address() as AddressInfo).port, server };
    }),
  );
  return {
    ports: started.map((s) => s.port),
    turns,
    close: () => Promise.all(started.map((s) => new Promise<void>((r) => s.server.close(() => r())))),
  };
}

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
  const s = await servers(['haproxy', 'verigate']);
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
