/**
 * The fleet link's connection management (gateway/fleet/fleet-link.ts) and the status beat (status-beat.ts) on
 * fake timers with fake NATS connections: start never waits, retries follow the backoff, each attempt reads
 * the current TLS material, a rotation adopts the new connection before draining the old, a connection the
 * client gave up on is replaced, close drains and stops retrying; the beat publishes only while connected.
 */
import t from 'tap';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import { FleetLink } from '../../gateway/fleet/fleet-link.js';
import { StatusBeat } from '../../gateway/fleet/status-beat.js';
import { statusSubject } from '../../gateway/fleet/fleet-topology.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { flushIo } from '../helpers/eventually.js';

class FakeNc {
  readonly published: { subject: string; data: string }[] = [];
  drained = false;
  private done = false;
  private end!: (err?: Error) => void;
  private readonly ended = new Promise<Error | undefined>((r) => (this.end = r));
  constructor(readonly id: number) {}
  /** No status changes; the iteration ends with the connection. */
  status(): AsyncIterable<{ type: string }> {
    const ended = this.ended;
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => ended.then(() => ({ done: true as const, value: undefined })),
      }),
    };
  }
  closed(): Promise<Error | undefined> {
    return this.ended;
  }
  isClosed(): boolean {
    return this.done;
  }
  drain(): Promise<void> {
    this.drained = true;
    this.giveUp();
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.giveUp();
    return Promise.resolve();
  }
  /** The client closed the connection for good (e.g. refused credentials). */
  giveUp(err?: Error): void {
    this.done = true;
    this.end(err);
  }
  publish(subject: string, data: string): void {
    this.published.push({ subject, data });
  }
}

function setup() {
  const timers = new FakeTimers(1_000_000);
  const attempts: ConnectionOptions[] = [];
  const made: FakeNc[] = [];
  let fail = true;
  let svid = 'svid-1';
  const link = new FleetLink({
    url: 'tls://127.0.0.1:4222',
    name: 'gw',
    timers,
    backoff: { initialMs: 100, maxMs: 1000 },
    tls: () => ({ cert: svid }),
    connect: (opts) => {
      attempts.push(opts);
      if (fail) return Promise.reject(new Error('ECONNREFUSED'));
      const nc = new FakeNc(made.length + 1);
      made.push(nc);
      return Promise.resolve(nc as unknown as NatsConnection);
    },
  });
  return {
    timers,
    attempts,
    made,
    link,
    up: () => (fail = false),
    down: () => (fail = true),
    rotateSvid: (s: string) => (svid = s),
  };
}

const certOf = (o: ConnectionOptions | undefined): unknown => (o?.tls as { cert?: string } | undefined)?.cert;

t.test('start returns at once; the leaf away is retried with backoff until it answers', async (t) => {
  const s = setup();
  s.link.start();
  t.equal(s.link.current(), null, 'nothing to wait for');
  await flushIo();
  t.equal(s.attempts.length, 1);
  t.match(s.attempts[0], { servers: 'tls://127.0.0.1:4222', maxReconnectAttempts: -1 });
  const [first] = s.timers.delays();
  t.ok(first !== undefined && first >= 50 && first <= 100, `first retry in ${first} ms`);
  await s.timers.tick(100);
  await flushIo();
  t.equal(s.attempts.length, 2);
  const [second] = s.timers.delays();
  t.ok(second !== undefined && second >= 50 && second <= 200, `second retry in ${second} ms (grows)`);
  s.up();
  const got: number[] = [];
  s.link.onConnection((nc) => got.push((nc as unknown as FakeNc).id));
  await s.timers.tick(200);
  await flushIo();
  t.same(got, [1]);
  t.equal(s.link.isConnected(), true);
  t.equal(s.timers.pending, 0, 'no retry armed once connected');
  await s.link.close();
});

t.test('rotation: the new SVID connects anew; users move first, then the old connection drains', async (t) => {
  const s = setup();
  s.up();
  const order: string[] = [];
  s.link.onConnection((nc) => {
    const id = (nc as unknown as FakeNc).id;
    order.push(`use ${id} (old drained: ${s.made[0]?.drained === true})`);
  });
  s.link.start();
  await flushIo();
  s.rotateSvid('svid-2');
  s.link.rotate();
  await flushIo();
  t.same(order, ['use 1 (old drained: false)', 'use 2 (old drained: false)']);
  t.equal(s.made[0]?.drained, true, 'then the old one drained');
  t.same(s.attempts.map(certOf), ['svid-1', 'svid-2'], 'each connect reads the current SVID');
  t.equal((s.link.current() as unknown as FakeNc).id, 2);
  await s.link.close();
  t.equal(s.made[1]?.drained, true, 'close drains the current one');
});

t.test('a rotation while a connect is in flight: that connection is replaced with the new SVID', async (t) => {
  const timers = new FakeTimers(1_000_000);
  let svid = 'svid-1';
  const certs: unknown[] = [];
  const pending: ((nc: NatsConnection) => void)[] = [];
  const made: FakeNc[] = [];
  const link = new FleetLink({
    url: 'tls://127.0.0.1:4222',
    name: 'gw',
    timers,
    tls: () => ({ cert: svid }),
    connect: (opts) => {
      certs.push(certOf(opts));
      return new Promise((resolve) => pending.push(resolve));
    },
  });
  const answer = (): void => {
    const nc = new FakeNc(made.length + 1);
    made.push(nc);
    pending.shift()?.(nc as unknown as NatsConnection);
  };
  link.start();
  await flushIo();
  t.same(certs, ['svid-1'], 'connecting with the first SVID');
  svid = 'svid-2';
  link.rotate(); // while that connect is still in flight
  await flushIo();
  answer(); // the old-SVID connect lands
  await flushIo();
  t.same(certs, ['svid-1', 'svid-2'], 'a connect anew with the rotated SVID');
  answer();
  await flushIo();
  t.equal((link.current() as unknown as FakeNc | null)?.id, 2, 'the new-SVID connection is current');
  t.equal(made[0]?.drained, true, 'the old-SVID one drained');
  t.equal(certs.length, 2, 'and no further connect');
  await link.close();
});

t.test('a rotation while the leaf is away keeps the old connection and retries', async (t) => {
  const s = setup();
  s.up();
  s.link.start();
  await flushIo();
  s.down();
  s.link.rotate();
  await flushIo();
  t.equal((s.link.current() as unknown as FakeNc).id, 1, 'the old connection stays current');
  t.equal(s.made[0]?.drained, false);
  s.up();
  await s.timers.tick(100);
  await flushIo();
  t.equal((s.link.current() as unknown as FakeNc).id, 2);
  t.equal(s.made[0]?.drained, true);
  await s.link.close();
});

t.test('a connection the client gave up on is replaced', async (t) => {
  const s = setup();
  s.up();
  s.link.start();
  await flushIo();
  s.made[0]?.giveUp(new Error('Authorization Violation'));
  await flushIo();
  t.equal(s.attempts.length, 2);
  t.equal((s.link.current() as unknown as FakeNc).id, 2);
  t.equal(s.link.isConnected(), true);
  await s.link.close();
});

t.test('close stops retrying; a connection that lands after close is drained', async (t) => {
  const s = setup();
  s.link.start();
  await flushIo();
  await s.link.close();
  await s.timers.tick(10_000);
  t.equal(s.attempts.length, 1, 'no retry after close');
  const late = setup();
  late.up();
  late.link.start(); // the connect is in flight…
  await late.link.close(); // …when the gateway stops
  await flushIo();
  t.equal(late.made[0]?.drained, true);
  t.equal(late.link.current(), null);
});

t.test('the status beat publishes every statusEvery while connected, never while away', async (t) => {
  const timers = new FakeTimers(Date.parse('2026-03-01T10:00:00Z'));
  const nc = new FakeNc(1);
  let up = true;
  const beat = new StatusBeat({
    site: 'site-a',
    gateway: 'gw-1',
    everyMs: 2000,
    timers,
    connection: () => (up ? (nc as unknown as NatsConnection) : null),
    sources: {
      policyRevision: () => 4,
      policyVersion: () => 'v',
      stalenessSeconds: () => null,
      sessions: () => 2,
      audit: () => ({ lastSeq: 5, publishedSeq: 3 }),
    },
  });
  beat.start();
  timers.advance(4000);
  t.equal(nc.published.length, 2);
  t.equal(nc.published[0]?.subject, statusSubject('site-a', 'gw-1'));
  t.same(JSON.parse(nc.published[1]?.data ?? '{}'), {
    site: 'site-a',
    gateway: 'gw-1',
    time: '2026-03-01T10:00:04.000Z',
    policyRevision: 4,
    policyVersion: 'v',
    stalenessSeconds: null,
    sessions: 2,
    audit: { lastSeq: 5, publishedSeq: 3 },
  });
  up = false;
  timers.advance(4000);
  t.equal(nc.published.length, 2, 'no beat (and none queued) while the leaf is away');
  beat.stop();
  up = true;
  timers.advance(4000);
  t.equal(nc.published.length, 2, 'stopped');
});
