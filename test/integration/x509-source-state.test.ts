/**
 * X509Source against the dev issuer over a real unix socket: first SVID, updates, and the
 * ok → stale → failed-closed → ok life cycle when the agent goes away and comes back. The source's clock and
 * timers (expiry watch, first-SVID timeout, watch retries) are fake: expiry happens when the test advances
 * time, not after a wait; what the socket I/O delivers is awaited on the source's own events and log lines
 * (when()), never polled.
 */
import { EventEmitter, once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { isGatewayError } from '../../gateway/errors.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { DevIssuer } from '../../gateway/identity/dev-issuer.js';
import type { Logger } from '../../gateway/logger.js';
import { WorkloadApiClient } from '../../gateway/identity/workload-api-client.js';
import { X509Source, type X509SourceState } from '../../gateway/identity/x509-source.js';
import type { X509Svid } from '../../gateway/identity/x509-svid.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { when } from '../helpers/when.js';

const GW = 'spiffe://plant.example/gateway';
const FAST = { initialMs: 25, maxMs: 100 };
const HOUR = 3600_000;

/** Records log lines; `events` emits 'line' after each. */
function recordingLogger() {
  const lines: { level: string; msg: string }[] = [];
  const events = new EventEmitter();
  const at = (level: string) => (_o: object, msg?: string) =>
    void (lines.push({ level, msg: msg ?? '' }), events.emit('line'));
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { lines, logger, events };
}

function watchSource(src: X509Source) {
  const states: X509SourceState[] = [];
  const updates: X509Svid[] = [];
  src.on('state', (s) => states.push(s));
  src.on('update', (svid) => updates.push(svid));
  return { states, updates };
}

const ca = await DevCa.create({ trustDomain: 'plant.example' });
const dir = await mkdtemp(join(tmpdir(), 'vg-xs-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = (): string => join(dir, `s${++n}.sock`);

t.test('create waits for the first SVID; updates on rotation only, not on identical repeats', async (t) => {
  const socketPath = sockPath();
  const issuer = await DevIssuer.start({
    socketPath,
    ca,
    spiffeId: GW,
    federatedBundles: { 'spiffe://other.org': ca.bundleDer() },
  });
  t.teardown(() => issuer.close());
  const src = await X509Source.create({
    address: `unix://${socketPath}`,
    backoff: FAST,
    timers: new FakeTimers(Date.now()),
  });
  t.teardown(() => src.close());
  t.equal(src.state(), 'ok');
  const first = src.getX509Svid();
  t.equal(first.id.toString(), GW);
  t.ok(src.secondsUntilExpiry() > 86_000 && src.secondsUntilExpiry() <= 86_400, 'about 24 h left');
  t.same(src.getBundleSet().trustDomains().sort(), ['other.org', 'plant.example']);

  const seen = watchSource(src);
  await issuer.resend();
  await issuer.rotateNow();
  await when(src, 'update', () => seen.updates.length === 1);
  await issuer.resend();
  await issuer.rotateNow();
  await when(src, 'update', () => seen.updates.length === 2);
  t.equal(seen.updates.length, 2, 'two rotations, two updates; repeats ignored');
  t.notOk(seen.updates[1]?.keyDer.equals(first.keyDer));
  t.equal(src.getX509Svid(), seen.updates[1], 'getX509Svid serves the latest');
  t.same(seen.states, [], 'no state change while healthy');
});

t.test('agent lost: stale until NotAfter, then failed closed (loud), then ok when it returns', async (t) => {
  const socketPath = sockPath();
  const issuer = await DevIssuer.start({ socketPath, ca, spiffeId: GW, ttlSeconds: 120 });
  const { lines, logger } = recordingLogger();
  const timers = new FakeTimers(Date.now());
  const src = await X509Source.create({ address: `unix://${socketPath}`, backoff: FAST, logger, timers });
  t.teardown(() => src.close());
  const seen = watchSource(src);
  const svid = src.getX509Svid();

  await issuer.close();
  await when(src, 'state', () => seen.states.includes('stale'));
  t.equal(src.state(), 'stale');
  t.equal(src.getX509Svid(), svid, 'the last SVID is still served while valid');
  t.same(timers.delays().slice(0, 1), [FAST.initialMs], 'a retry is armed after the first backoff step');

  timers.advance(svid.notAfter.getTime() - timers.now() - 1);
  t.equal(src.state(), 'stale', 'still served 1 ms before NotAfter');
  t.same(seen.states, ['stale']);
  timers.advance(2);
  t.same(seen.states, ['stale', 'failed-closed'], 'fails closed at NotAfter, by its own timer');
  t.ok(timers.now() >= svid.notAfter.getTime(), 'not before NotAfter');
  t.throws(() => src.getX509Svid(), { code: 'GW_ERR_IDENTITY_UNAVAILABLE', message: /unreachable.*expired/ });
  t.ok(
    lines.some((l) => l.level === 'error' && /FAILING CLOSED/.test(l.msg)),
    'failing closed is logged at error level',
  );
  t.ok(src.secondsUntilExpiry() <= 0);

  // Valid well past the fake clock, which is now ~2 minutes ahead of the issuer's.
  const again = await DevIssuer.start({ socketPath, ca, spiffeId: GW, ttlSeconds: 3600 });
  t.teardown(() => again.close());
  // The watch comes back on a retry: an attempt is either in flight or armed; fire the armed one and await its
  // outcome (a failure arms the next retry; a success changes the state), until the state is ok.
  while (src.state() !== 'ok') {
    const done = new AbortController();
    const outcome = Promise.race([once(src, 'state', { signal: done.signal }), timers.armed()]);
    timers.advance(FAST.maxMs);
    await outcome;
    done.abort(); // drop the state listener of a round that ended with a retry armed
  }
  t.same(seen.states, ['stale', 'failed-closed', 'ok']);
  t.equal(seen.updates.length, 1, 'the fresh SVID is announced');
  t.not(src.getX509Svid(), svid);
  t.ok(src.secondsUntilExpiry() > 50);
});

t.test('state follows the injected clock', async (t) => {
  const socketPath = sockPath();
  const issuer = await DevIssuer.start({ socketPath, ca, spiffeId: GW });
  const up = new FakeTimers(Date.now());
  const early = await X509Source.create({ address: `unix://${socketPath}`, backoff: FAST, timers: up });
  t.teardown(() => early.close());
  t.equal(early.state(), 'ok');
  up.advance(25 * HOUR); // past the 24 h NotAfter while the agent is still up: an unrotated SVID is not served either
  t.equal(early.state(), 'failed-closed');
  t.throws(() => early.getX509Svid(), { code: 'GW_ERR_IDENTITY_UNAVAILABLE' });

  const down = new FakeTimers(Date.now());
  const src = await X509Source.create({ address: `unix://${socketPath}`, backoff: FAST, timers: down });
  t.teardown(() => src.close());
  await issuer.close();
  await when(src, 'state', () => src.state() === 'stale');
  down.advance(12 * HOUR);
  t.equal(src.state(), 'stale');
  t.ok(src.secondsUntilExpiry() < 12.1 * 3600);
  down.advance(12 * HOUR);
  t.equal(src.state(), 'failed-closed', 'and failed closed once the clock passes NotAfter');
});

t.test('create fails clearly: timeout with the address and last error, or a fatal API error', async (t) => {
  const missing = join(dir, 'no-agent.sock');
  const timers = new FakeTimers(Date.now());
  const { lines, logger, events } = recordingLogger();
  let settled = false;
  const pending = X509Source.create({ address: `unix://${missing}`, timeoutMs: 300, backoff: FAST, timers, logger })
    .catch((e: unknown) => e)
    .finally(() => (settled = true));
  await when(events, 'line', () => lines.some((l) => /watch failed/.test(l.msg)));
  timers.advance(299);
  await Promise.resolve();
  t.notOk(settled, 'still waiting 1 ms before the timeout');
  timers.advance(1);
  const err = await pending;
  t.ok(isGatewayError(err) && err.code === 'GW_ERR_IDENTITY_UNAVAILABLE', 'gives up at the timeout');
  t.match(
    (err as Error).message,
    new RegExp(`${missing.replace(/\./g, '\\.')}.*within 300 ms.*last error: .*UNAVAILABLE`),
  );

  const socketPath = sockPath();
  const server = new grpc.Server(); // no service: every method is UNIMPLEMENTED
  await new Promise<void>((res, rej) =>
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
  );
  t.teardown(() => server.forceShutdown());
  const fatal = await X509Source.create({
    address: `unix://${socketPath}`,
    timeoutMs: 20_000,
    backoff: FAST,
    timers: new FakeTimers(Date.now()),
  }).catch((e: unknown) => e);
  t.ok(isGatewayError(fatal) && fatal.code === 'GW_ERR_IDENTITY_UNAVAILABLE');
  t.match((fatal as Error).message, /UNIMPLEMENTED/);
  t.ok(
    isGatewayError((fatal as Error).cause) &&
      ((fatal as Error).cause as { code: string }).code === 'GW_ERR_WORKLOAD_API',
  );

  await t.rejects(X509Source.create({ address: 'unix://tmp/agent.sock' }), { code: 'GW_ERR_ENDPOINT_ADDRESS' });
});

t.test('a client passed in stays open after the source closes', async (t) => {
  const socketPath = sockPath();
  const issuer = await DevIssuer.start({ socketPath, ca, spiffeId: GW });
  t.teardown(() => issuer.close());
  const client = WorkloadApiClient.create({ address: `unix://${socketPath}`, backoff: FAST });
  t.teardown(() => client.close());
  const src = await X509Source.create({ client });
  src.close();
  const ctx = await client.fetchX509Context();
  t.equal(ctx.svids[0]?.id.toString(), GW);
});
