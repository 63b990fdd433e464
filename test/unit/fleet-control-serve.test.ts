/**
 * `verigate control serve` against a real nats-server (test/helpers/nats-hub.ts), heartbeat on fake timers:
 * `{ time, seq, by }` lands under `heartbeat` in every site bucket at start and on each tick; a gateway's
 * status beat on `fleet.status.<site>.<gw>` is kept (a malformed one dropped); the stop signal ends it with
 * exit 0 and no further beat.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { Kvm } from '@nats-io/kv';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { FILE_REFRESH_MS } from '../../gateway/cli/control-identity.js';
import { controlServe, type ServeState } from '../../gateway/cli/control-serve.js';
import { fleetIds, KEY_HEARTBEAT, siteBucket, statusSubject } from '../../gateway/fleet/fleet-topology.js';
import { nullLogger } from '../../gateway/logger.js';
import { eventually } from '../helpers/eventually.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { HUB_TD, startTestHub, type TestHub } from '../helpers/nats-hub.js';

let hub: TestHub;
t.before(async () => {
  hub = await startTestHub(['site-a', 'site-b']);
  await hub.createBuckets(['site-a', 'site-b']);
});
t.teardown(() => hub?.stop());

t.test('heartbeat to every site on the injected clock, status beats kept, clean stop', async (t) => {
  const timers = new FakeTimers(Date.parse('2026-03-01T10:00:00Z'));
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let state: ServeState | null = null;
  const io = memoryIo({}, hub.dir);
  const done = controlServe(['--config', hub.configFile, '--no-audit'], io, {
    timers,
    stop: stopped,
    logger: nullLogger,
    onReady: (s) => (state = s),
  });
  const ready = await eventually('serve ready', () => state);
  const nc = await hub.connect();
  const kvm = new Kvm(nc);
  const beatAt = async (site: string): Promise<{ time: string; seq: number; by: string } | null> => {
    const e = await (await kvm.open(siteBucket(site))).get(KEY_HEARTBEAT);
    return e === null ? null : e.json<{ time: string; seq: number; by: string }>();
  };
  for (const site of ['site-a', 'site-b'])
    t.same(
      await eventually(`first heartbeat at ${site}`, () => beatAt(site)),
      { time: '2026-03-01T10:00:00.000Z', seq: 1, by: fleetIds.control(HUB_TD) },
      `${site}: seq 1 at start`,
    );
  timers.advance(1000);
  const second = await eventually('second heartbeat', async () =>
    (await beatAt('site-b'))?.seq === 2 ? beatAt('site-b') : null,
  );
  t.equal(second.time, '2026-03-01T10:00:01.000Z', 'the tick one heartbeatEvery later');

  const beat = {
    site: 'site-a',
    gateway: 'gw-1',
    time: new Date().toISOString(),
    policyRevision: 3,
    policyVersion: 'abc',
    stalenessSeconds: 0.4,
    sessions: 2,
    audit: { lastSeq: 40, publishedSeq: 38 },
  };
  nc.publish(statusSubject('site-a', 'gw-1'), JSON.stringify({ ...beat, site: 'site-b' }));
  nc.publish(statusSubject('site-a', 'gw-1'), JSON.stringify(beat));
  const cached = await eventually('status beat kept', () => ready.status.list()[0]);
  t.same(cached.beat, beat);
  t.equal(ready.status.rejected, 1, 'a beat whose site disagrees with its subject is dropped');

  stop();
  t.equal(await done, 0, 'exit 0 on the stop signal');
  t.equal(timers.pending, 0, 'no heartbeat timer left');
  timers.advance(5000);
  t.equal((await beatAt('site-a'))?.seq, 2, 'no beat after stop');
});

t.test('without the hub AUDIT stream serve says to run control init and exits 1 (heartbeat stopped)', async (t) => {
  const timers = new FakeTimers(Date.now());
  const io = memoryIo({}, hub.dir);
  const code = await controlServe(['--config', hub.configFile], io, {
    timers,
    stop: new Promise(() => undefined),
    logger: nullLogger,
  });
  t.equal(code, 1);
  t.match(io.stderr.join('\n'), /cannot start the audit collector: .*run `verigate control init` first, or --no-audit/);
  t.equal(timers.pending, 0, 'no heartbeat left running');
});

t.test('a renewed SVID (files rewritten) opens a new hub connection; heartbeat and status move to it', async (t) => {
  // serve's own SVID files, so rewriting them touches no other test
  await hub.mint('control-rot', fleetIds.control(HUB_TD));
  const config = join(hub.dir, 'fleet-control-rot.yaml');
  writeFileSync(
    config,
    readFileSync(hub.configFile, 'utf8').replace(
      'cert: control.pem, key: control.key',
      'cert: control-rot.pem, key: control-rot.key',
    ),
  );
  const timers = new FakeTimers(Date.parse('2026-03-01T10:00:00Z'));
  let stop!: () => void;
  const stopped = new Promise<void>((r) => (stop = r));
  let state: ServeState | null = null;
  const done = controlServe(['--config', config, '--no-audit'], memoryIo({}, hub.dir), {
    timers,
    stop: stopped,
    logger: nullLogger,
    onReady: (s) => (state = s),
  });
  const ready = await eventually('serve ready', () => state);
  const first = ready.connection();
  const kv = await new Kvm(await hub.connect()).open(siteBucket('site-a'));
  const seq = async (): Promise<number> => (await kv.get(KEY_HEARTBEAT))?.json<{ seq: number }>().seq ?? 0;
  await eventually('first heartbeat', async () => (await seq()) >= 1);

  await hub.mint('control-rot', fleetIds.control(HUB_TD)); // SPIRE rewrote the files with a new SVID
  timers.advance(FILE_REFRESH_MS);
  const second = await eventually('a new hub connection', () =>
    ready.connection() !== first ? ready.connection() : null,
  );
  await eventually('the old connection drained and closed', () => first.isClosed());
  t.notOk(second.isClosed());
  const before = await seq();
  timers.advance(1000);
  await eventually('heartbeats go on over the new connection', async () => (await seq()) > before);
  const nc = await hub.connect();
  nc.publish(
    statusSubject('site-b', 'gw-5'),
    JSON.stringify({
      site: 'site-b',
      gateway: 'gw-5',
      time: new Date().toISOString(),
      policyRevision: 1,
      policyVersion: 'v',
      stalenessSeconds: 0,
      sessions: 0,
      audit: { lastSeq: 1, publishedSeq: 1 },
    }),
  );
  await eventually('status beats arrive on the new connection', () =>
    ready.status.list().some((x) => x.beat.gateway === 'gw-5'),
  );
  timers.advance(FILE_REFRESH_MS); // re-read synchronously; only changed content starts a rotation
  t.equal(ready.connection(), second, 'files unchanged: no new connection');
  stop();
  t.equal(await done, 0);
  t.ok(second.isClosed(), 'closed on stop');
  t.equal(timers.pending, 0, 'no refresh timer left');
});
