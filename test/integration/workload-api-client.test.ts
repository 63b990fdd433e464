/**
 * WorkloadApiClient ↔ DevIssuer over a real unix socket: the same gRPC protocol the SPIRE agent serves.
 * Retry and rotation timers are fake (FakeTimers): the tests count retries through the backoff strategy and move
 * time themselves (as go-spiffe's client tests do); what the socket I/O delivers is awaited on the watch's own
 * callbacks (when()), never polled.
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import t from 'tap';
import { LinearBackoff } from '../../gateway/backoff.js';
import { isGatewayError } from '../../gateway/errors.js';
import type { BundleSet } from '../../gateway/identity/bundle-set.js';
import { DevCa } from '../../gateway/identity/dev-ca.js';
import { DevIssuer } from '../../gateway/identity/dev-issuer.js';
import { WorkloadApiClient, type X509Context } from '../../gateway/identity/workload-api-client.js';
import { workloadApi } from '../../gateway/identity/workload-api-proto.js';
import { flushIo } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { when } from '../helpers/when.js';

const GW = 'spiffe://plant.example/gateway';
const FAST = { initialMs: 25, maxMs: 100 };

/** Collects watch callbacks; `events` emits 'update' / 'failed' after each one, what the tests wait on. */
function recorder<T>() {
  const updates: T[] = [];
  const errors: Error[] = [];
  const events = new EventEmitter();
  return {
    updates,
    errors,
    events,
    watcher: {
      onUpdate: (v: T) => void (updates.push(v), events.emit('update')),
      onError: (e: Error) => void (errors.push(e), events.emit('failed')),
    },
  };
}

const ca = await DevCa.create({ trustDomain: 'plant.example' });
const otherCa = await DevCa.create({ trustDomain: 'other.org' });
const dir = await mkdtemp(join(tmpdir(), 'vg-wl-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = (): string => join(dir, `s${++n}.sock`);

/** Issuer and client on fake timers; `backoffs` are the watches' retry strategies, in creation order. */
async function setup(
  t: { teardown(fn: () => unknown): void },
  extra: Partial<Parameters<typeof DevIssuer.start>[0]> = {},
) {
  const socketPath = sockPath();
  const timers = new FakeTimers(Date.now());
  const issuer = await DevIssuer.start({ socketPath, ca, spiffeId: GW, timers, ...extra });
  const backoffs: LinearBackoff[] = [];
  const newBackoff = (): LinearBackoff => {
    const b = new LinearBackoff(FAST);
    backoffs.push(b);
    return b;
  };
  const client = WorkloadApiClient.create({ address: `unix://${socketPath}`, backoff: FAST, newBackoff, timers });
  t.teardown(async () => {
    client.close();
    await issuer.close();
  });
  return { issuer, client, socketPath, timers, backoffs };
}

t.test('first snapshot: default SVID, own and federated bundles', async (t) => {
  const { client } = await setup(t, { federatedBundles: { 'spiffe://other.org': otherCa.bundleDer() } });
  const ctx = await client.fetchX509Context();
  const svid = ctx.svids[0];
  t.equal(svid?.id.toString(), GW);
  t.ok(svid && svid.notAfter.getTime() > Date.now() + 86_000_000, 'default TTL is 24 h');
  t.same(ctx.bundles.trustDomains().sort(), ['other.org', 'plant.example']);
  t.ok(ctx.bundles.get('plant.example')?.der().equals(ca.bundleDer()));
  t.ok(ctx.bundles.get('spiffe://other.org')?.der().equals(otherCa.bundleDer()));
  t.ok(svid?.chain[0]?.verify(ca.caCertificate().publicKey), 'leaf is signed by the dev CA');

  const w = recorder<X509Context>();
  const stop = client.watchX509Context(w.watcher);
  await when(w.events, 'update', () => w.updates.length === 1);
  t.ok(w.updates[0]?.svids[0]?.keyDer.equals(svid?.keyDer ?? Buffer.alloc(0)), 'the watch sees the same issued SVID');
  stop();

  const b = recorder<BundleSet>();
  const stopB = client.watchX509Bundles(b.watcher);
  await when(b.events, 'update', () => b.updates.length === 1);
  t.same(b.updates[0]?.trustDomains().sort(), ['other.org', 'plant.example']);
  stopB();
  t.same(w.errors, [], 'stopping a watch is not an error');
});

t.test('rotation: rotateNow and a short TTL both push new SVIDs; identical repeats are dropped', async (t) => {
  const { issuer, client, timers } = await setup(t, { ttlSeconds: 2 });
  const w = recorder<X509Context>();
  t.teardown(client.watchX509Context(w.watcher));
  await when(w.events, 'update', () => w.updates.length >= 1);

  // SPIRE resends identical snapshots; they are dropped. Messages are ordered on the stream, so had the
  // three repeats got through they would show up before the rotated SVID.
  await issuer.resend();
  await issuer.resend();
  await issuer.resend();
  const before = w.updates.length;
  await issuer.rotateNow();
  await when(w.events, 'update', () => w.updates.length > before);
  t.equal(w.updates.length, before + 1, 'exactly one update for resend×3 + rotate');
  const a = w.updates[before - 1]?.svids[0];
  const b = w.updates[before]?.svids[0];
  t.equal(b?.id.toString(), GW);
  t.notOk(a?.keyDer.equals(b?.keyDer ?? Buffer.alloc(0)), 'new key after rotation');

  // 2 s TTL → re-minted at half of it without any prompt (the issuer's own timer).
  const k = w.updates.length;
  timers.advance(999);
  await flushIo();
  t.equal(w.updates.length, k, 'nothing re-minted before 1 s');
  timers.advance(1);
  await when(w.events, 'update', () => w.updates.length > k);
  t.ok((w.updates.at(-1)?.svids[0]?.notAfter.getTime() ?? 0) >= (b?.notAfter.getTime() ?? Infinity), 'later NotAfter');
  t.same(w.errors, []);
});

t.test('security header is required on every RPC (InvalidArgument)', async (t) => {
  const { socketPath } = await setup(t);
  const { Client } = workloadApi();
  const raw = new Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
  t.teardown(() => raw.close());
  const streamCode = (md: grpc.Metadata, open: 'FetchX509SVID' | 'FetchX509Bundles' | 'FetchJWTBundles') =>
    new Promise<number>((resolve) => {
      const call = raw[open]({}, md);
      call.on('data', () => resolve(grpc.status.OK));
      call.on('error', (e: grpc.ServiceError) => resolve(e.code));
    });
  for (const m of ['FetchX509SVID', 'FetchX509Bundles', 'FetchJWTBundles'] as const) {
    t.equal(await streamCode(new grpc.Metadata(), m), grpc.status.INVALID_ARGUMENT, `${m} without header`);
  }
  const wrong = new grpc.Metadata();
  wrong.set('workload.spiffe.io', 'TRUE');
  t.equal(await streamCode(wrong, 'FetchX509SVID'), grpc.status.INVALID_ARGUMENT, 'value must be the string "true"');
  const unary = await new Promise<number>((resolve) =>
    raw.FetchJWTSVID({ audience: ['x'], spiffe_id: '' }, new grpc.Metadata(), (e) => resolve(e?.code ?? 0)),
  );
  t.equal(unary, grpc.status.INVALID_ARGUMENT, 'FetchJWTSVID without header');
  const validate = await new Promise<number>((resolve) =>
    raw.ValidateJWTSVID({ audience: 'x', svid: 'a.b.c' }, new grpc.Metadata(), (e) => resolve(e?.code ?? 0)),
  );
  t.equal(validate, grpc.status.INVALID_ARGUMENT, 'ValidateJWTSVID without header');
});

t.test('JWT-SVID fetch → validate round trip, bundles as JWKS, refusals', async (t) => {
  const { client } = await setup(t);
  const [jwt, ...more] = await client.fetchJwtSvid({ audience: ['verigate', 'historian'] });
  t.equal(more.length, 0);
  t.equal(jwt?.spiffeId.toString(), GW);
  t.same(jwt?.audience, ['verigate', 'historian']);
  t.ok(jwt && jwt.expiry.getTime() > Date.now(), 'exp in the future');

  const v = await client.validateJwtSvid({ audience: 'verigate', token: jwt?.token ?? '' });
  t.equal(v.spiffeId, GW);
  t.same(v.claims['aud'], ['verigate', 'historian']);
  t.equal(v.claims['sub'], GW);
  t.type(v.claims['exp'], 'number');

  const jwks = await client.fetchJwtBundles();
  const { kid } = JSON.parse(Buffer.from(jwt?.token.split('.')[0] ?? '', 'base64url').toString()) as { kid: string };
  t.equal(jwks.get('spiffe://plant.example')?.keys[0]?.kid, kid, 'token kid is in the published JWKS');

  const wrongAud = await client
    .validateJwtSvid({ audience: 'someone-else', token: jwt?.token ?? '' })
    .catch((e: unknown) => e);
  t.ok(isGatewayError(wrongAud) && wrongAud.code === 'GW_ERR_WORKLOAD_API');
  t.equal(((wrongAud as Error).cause as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
  // Flip a character in the middle of the signature (the last base64url character has unused bits).
  const tok = jwt?.token ?? '';
  const at = tok.lastIndexOf('.') + 20;
  const tampered = tok.slice(0, at) + (tok[at] === 'A' ? 'B' : 'A') + tok.slice(at + 1);
  await t.rejects(client.validateJwtSvid({ audience: 'verigate', token: tampered }), { code: 'GW_ERR_WORKLOAD_API' });
  const other = await client
    .fetchJwtSvid({ audience: ['x'], spiffeId: 'spiffe://plant.example/not-me' })
    .catch((e: unknown) => e);
  t.equal(((other as Error).cause as grpc.ServiceError).code, grpc.status.PERMISSION_DENIED);
  const noAud = await client.fetchJwtSvid({ audience: [] }).catch((e: unknown) => e);
  t.equal(((noAud as Error).cause as grpc.ServiceError).code, grpc.status.INVALID_ARGUMENT);
});

t.test('issuer stopped → the watch keeps retrying and recovers on the same socket', async (t) => {
  const { issuer, client, socketPath, timers, backoffs } = await setup(t);
  const w = recorder<X509Context>();
  t.teardown(client.watchX509Context(w.watcher));
  await when(w.events, 'update', () => w.updates.length === 1);
  const backoff = backoffs[0] as LinearBackoff;
  await issuer.close();
  // Each failure arms one retry one linear step later than the previous one; the test fires it.
  for (let n = 1; n <= 3; n++) {
    await when(w.events, 'failed', () => w.errors.length === n);
    t.equal(backoff.attempts, n, `${n} failed attempts counted`);
    t.same(timers.delays(), [FAST.initialMs * n], `retry ${n} armed after ${FAST.initialMs * n} ms`);
    timers.advance(FAST.initialMs * n);
  }
  t.notOk(w.errors.some(isGatewayError), 'agent loss is transient, not fatal');
  const again = await DevIssuer.start({ socketPath, ca, spiffeId: GW, timers });
  t.teardown(() => again.close());
  // An attempt is either in flight or armed as a retry: fire the armed one, await its outcome, until one lands.
  while (w.updates.length < 2) {
    const errors = w.errors.length;
    const outcome = when(w.events, ['update', 'failed'], () => w.updates.length === 2 || w.errors.length > errors);
    timers.advance(FAST.maxMs);
    await outcome;
  }
  t.equal(w.updates[1]?.svids[0]?.id.toString(), GW);
  t.equal(backoff.attempts, 0, 'a good message resets the backoff');
});

t.test('PermissionDenied (no entry yet) is retried until an identity is issued', async (t) => {
  let calls = 0;
  const { client, timers, backoffs } = await setup(t, {
    spiffeId: () => {
      calls += 1;
      if (calls <= 2) throw new Error('no registration entry yet');
      return GW;
    },
  });
  const w = recorder<X509Context>();
  t.teardown(client.watchX509Context(w.watcher));
  for (let n = 1; n <= 2; n++) {
    await when(w.events, 'failed', () => w.errors.length === n);
    t.same(timers.delays(), [FAST.initialMs * n], `retry ${n} armed`);
    timers.advance(FAST.initialMs * n);
  }
  await when(w.events, 'update', () => w.updates.length === 1);
  t.equal(w.errors.length, 2);
  t.equal(backoffs[0]?.attempts, 0, 'reset by the first identity');
  t.ok(w.errors.every((e) => (e as grpc.ServiceError).code === grpc.status.PERMISSION_DENIED));
});

t.test('Unimplemented is fatal: one GW_ERR_WORKLOAD_API error and no retry', async (t) => {
  const socketPath = sockPath();
  const server = new grpc.Server(); // serves no service at all → UNIMPLEMENTED for every method
  await new Promise<void>((res, rej) =>
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? rej(e) : res())),
  );
  t.teardown(() => server.forceShutdown());
  const timers = new FakeTimers(Date.now());
  const backoff = new LinearBackoff({ initialMs: 10, maxMs: 10 });
  const client = WorkloadApiClient.create({ address: `unix://${socketPath}`, newBackoff: () => backoff, timers });
  t.teardown(() => client.close());
  const w = recorder<X509Context>();
  client.watchX509Context(w.watcher);
  await when(w.events, 'failed', () => w.errors.length === 1);
  t.equal(timers.pending, 0, 'no retry armed');
  t.equal(backoff.attempts, 0, 'no retry counted');
  timers.advance(1000);
  t.equal(w.errors.length, 1, 'not retried');
  t.ok(isGatewayError(w.errors[0]) && w.errors[0].code === 'GW_ERR_WORKLOAD_API');
  t.match(w.errors[0]?.message, /FetchX509SVID .* UNIMPLEMENTED/);
});

t.test('one-shot fetch with no agent rejects with the address and code', async (t) => {
  const client = WorkloadApiClient.create({ address: `unix://${join(dir, 'nobody.sock')}` });
  t.teardown(() => client.close());
  await t.rejects(client.fetchX509Context(), { code: 'GW_ERR_WORKLOAD_API', message: /nobody\.sock.*UNAVAILABLE/ });
  t.throws(() => WorkloadApiClient.create({ address: 'unix://tmp/x.sock' }), { code: 'GW_ERR_ENDPOINT_ADDRESS' });
});
