import t from 'tap';
import { formatTop, topSelfTime, type CallFrame, type CpuProfile } from '../../bench/cpuprofile-top.js';

const frame = (functionName: string, url = '', lineNumber = 0): CallFrame => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});

// (root) → main → hot (twice in the tree, same function) ; main → writeBuffer (native) ; (idle) ; (garbage collector)
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), hitCount: 0, children: [2, 6, 7] },
    { id: 2, callFrame: frame('main', 'file:///app/main.js', 0), hitCount: 1, children: [3, 4, 5] },
    { id: 3, callFrame: frame('hot', 'file:///app/hot.js', 9), hitCount: 3 },
    { id: 4, callFrame: frame('writeBuffer'), hitCount: 2 },
    { id: 5, callFrame: frame('', 'file:///app/anon.js', 4), hitCount: 1, children: [8] },
    { id: 6, callFrame: frame('(idle)'), hitCount: 4 },
    { id: 7, callFrame: frame('(garbage collector)'), hitCount: 2 },
    { id: 8, callFrame: frame('hot', 'file:///app/hot.js', 9), hitCount: 1 },
  ],
  startTime: 1000,
  endTime: 2400,
};

t.test('self time per function summed over tree nodes, percent of busy samples, idle apart', async (t) => {
  const r = topSelfTime(profile, { top: 10 });
  t.equal(r.samples, 14);
  t.equal(r.idlePct.toFixed(2), ((100 * 4) / 14).toFixed(2));
  t.same(
    r.entries.map((e) => [e.functionName, e.location, e.samples]),
    [
      ['hot', '/app/hot.js:10', 4],
      ['(garbage collector)', '', 2],
      ['writeBuffer', '(native) ← main /app/main.js:1', 2],
      ['(anonymous)', '/app/anon.js:5', 1],
      ['main', '/app/main.js:1', 1],
    ],
  );
  t.equal(r.entries[0]!.selfPct, 40); // 4 of 10 busy samples
  t.equal(r.windowed, false);
  t.equal(topSelfTime(profile, { top: 2 }).entries.length, 2);
  t.match(formatTop(r).split('\n')[0]!, /^ 40\.0 % {2}hot\s+\/app\/hot\.js:10$/);
});

t.test('samples + timeDeltas: only the window counts; an empty window falls back to every sample', async (t) => {
  const timed: CpuProfile = { ...profile, samples: [3, 3, 4, 6, 8], timeDeltas: [100, 100, 100, 100, 100] }; // t = 1100..1500
  const all = topSelfTime(timed, { top: 10 });
  t.same(
    all.entries.map((e) => [e.functionName, e.samples]),
    [
      ['hot', 3],
      ['writeBuffer', 1],
    ],
  );
  const w = topSelfTime(timed, { top: 10, window: { fromUs: 1250, toUs: 1500 } });
  t.equal(w.windowed, true);
  t.equal(w.samples, 3);
  t.same(
    w.entries.map((e) => [e.functionName, e.samples]),
    [
      ['hot', 1],
      ['writeBuffer', 1],
    ],
  ); // t = 1300, 1400 (idle), 1500
  t.equal(w.idlePct.toFixed(1), '33.3');
  const none = topSelfTime(timed, { top: 10, window: { fromUs: 0, toUs: 10 } });
  t.equal(none.windowed, false);
  t.equal(none.samples, 14, 'falls back to hitCount');
});

t.test('locate maps frames (e.g. through a source map)', async (t) => {
  const r = topSelfTime(profile, {
    top: 1,
    locate: (f) => `${f.url.replace('file:///app/', 'src/').replace('.js', '.ts')}:${f.lineNumber + 1}`,
  });
  t.equal(r.entries[0]!.location, 'src/hot.ts:10');
});
