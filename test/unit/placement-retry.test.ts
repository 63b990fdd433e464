import t from 'tap';
import { JetStreamApiError } from '@nats-io/jetstream';
import { isUnsettledCluster, withPlacementRetry } from '../../gateway/fleet/placement-retry.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const apiError = (errCode: number, description: string): JetStreamApiError =>
  new JetStreamApiError({ code: 503, err_code: errCode, description });
const NO_PEERS = apiError(10005, 'no suitable peers for placement');

/** Lets the retry loop reach its next await (the failed attempt's catch, then the timer). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

t.test('a hub that cannot place the asset yet is asked again until it can', async (t) => {
  const timers = new FakeTimers(0);
  let attempts = 0;
  const done = withPlacementRetry(
    async () => {
      attempts++;
      if (attempts < 4) throw NO_PEERS;
      return 'created';
    },
    { timers, everyMs: 250, forMs: 20_000 },
  );
  for (let i = 0; i < 3; i++) {
    await settle();
    timers.advance(250);
  }
  t.equal(await done, 'created');
  t.equal(attempts, 4, 'three refusals, then placed');
});

t.test('any other error is thrown at once; an unsettled cluster only until the deadline', async (t) => {
  const timers = new FakeTimers(0);
  let attempts = 0;
  const denied = apiError(10100, 'permission denied');
  await t.rejects(
    withPlacementRetry(
      async () => {
        attempts++;
        throw denied;
      },
      { timers },
    ),
    denied,
  );
  t.equal(attempts, 1, 'a permission problem is not retried');
  await t.rejects(
    withPlacementRetry(async () => Promise.reject(new Error('connection closed')), { timers }),
    /connection closed/,
  );

  attempts = 0;
  const never = withPlacementRetry(
    async () => {
      attempts++;
      throw apiError(10023, 'insufficient resources');
    },
    { timers, everyMs: 1000, forMs: 3000 },
  );
  for (let i = 0; i < 4; i++) {
    await settle();
    timers.advance(1000);
  }
  await t.rejects(never, /insufficient resources/);
  t.equal(attempts, 4, 'attempts at 0, 1, 2 and 3 s, then the last error');
  t.ok(isUnsettledCluster(apiError(10008, 'JetStream system temporarily unavailable')));
  t.notOk(isUnsettledCluster(new Error('no suitable peers for placement')), 'only JetStream API errors by code');
});
