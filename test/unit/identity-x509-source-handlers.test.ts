/**
 * X509Source runs each `update` and `state` handler on its own: one that throws (a TLS context refusing the
 * new SVID) must not skip the handlers after it, the state refresh or the first-SVID waiter. The Workload API
 * client is a fake that hands snapshots over directly.
 */
import t from 'tap';
import type { WorkloadApiClient } from '../../gateway/identity/workload-api-client.js';
import type { X509Context } from '../../gateway/identity/x509-context.js';
import { X509Source } from '../../gateway/identity/x509-source.js';
import type { Logger } from '../../gateway/logger.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { makePki, TD } from '../helpers/pki.js';

function fakeClient() {
  let push: ((ctx: X509Context) => void) | undefined;
  const client = {
    describe: () => 'fake',
    close: () => undefined,
    watchX509Context(w: { onUpdate(ctx: X509Context): void }) {
      push = (ctx) => w.onUpdate(ctx);
      return () => (push = undefined);
    },
  };
  return { client: client as unknown as WorkloadApiClient, push: (ctx: X509Context) => push?.(ctx) };
}

t.test(
  'an update handler that throws does not skip the later handlers, the state or the first-SVID waiter',
  async (t) => {
    const pki = await makePki();
    const timers = new FakeTimers(Date.now());
    const errors: string[] = [];
    const logger: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (_o, msg) => void errors.push(msg ?? ''),
    };
    const fake = fakeClient();
    const created = X509Source.create({ client: fake.client, timers, logger, timeoutMs: 1000 });
    const first = await pki.mint(`spiffe://${TD}/gw`);
    fake.push({ svids: [first], bundles: pki.bundles });
    const src = await created;
    t.teardown(() => src.close());

    const seen: string[] = [];
    src.on('update', () => {
      seen.push('tls');
      throw new Error('updateSecureContext: key expired');
    });
    src.on('update', (svid) => void seen.push(`grpc:${svid.id.toString()}`));
    src.once('update', () => void seen.push('once'));
    const second = await pki.mint(`spiffe://${TD}/gw2`);
    t.doesNotThrow(() => fake.push({ svids: [second], bundles: pki.bundles }), 'the watch callback does not throw');
    t.same(seen, ['tls', `grpc:spiffe://${TD}/gw2`, 'once'], 'every handler saw the new SVID, in order');
    t.match(errors, [/an SVID event handler threw/], 'the failure is logged');
    t.equal(src.listenerCount('update'), 2, 'a once handler still removes itself');

    // a throwing state handler does not stop the next one either
    const states: string[] = [];
    src.on('state', () => {
      throw new Error('boom');
    });
    src.on('state', (s) => void states.push(s));
    await timers.tick(25 * 3600_000); // past the SVIDs' NotAfter: failed-closed
    t.equal(src.state(), 'failed-closed');
    t.same(states, ['failed-closed'], 'the second state handler ran');
  },
);
