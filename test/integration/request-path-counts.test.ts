/**
 * Regression guard for the request path's per-request work (issue 11), counted, not timed (like
 * write-batching.test.ts): N requests pipelined on one connection through the whole gateway must not arm a
 * timer each (the upstream pool keeps every deadline under one timer, deadline-list.ts), nor add an abort
 * listener each (only a request left waiting in a device queue needs one). Counted: `setTimeout` calls and
 * `abort` listeners added, in this process, while the N requests are served.
 */
import t from 'tap';
import { encodeAdu, encodeRequest } from '../../protocols/modbus/index.js';
import { HISTORIAN_HOLDING_READS, startHarness, TestMbapsClient } from '../helpers/gateway-harness.js';

const N = 64;
const h = await startHarness({
  policy: HISTORIAN_HOLDING_READS,
  listeners: { mbaps: `maxInFlightPerSession: ${N}` },
  // room for all N at once once the connections are open: none has to wait in the queue
  deviceYaml: `maxConnections: ${N / 16}, maxInFlight: 16`,
});
t.teardown(() => h.stop());

const counts = { timers: 0, abortListeners: 0 };
const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = ((...args: Parameters<typeof realSetTimeout>) => {
  counts.timers++;
  return realSetTimeout(...args);
}) as typeof realSetTimeout;
// eslint-disable-next-line @typescript-eslint/unbound-method -- put back as it was, called with its `this` below
const realAdd = EventTarget.prototype.addEventListener;
EventTarget.prototype.addEventListener = function (this: EventTarget, ...args: Parameters<typeof realAdd>) {
  if (args[0] === 'abort') counts.abortListeners++;
  return realAdd.apply(this, args);
};
t.teardown(() => {
  globalThis.setTimeout = realSetTimeout;
  EventTarget.prototype.addEventListener = realAdd;
});

/** Sends N reads in one write and resolves with their answers (by the last answer itself, not by polling). */
async function burst(c: TestMbapsClient, first: number): Promise<Buffer[]> {
  const answers = new Map<number, Buffer>();
  let allAnswered: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (allAnswered = resolve));
  const pdu = encodeRequest({ type: 'read-registers', fc: 3, address: 10, quantity: 2 });
  const tids = Array.from({ length: N }, (_, i) => first + i);
  for (const tid of tids)
    (c as unknown as { waiting: Map<number, (p: Buffer) => void> }).waiting.set(tid, (p) => {
      answers.set(tid, p);
      if (answers.size === N) allAnswered();
    });
  c.socket.write(Buffer.concat(tids.map((tid) => encodeAdu(tid, 1, pdu))));
  await done;
  return [...answers.values()];
}

t.test(`${N} pipelined reads: a timer and an abort listener per request is gone`, async (t) => {
  const c = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/historian/1'));
  t.teardown(() => c.close());
  // Warm: the device's connections open lazily, while a burst waits in the queue (those waiting requests do
  // get their abort listener). Bursts until every request fits at once, i.e. adds no listener (bounded).
  let answers: Buffer[] = [];
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setImmediate(r));
    Object.assign(counts, { timers: 0, abortListeners: 0 });
    answers = await burst(c, 1000 + 100 * i);
    if (counts.abortListeners === 0) break;
  }
  t.equal(answers.length, N, 'every request answered');
  t.ok(
    answers.every((a) => a[0] === 3),
    'with data',
  );
  t.comment(`per ${N} requests: ${counts.timers} timers armed, ${counts.abortListeners} abort listeners added`);
  t.ok(counts.timers <= N / 8, `timers: ${counts.timers} ≤ ${N / 8}`);
  t.equal(counts.abortListeners, 0, 'no abort listener once every request goes straight onto a connection');
});
