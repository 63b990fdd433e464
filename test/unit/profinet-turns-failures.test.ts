/**
 * Work that fails in its turn at a PROFINET device (profinet-turns.ts) — the AR release rejecting or throwing, a
 * request's work throwing before it returns a promise — is logged and ends its turn: no unhandled rejection
 * (Node 20 ends the process on one), no turn left running forever with the device's queue stalled behind it.
 */
import t, { type Test } from 'tap';
import type { Logger } from '../../gateway/logger.js';
import { resolveProfinetOptions } from '../../gateway/upstream/profinet-options.js';
import { ProfinetTurns } from '../../gateway/upstream/profinet-turns.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const REQ = { clientKey: 'spiffe://plant.example/historian' };

function rig(t: Test, releaseAr: () => Promise<void>) {
  const warnings: string[] = [];
  const discard = (): void => undefined;
  const logger: Logger = {
    debug: discard,
    info: discard,
    error: discard,
    warn: (_o, msg) => void warnings.push(msg ?? ''),
  };
  const o = resolveProfinetOptions({ name: 'rio-1', host: '127.0.0.1', timers: new FakeTimers(), logger });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  return { turns: new ProfinetTurns(o, releaseAr), warnings, unhandled };
}

/** `p`'s value, or 'stalled' while it is still pending after the microtasks and one macrotask turn ran. */
function settledNow<T>(p: Promise<T>): Promise<T | 'stalled'> {
  return Promise.race([p, new Promise<'stalled'>((r) => setImmediate(() => r('stalled')))]);
}

t.test('an AR release that rejects: logged, the device is free again, the next request is served', async (t) => {
  let releases = 0;
  const { turns, warnings, unhandled } = rig(t, () => {
    releases++;
    return Promise.reject(new Error('release blew up'));
  });
  turns.releaseWhenIdle();
  t.equal(turns.inFlight, 1, 'the release has the device');
  const served = await settledNow(turns.submit(REQ, async () => 'served'));
  t.equal(served, 'served', 'not stalled behind the failed release');
  t.equal(releases, 1);
  await new Promise<void>((r) => setImmediate(r));
  t.equal(turns.inFlight, 0, 'and the device idle after it');
  t.match(warnings, [/AR release failed/]);
  t.same(unhandled, []);
});

t.test('an AR release that throws before it returns a promise: same, and nothing thrown at its caller', async (t) => {
  const { turns, warnings, unhandled } = rig(t, () => {
    throw new Error('release threw');
  });
  // releaseWhenIdle runs from the AR's idle timer: a throw out of it would be an uncaught exception
  if (!t.doesNotThrow(() => turns.releaseWhenIdle())) return;
  t.equal(await settledNow(turns.submit(REQ, async () => 'served')), 'served');
  t.match(warnings, [/AR release failed/]);
  t.same(unhandled, []);
});

t.test("a request's work that throws at once: unavailable, unsent; the next request is served", async (t) => {
  const { turns, unhandled } = rig(t, async () => undefined);
  const failed = turns.submit(REQ, () => {
    throw new Error('bug');
  });
  await t.resolveMatch(failed, { kind: 'unavailable', sent: false, reason: 'internal error' });
  t.equal(await settledNow(turns.submit(REQ, async () => 'served')), 'served');
  t.same(turns.byClient(), {}, 'nothing left counted against the identity');
  t.same(unhandled, []);
});

t.test("a request's work that fails after its gate let a datagram go: never 'nothing sent'", async (t) => {
  const { turns, unhandled } = rig(t, async () => undefined);
  const boom = (gate: () => boolean): Promise<never> => {
    gate(); // a datagram went out
    return Promise.reject(new Error('failed after the send'));
  };
  // a write (the default): may have been executed, so never an answer a client would retry
  await t.resolveMatch(turns.submit(REQ, boom), { kind: 'write-lost' });
  // a read: its caller's own lost answer
  await t.resolveMatch(turns.submit(REQ, boom, { kind: 'timeout', stage: 'read' }), { kind: 'timeout', stage: 'read' });
  // a gate that refused every datagram: nothing went out, so unsent it is
  let allowed = true;
  const refused = turns.submit({ ...REQ, stillAllowed: () => allowed }, (gate) => {
    allowed = false; // e.g. the session ended between the turn's start and the send
    t.equal(gate(), false);
    return Promise.reject(new Error('failed'));
  });
  await t.resolveMatch(refused, { kind: 'unavailable', sent: false, reason: 'internal error' });
  t.equal(await settledNow(turns.submit(REQ, async () => 'served')), 'served');
  t.same(unhandled, []);
});
