/**
 * A pool's connect attempts (link-dialer.ts) run inside its pump, from timer and socket callbacks. A transport
 * whose `open` throws instead of rejecting is a failed attempt like any other: nothing thrown at the pump's caller
 * (a submit that must resolve, a timer), and the dialer not left "dialing" forever. A hook that throws on an
 * attempt's result is logged, not an unhandled rejection (Node 20 ends the process on one).
 */
import t, { type Test } from 'tap';
import { DevicePool } from '../../gateway/upstream/device-pool.js';
import { LinkDialer } from '../../gateway/upstream/link-dialer.js';
import type { Logger } from '../../gateway/logger.js';
import type { LinkSettings, UpstreamLink, UpstreamTransport } from '../../gateway/upstream/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { fakeTransport } from '../helpers/fake-upstream.js';

const READ = {
  clientKey: 'spiffe://plant.example/historian',
  unitId: 1,
  pdu: Buffer.from([3, 0, 0, 0, 1]),
  isWrite: false,
};
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function recordingLogger(): { logger: Logger; errors: string[] } {
  const errors: string[] = [];
  const discard = (): void => undefined;
  const logger: Logger = { debug: discard, info: discard, warn: discard, error: (_o, m) => void errors.push(m ?? '') };
  return { logger, errors };
}

function watchUnhandled(t: Test): unknown[] {
  const seen: unknown[] = [];
  const h = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', h);
  t.teardown(() => void process.off('unhandledRejection', h));
  return seen;
}

/** The fake transport, whose first `opens` attempts throw at once (a transport that validates synchronously). */
function throwingFirst(opens: number) {
  const fake = fakeTransport(1, false);
  let left = opens;
  const transport: UpstreamTransport = {
    target: '/dev/ttyUSB9',
    open<J>(settings: LinkSettings<J>, signal: AbortSignal) {
      if (left-- > 0) throw new Error('serial path missing');
      return fake.transport.open(settings, signal);
    },
  };
  return { fake, transport };
}

t.test('a pool whose transport throws on open: the request is answered, and the next attempt opens', async (t) => {
  const timers = new FakeTimers();
  const { fake, transport } = throwingFirst(1);
  const pool = new DevicePool({
    name: 'meter',
    transport,
    maxConnections: 1,
    timeoutMs: 1000,
    queueLimit: 8,
    timers,
    backoff: { initialMs: 5000, maxMs: 5000 },
    random: () => 0.99, // the next attempt is due after the request's deadline: it is answered at once
  });
  t.teardown(() => pool.close());
  await t.resolveMatch(pool.submit(READ), { kind: 'unavailable', reason: /serial path missing/ });
  timers.advance(5000); // the back-off is over
  const r = pool.submit(READ);
  await turn();
  t.equal(fake.links.length, 1, 'dialed again: the attempt that threw is over');
  fake.answerAll();
  t.match(await r, { kind: 'response' });
});

/** A dialer over `transport` whose pool hooks are `hooks` (the rest do nothing). */
function dialerWith(
  transport: UpstreamTransport,
  logger: Logger,
  hooks: Partial<ConstructorParameters<typeof LinkDialer>[3]>,
) {
  const none = (): undefined => undefined;
  const events = { reply: none, slotFreed: none, unsent: none, closed: none };
  const link = { maxInFlight: 1, lateGraceMs: 100, logger, timers: new FakeTimers(), events };
  return new LinkDialer(transport, 1000, link, { opened: none, failed: none, due: none, ...hooks });
}

t.test('a dialer whose hook throws on the result: logged, no unhandled rejection', async (t) => {
  const unhandled = watchUnhandled(t);
  const { logger, errors } = recordingLogger();
  const transport: UpstreamTransport = { target: 'plc:502', open: () => Promise.reject(new Error('refused')) };
  const dialer = dialerWith(transport, logger, {
    failed: () => {
      throw new Error('pool bug');
    },
  });
  if (!t.doesNotThrow(() => dialer.dial(0))) return;
  await turn();
  t.equal(dialer.dialing, false);
  t.match(errors, [/connect attempt failed/]);
  t.same(unhandled, []);
});

t.test('a dialer whose opened hook throws: the new link is closed, not left holding the PLC slot', async (t) => {
  const unhandled = watchUnhandled(t);
  const { logger, errors } = recordingLogger();
  const closed: string[] = [];
  const link = { close: (reason: string) => void closed.push(reason) } as unknown as UpstreamLink<unknown>;
  const transport: UpstreamTransport = {
    target: 'plc:502',
    open: <J>() => Promise.resolve(link as unknown as UpstreamLink<J>),
  };
  const dialer = dialerWith(transport, logger, {
    opened: () => {
      throw new Error('pool bug');
    },
  });
  dialer.dial(0);
  await turn();
  t.same(closed, ['taking the new connection failed']);
  t.match(errors, [/connect attempt failed/]);
  t.same(unhandled, []);
});
