import t from 'tap';
import type { CallFrame } from '../../bench/cpuprofile-top.js';
import { formatAllocations, topAllocations, type HeapNode } from '../../bench/heapprofile-top.js';

const frame = (functionName: string, url = '', lineNumber = 0): CallFrame => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});
let ids = 0;
const node = (callFrame: CallFrame, selfSize: number, children: HeapNode[] = []): HeapNode => ({
  callFrame,
  selfSize,
  id: ++ids,
  children,
});

// (root) → handle (own) → concat (node:buffer) → allocUnsafe (native)
//        → handle (own, 2nd stack) ; (root) → tick (node:internal, no own caller)
const profile = {
  head: node(frame('(root)'), 0, [
    node(frame('handle', 'file:///app/gateway/h.js', 9), 100, [
      node(frame('concat', 'node:buffer', 4), 300, [node(frame('allocUnsafe'), 500)]),
    ]),
    node(frame('main', 'file:///app/main.js', 0), 0, [node(frame('handle', 'file:///app/gateway/h.js', 9), 50)]),
    node(frame('tick', 'node:internal/timers', 1), 50),
  ]),
};
const own = (location: string): boolean => location.startsWith('/app/gateway/');

t.test('self view: bytes per allocating function summed over stacks; a native one names its caller', async (t) => {
  const r = topAllocations(profile, { top: 10, own });
  t.equal(r.totalBytes, 1000);
  t.same(
    r.self.map((e) => [e.functionName, e.location, e.bytes]),
    [
      ['allocUnsafe', '(native) ← concat node:buffer:5', 500],
      ['concat', 'node:buffer:5', 300],
      ['handle', '/app/gateway/h.js:10', 150],
      ['tick', 'node:internal/timers:2', 50],
    ],
  );
  t.equal(r.self[0]!.pct, 50);
});

t.test('own view: charged to the nearest own-code frame on the stack, the rest outside the project', async (t) => {
  const r = topAllocations(profile, { top: 10, own });
  t.same(
    r.own.map((e) => [e.functionName, e.location, e.bytes]),
    [
      ['handle', '/app/gateway/h.js:10', 950],
      ['(outside the project)', '', 50],
    ],
  );
  t.equal(topAllocations(profile, { top: 1, own }).own.length, 1);
});

t.test('format: bytes, percent, bytes per request when requests are known', async (t) => {
  const r = topAllocations(profile, { top: 10, own });
  t.match(
    formatAllocations(r.own, 10).split('\n')[0]!,
    /^ {3}1 KB {2}95\.0 % {5}95 B\/req {2}handle\s+\/app\/gateway\/h\.js:10$/,
  );
  t.notMatch(formatAllocations(r.own, 0), /B\/req/);
});
