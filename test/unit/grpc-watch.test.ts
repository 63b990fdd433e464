/**
 * `Watch` and the stream's back-pressure (grpc-watch.ts): while `write()` reports the stream over its
 * high-water mark (a client that stops reading, or never opens its HTTP/2 window) no poll is armed, polling
 * resumes on 'drain', cancel clears the timer and the drain listener, and an over-full queue ends the stream
 * RESOURCE_EXHAUSTED. A fake call stands in for grpc-js's ServerWritableStream; the pipeline answers a new
 * value on every poll so each poll would write.
 */
import t from 'tap';
import { EventEmitter } from 'node:events';
import { status, type ServiceError } from '@grpc/grpc-js';
import { MAX_WATCH_QUEUED, startWatch } from '../../gateway/frontdoor/grpc-watch.js';
import { Session } from '../../gateway/frontdoor/session.js';
import { FakeTimers } from '../helpers/fake-timers.js';

function setup(over: { writeOk?: () => boolean; writableLength?: () => number } = {}) {
  const timers = new FakeTimers(Date.now());
  const peer = { id: 'spiffe://plant.example/historian/a', role: null, notAfter: new Date(Date.now() + 3.6e6) };
  const session = new Session('grpc', peer as never, 'x', Date.now(), () => {});
  let v = 0;
  let polls = 0;
  const deps = {
    sessionOf: () => ({ ok: true as const, session }),
    router: { named: () => ({ config: { name: 'turbine-1', targetUnitId: 1 }, pool: {} }) as never },
    pipeline: {
      handle: () => {
        polls++;
        const pdu = Buffer.from([3, 2, 0, v++ & 0xff]);
        return Promise.resolve({ outcome: 'ok' as const, pdu, code: 'allowed', reason: '', ruleId: 'r' } as never);
      },
    },
    now: () => timers.now(),
    timers,
  };
  const errors: ServiceError[] = [];
  let writes = 0;
  const call = Object.assign(new EventEmitter(), {
    request: { device: 'turbine-1', table: 'HOLDING_REGISTERS', address: 0, count: 1, intervalMs: 100 },
    getPeer: () => 'x',
    write: () => {
      writes++;
      return over.writeOk?.() ?? true;
    },
  });
  // a getter (Object.assign would copy its value once)
  Object.defineProperty(call, 'writableLength', { get: () => over.writableLength?.() ?? 0 });
  call.on('error', (e: ServiceError) => errors.push(e));
  startWatch(deps, call as never);
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  return { timers, call, errors, turn, writes: () => writes, polls: () => polls };
}

t.test('a client that does not read: polling stops at the first refused write, resumes on drain', async (t) => {
  let ok = false;
  const s = setup({ writeOk: () => ok });
  for (let i = 0; i < 100; i++) await s.timers.tick(100);
  t.equal(s.writes(), 1, 'one update beyond the high-water mark, then nothing');
  t.equal(s.polls(), 1, 'no request reaches the pipeline (or the PLC) while the stream is backed up');
  t.equal(s.timers.pending, 0, 'no poll armed while waiting for drain');
  t.equal(s.call.listenerCount('drain'), 1, 'waiting on the stream');

  ok = true;
  s.call.emit('drain');
  t.same(s.timers.delays(), [100], 'drain re-arms the poll one interval later');
  await s.timers.tick(100);
  t.equal(s.writes(), 2, 'polling resumed');
  await s.timers.tick(100);
  t.equal(s.writes(), 3);
  t.equal(s.call.listenerCount('drain'), 0, 'the drain listener is once-only');
  s.call.emit('cancelled');
  t.equal(s.timers.pending, 0, 'cancel clears the poll timer');
});

t.test('cancel while waiting for drain removes the drain listener; a late drain arms nothing', async (t) => {
  const s = setup({ writeOk: () => false });
  await s.turn();
  t.equal(s.call.listenerCount('drain'), 1);
  s.call.emit('cancelled');
  t.equal(s.call.listenerCount('drain'), 0, 'listener removed on cancel');
  s.call.emit('drain');
  t.equal(s.timers.pending, 0, 'nothing armed after the stream ended');
  t.same(s.errors, [], 'a cancel is no error');
});

t.test('a queue past MAX_WATCH_QUEUED ends the stream RESOURCE_EXHAUSTED, nothing more written', async (t) => {
  let queued = 0;
  const s = setup({ writableLength: () => queued });
  await s.turn();
  t.equal(s.writes(), 1);
  queued = MAX_WATCH_QUEUED;
  await s.timers.tick(100);
  t.equal(s.writes(), 1, 'not written');
  t.equal(s.errors.length, 1);
  t.equal(s.errors[0]?.code, status.RESOURCE_EXHAUSTED);
  t.equal(s.timers.pending, 0, 'no poll armed after the end');
  await s.timers.tick(1000);
  t.equal(s.polls(), 2, 'no polling after the end');
});
