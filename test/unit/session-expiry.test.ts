/**
 * The SVID-expiry end of live sessions (gateway/frontdoor/session-expiry.ts), on fake timers: one timer per
 * distinct NotAfter however many sessions share it, each session ended at exactly its NotAfter, the timer gone
 * once its last session closed, and lives past Node's 2^31−1 ms timer limit waited for in steps.
 */
import t from 'tap';
import { SessionExpiry, type Expiring } from '../../gateway/frontdoor/session-expiry.js';
import { MAX_TIMER_MS } from '../../gateway/timers.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const T0 = 1_800_000_000_000;
const session = (): Expiring & { ended: string[] } => {
  const ended: string[] = [];
  return { ended, end: (reason) => void ended.push(reason) };
};

t.test('sessions of one SVID share one timer and end at its NotAfter, not a millisecond before', async (t) => {
  const timers = new FakeTimers(T0);
  const expiry = new SessionExpiry(timers);
  const a = Array.from({ length: 100 }, session);
  for (const s of a) expiry.add(T0 + 60_000, s);
  const other = session();
  expiry.add(T0 + 90_000, other);
  t.equal(expiry.pending(), 2, 'two NotAfter instants');
  t.equal(timers.pending, 2, 'two timers for 101 sessions');
  timers.advance(59_999);
  t.ok(
    a.every((s) => s.ended.length === 0),
    'alive 1 ms before',
  );
  timers.advance(1);
  t.ok(
    a.every((s) => s.ended.join() === 'svid-expired'),
    'all ended at NotAfter',
  );
  t.same(other.ended, [], 'a later SVID untouched');
  t.equal(expiry.pending(), 1);
  timers.advance(30_000);
  t.same(other.ended, ['svid-expired']);
  t.equal(timers.pending, 0);
});

t.test('a closed session is not ended; the last one out stops the timer', async (t) => {
  const timers = new FakeTimers(T0);
  const expiry = new SessionExpiry(timers);
  const [x, y] = [session(), session()];
  expiry.add(T0 + 1000, x);
  expiry.add(T0 + 1000, y);
  expiry.remove(T0 + 1000, x);
  t.equal(timers.pending, 1, 'y still waits');
  expiry.remove(T0 + 1000, y);
  t.equal(timers.pending, 0, 'no session left: no timer');
  t.equal(expiry.pending(), 0);
  expiry.remove(T0 + 1000, y); // a second close is harmless
  timers.advance(2000);
  t.same([x.ended, y.ended], [[], []]);
});

t.test('an SVID past the timer limit is waited for in steps', async (t) => {
  const timers = new FakeTimers(T0);
  const expiry = new SessionExpiry(timers);
  const s = session();
  const notAfter = T0 + MAX_TIMER_MS + 5000;
  expiry.add(notAfter, s);
  timers.advance(MAX_TIMER_MS);
  t.same(s.ended, [], 'first step: not yet');
  t.equal(timers.pending, 1, 're-armed for the rest');
  timers.advance(4999);
  t.same(s.ended, []);
  timers.advance(1);
  t.same(s.ended, ['svid-expired']);
});

t.test('an SVID already past its NotAfter ends on the next turn of the timers', async (t) => {
  const timers = new FakeTimers(T0);
  const expiry = new SessionExpiry(timers);
  const s = session();
  expiry.add(T0 - 10, s);
  t.same(s.ended, [], 'never synchronously inside add');
  timers.advance(0);
  t.same(s.ended, ['svid-expired']);
});
