/**
 * `verigate control serve` against a real nats-server (test/helpers/nats-hub.ts), heartbeat on fake timers:
 * `{ time, seq, by }` lands under `heartbeat` in every site bucket at start and on each tick; a gateway's
 * status beat on `fleet.status.<site>.<gw>` is kept (a malformed one dropped); the stop signal ends it with
 * exit 0 and no further beat.
 */
import t from 'tap';
import { Kvm } from '@nats-io/kv';
import { memoryIo } from '../../gateway/cli/cli-io.js';
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
