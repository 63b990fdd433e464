import t from 'tap';
import { dataPathRows, handshakeRows } from '../../bench/data-path-rows.js';
import type { DataPathOptions, PathResult } from '../../bench/data-path.js';
import type { RunResult } from '../../bench/load-generator.js';
import { grpcRows, memoryRows } from '../../bench/rows.js';
import type { PairedResult } from '../../bench/paired-throughput.js';

const O: DataPathOptions = {
  connections: 16,
  depthConnections: 8,
  rate: 1000,
  highRate: 5000,
  depth: 8,
  pacedMs: 1,
  latencyWarmupMs: 0,
  closedMs: 1,
  warmupMs: 0,
};
const run = (perSecond: number, p50Us = 0, p99Us = 0, failed = 0): RunResult => ({
  completed: perSecond,
  failed,
  seconds: 1,
  perSecond,
  p50Us,
  p99Us,
});
const path = (o: {
  t1: number;
  tn: number;
  p50: number;
  p99: number;
  p99High: number;
  failed?: number;
}): PathResult => ({
  paced: run(1000, o.p50, o.p99),
  pacedHigh: run(5000, 0, o.p99High),
  closed1: run(o.t1, 0, 0, o.failed ?? 0),
  closedN: run(o.tn),
});
const direct = path({ t1: 50_000, tn: 80_000, p50: 100, p99: 500, p99High: 800 });
const haproxy = path({ t1: 20_000, tn: 50_000, p50: 150, p99: 700, p99High: 1200 });

function verigate(
  results: Map<string, PathResult | string>,
): Map<string, { met: boolean | undefined; aim: string | undefined }> {
  const rows = dataPathRows(results, O).filter((r) => r.n === '4');
  return new Map(rows.map((r) => [r.what.replace(/^verigate: /, '').split(' (')[0]!, { met: r.met, aim: r.aim }]));
}

t.test('verigate aims are judged against haproxy in the same results', async (t) => {
  const good = path({ t1: 20_000, tn: 50_000, p50: 190, p99: 1000, p99High: 1800 }); // p50 +90 ≤ haproxy +50 + 50; p99 +500; +1000
  const m = verigate(
    new Map([
      ['direct', direct],
      ['haproxy', haproxy],
      ['verigate', good],
    ]),
  );
  t.same(
    [...m.keys()],
    [
      'max throughput, 16 conns × 1 in flight',
      'max throughput, 8 conns × 8 in flight',
      'added latency p50 / p99 @ 1000 req/s',
      'added latency p99 @ 5000 req/s',
    ],
  );
  t.same(
    [...m.values()].map((v) => v.met),
    [true, true, true, true],
  );
  t.match(m.get('max throughput, 16 conns × 1 in flight')!.aim, /≥ 1\.0× haproxy/);

  const bad = path({ t1: 19_999, tn: 40_000, p50: 201, p99: 1001, p99High: 1801 });
  t.same(
    [
      ...verigate(
        new Map([
          ['direct', direct],
          ['haproxy', haproxy],
          ['verigate', bad],
        ]),
      ).values(),
    ].map((v) => v.met),
    [false, false, false, false],
  );

  const failing = path({ t1: 30_000, tn: 60_000, p50: 150, p99: 600, p99High: 900, failed: 1 });
  t.equal(
    verigate(
      new Map([
        ['direct', direct],
        ['haproxy', haproxy],
        ['verigate', failing],
      ]),
    ).get('max throughput, 16 conns × 1 in flight')!.met,
    false,
    'a failed request is not met',
  );
});

t.test('without haproxy the ratio aims have no verdict; a failed gateway prints every aim as NO', async (t) => {
  const g = path({ t1: 20_000, tn: 50_000, p50: 150, p99: 600, p99High: 900 });
  const m = verigate(
    new Map<string, PathResult | string>([
      ['direct', direct],
      ['haproxy', 'missing: apt-get install haproxy'],
      ['verigate', g],
    ]),
  );
  t.same(
    [...m.values()].map((v) => v.met),
    [undefined, undefined, undefined, true],
  );
  const down = dataPathRows(
    new Map<string, PathResult | string>([
      ['direct', direct],
      ['haproxy', haproxy],
      ['verigate', 'failed to start: boom'],
    ]),
    O,
  ).filter((r) => r.n === '4');
  t.equal(down.length, 4);
  t.ok(down.every((r) => r.met === false && r.aim && r.value === 'failed to start: boom'));
});

t.test(
  'alternating pairs: the throughput aims are judged on the median pair, the sequential run stays as context',
  async (t) => {
    // The sequential run says 0.5× (a drift between the two paths); the pairs say 1.1×, 0.9×, 1.2×, 1.05× at 16 × 1.
    const g = path({ t1: 10_000, tn: 25_000, p50: 190, p99: 1000, p99High: 1800 });
    const paired: PairedResult = {
      rounds: 4,
      single: { ref: [10_000, 10_000, 10_000, 20_000], target: [11_000, 9_000, 12_000, 21_000], failed: 0 },
      pipelined: { ref: [50_000, 40_000, 60_000, 50_000], target: [30_000, 30_000, 30_000, 30_000], failed: 0 },
    };
    const results = new Map<string, PathResult | string>([
      ['direct', direct],
      ['haproxy', haproxy],
      ['verigate', g],
    ]);
    const rows = dataPathRows(results, O, paired).filter((r) => r.n === '4');
    const single = rows.find((r) => r.what.startsWith('verigate: max throughput, 16 conns × 1'))!;
    t.match(single.what, /median of 4 alternating pairs/);
    t.equal(single.ratio, '1.08× (pairs 0.90×–1.20×)', 'median of 1.1, 0.9, 1.2, 1.05');
    t.equal(single.met, true);
    t.equal(single.value, '11,500/s');
    t.equal(single.baseline, 'haproxy 10,000/s (same pairs)');
    const piped = rows.find((r) => r.what.startsWith('verigate: max throughput, 8 conns × 8'))!;
    t.equal(piped.met, false, 'median 0.6× misses');
    const seq = rows.find((r) => r.what.includes('sequential run'))!;
    t.equal(seq.ratio, '0.50× / 0.50×', 'the sequential ratio is printed, not judged');
    t.equal(seq.met, undefined);

    const failedPairs: PairedResult = { ...paired, single: { ...paired.single, failed: 2 } };
    t.equal(
      dataPathRows(results, O, failedPairs).find((r) => r.what.startsWith('verigate: max throughput, 16'))!.met,
      false,
      'a failed request in the pairs is not met',
    );

    const fallback = dataPathRows(results, O, 'failed: ECONNRESET').filter((r) => r.n === '4');
    t.equal(
      fallback.find((r) => r.what.startsWith('verigate: max throughput, 16'))!.ratio,
      '0.50×',
      'sequential judged',
    );
    t.ok(
      fallback.some((r) => r.value === 'failed: ECONNRESET'),
      'and a row says why the pairs are missing',
    );
  },
);

t.test('CPU per request rows split each path and compare the machine-wide sum with haproxy', async (t) => {
  const withCpu = (p: PathResult, server: number | undefined, sim: number, client: number): PathResult => {
    const cpu = { ...(server === undefined ? {} : { server }), sim, client };
    return { ...p, closed1: { ...p.closed1, cpu }, closedN: { ...p.closedN, cpu: { ...cpu, sim: sim / 2 } } };
  };
  const rows = dataPathRows(
    new Map([
      ['direct', withCpu(direct, undefined, 5, 4)],
      ['haproxy', withCpu(haproxy, 8, 6, 6)],
      ['verigate', withCpu(path({ t1: 1, tn: 1, p50: 1, p99: 1, p99High: 1 }), 18, 6, 5)],
    ]),
    O,
  ).filter((r) => r.what.includes('CPU per request'));
  t.equal(rows.length, 3, 'one per path that has CPU figures');
  const [d, h, g] = rows;
  t.equal(d!.value, '– / 5.0 / 4.0 µs; – / 2.5 / 4.0 µs', 'no server on the direct path');
  t.equal(h!.ratio, undefined, 'haproxy is the reference, not compared with itself');
  t.equal(g!.n, '4');
  t.equal(g!.value, '18.0 / 6.0 / 5.0 µs; 18.0 / 3.0 / 5.0 µs');
  t.equal(g!.baseline, 'haproxy 20.0; 17.0 µs in all');
  t.equal(g!.ratio, '29.0; 26.0 µs in all');
  t.equal(g!.met, undefined, 'context, not an aim');
});

t.test('handshakes in alternating pairs: the aim moves to the pairs row, the sequential row is context', async (t) => {
  const hs = new Map([
    ['haproxy', { perSecond: 400, completed: 400, failed: 0 }],
    ['verigate', { perSecond: 300, completed: 300, failed: 0 }],
  ]);
  const rows = handshakeRows(hs, { ref: [400, 300, 350, 320], target: [410, 330, 340, 360], failed: 0 });
  const seq = rows.find((r) => r.what.endsWith(': verigate'))!;
  t.equal(seq.aim, undefined, 'the sequential 0.75× is not judged');
  t.equal(seq.met, undefined);
  t.equal(seq.ratio, '0.75×');
  const pairs = rows.at(-1)!;
  t.match(pairs.what, /median of 4 alternating pairs/);
  t.equal(pairs.ratio, '1.06× (pairs 0.97×–1.13×)', 'median of 1.025, 1.1, 0.971, 1.125');
  t.equal(pairs.met, true);
  t.equal(
    handshakeRows(hs, { ref: [400, 400], target: [410, 420], failed: 1 }).at(-1)!.met,
    false,
    'a failed session in the pairs is not met',
  );
  const fallback = handshakeRows(hs, 'failed: ECONNREFUSED');
  t.equal(fallback.find((r) => r.what.endsWith(': verigate'))!.met, false, 'judged on the sequential run');
  t.equal(fallback.at(-1)!.value, 'failed: ECONNREFUSED');
});

t.test('handshakes, memory and gRPC rows carry their aims', async (t) => {
  const hs = handshakeRows(
    new Map([
      ['haproxy', { perSecond: 200, completed: 200, failed: 0 }],
      ['verigate', { perSecond: 210, completed: 210, failed: 0 }],
    ]),
  );
  t.same(
    hs.map((r) => r.met),
    [undefined, true],
  );
  const hsCpu = handshakeRows(
    new Map([
      ['haproxy', { perSecond: 200, completed: 200, failed: 0, cpu: { server: 900, sim: 20, client: 1000 } }],
      ['verigate', { perSecond: 190, completed: 190, failed: 0, cpu: { server: 1100, sim: 15, client: 1000 } }],
    ]),
  );
  t.match(hsCpu[1]!.value, /^190\/s; CPU per session 1100\.0 \/ 15\.0 \/ 1000\.0 µs/);
  t.equal(hsCpu[1]!.baseline, 'haproxy 200/s; 1920 µs CPU in all');
  t.equal(hsCpu[1]!.ratio, '0.95×; 2115 µs CPU in all');
  t.equal(hsCpu[1]!.met, false);
  const MB = 1048576;
  const mem = memoryRows({
    sessions: 1000,
    liveSessions: 1000,
    baselineRss: 60 * MB,
    rss: 110 * MB,
    settledRss: 121 * MB,
    settleMs: 12_000,
    peakRss: 130 * MB,
    nodeRss: 40 * MB,
  })[0]!;
  t.equal(mem.met, false, 'judged on the settled reading');
  t.match(mem.value, /^121\.0 MB; 110\.0 MB; peak 130\.0 MB$/);
  t.match(mem.aim, /120\.0 MB/);
  const G = { channels: 4, inFlight: 16 };
  const g = grpcRows(
    { pairs: { ref: [1000, 1200, 900, 1000], target: [700, 1000, 600, 800], failed: 0, steal: [0, 0.3, 0, 0] } },
    G,
  )[0]!;
  t.equal(g.ratio, '0.75× (pairs 0.67×–0.83×)', 'median of 0.7, 0.833, 0.667, 0.8');
  t.equal(g.met, true);
  t.match(g.what, /median of 4 alternating pairs/);
  t.equal(g.value, '750/s; steal ≤ 0.3 %');
  t.equal(g.baseline, 'bare grpc-js server, same proto, fixed answer: 1,000/s (same pairs)');
  const low = grpcRows({ pairs: { ref: [1000, 1000], target: [690, 695], failed: 0 } }, G)[0]!;
  t.equal(low.met, false, 'a median of 0.69 misses 0.7');
  t.equal(grpcRows({ pairs: { ref: [1000], target: [900], failed: 3 } }, G)[0]!.met, false, 'a failed call misses');
  const alone = grpcRows({ bare: 'failed: spawn', gateway: { perSecond: 700, completed: 700, failed: 0 } }, G)[0]!;
  t.equal(alone.met, undefined, 'without the bare server: no verdict');
  t.equal(alone.baseline, 'bare grpc-js: failed: spawn');
  t.equal(grpcRows('failed: x', G)[0]!.met, false);
});

t.test("rows say the hypervisor's steal in each kept window and what was measured again", async (t) => {
  const g = path({ t1: 20_000, tn: 50_000, p50: 190, p99: 1000, p99High: 1800 });
  const stolen: PathResult = {
    ...g,
    paced: { ...g.paced, stealPct: 0.4, discardedSteal: [18, 24.4] },
    pacedHigh: { ...g.pacedHigh, stealPct: 1.25 },
  };
  const paired: PairedResult = {
    rounds: 2,
    single: { ref: [10_000, 10_000], target: [9_000, 9_000], failed: 0, steal: [0.1, 0.7], discardedSteal: [31] },
    pipelined: { ref: [50_000, 40_000], target: [30_000, 30_000], failed: 0, steal: [0, 0] },
  };
  const results = new Map<string, PathResult | string>([
    [
      'direct',
      { ...direct, paced: { ...direct.paced, stealPct: 0.2 }, pacedHigh: { ...direct.pacedHigh, stealPct: 0 } },
    ],
    ['haproxy', haproxy],
    ['verigate', stolen],
  ]);
  const rows = dataPathRows(results, O, paired);
  const value = (start: string) => rows.find((r) => r.what.startsWith(start))!.value;
  t.match(value('Direct plain'), /; steal 0\.2 \/ 0\.0 %$/, 'a context row: both latency windows');
  t.notMatch(value('haproxy, mTLS'), /steal/, 'no reading: nothing said');
  t.match(value('verigate: added latency p50'), /; steal 0\.4 \(2 discarded: 18\.0, 24\.4\) %\)$/);
  t.match(value('verigate: added latency p99'), /; steal 1\.3 %\)$/);
  const high = rows.find((r) => r.what.startsWith('verigate: added latency p99'))!;
  t.equal(high.met, false, "a kept window over the limit (verigate's 1.25 %) is not judged met");
  t.match(high.aim, /not met: steal over 0\.5 % in the kept window \(verigate 1\.3 %\)$/);
  t.match(value('verigate: max throughput, 16'), /; steal ≤ 0\.7 % \(1 discarded: 31\.0\)$/);
  t.match(value('verigate: max throughput, 8'), /; steal ≤ 0\.0 %$/);
});
