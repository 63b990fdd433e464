/**
 * The checkpoint cadence, driven by hand: a host whose background fdatasync completes when the test says,
 * so the order of "sync done" and "the turn's queued check" is the test's, not the disk's.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { AuditCheckpointer, type CheckpointHost } from '../../gateway/audit/audit-checkpointer.js';
import type { Checkpoint } from '../../gateway/audit/audit-checkpoint.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(t: { teardown(fn: () => void): void }, everyEvents: number, sign: () => void = () => undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'vg-cpr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const state = { head: 0, syncs: [] as ((err: Error | null) => void)[], signed: [] as Checkpoint[] };
  const host: CheckpointHost = {
    writtenHead: () => ({ seq: state.head, hash: 'a'.repeat(64) }),
    syncNow: () => undefined,
    syncAsync: (done) => void state.syncs.push(done),
    synced: () => undefined,
    syncTarget: () => state.head,
    syncFailing: () => false,
    time: () => '2026-12-02T00:00:00.000Z',
    published: (cp) => void state.signed.push(cp),
    isClosed: () => false,
  };
  const signer = {
    sign: () => (sign(), { alg: 'ES256', sig: 'c2ln', spiffeId: 'spiffe://plant.example/verigate', certChainPem: '' }),
  };
  const report = { failed: () => undefined, signed: () => undefined, logger: pino({ level: 'silent' }) };
  const cp = new AuditCheckpointer(dir, { everyEvents, signer }, host, report, { lastSeq: 0, lastCheckpointSeq: 0 });
  t.teardown(() => cp.close());
  const write = (n: number): void => {
    state.head += n;
    cp.noteWritten(n);
  };
  return { cp, state, write };
}

t.test('a few events written during a sync get no checkpoint of their own when it completes', async (t) => {
  const { state, write } = setup(t, 5);
  write(5);
  await turn();
  t.equal(state.syncs.length, 1, 'everyEvents reached: one background fdatasync');
  write(2); // 7 unsigned: this turn queues a check while the sync still runs
  state.syncs.shift()!(null); // the sync completes before that check runs (poll phase, then check phase)
  await turn();
  t.same(
    state.signed.map((c) => c.seq),
    [5],
    'the checkpoint covers the head its sync started at',
  );
  t.equal(state.syncs.length, 0, '2 unsigned events are below everyEvents: no second sync');
  write(3);
  await turn();
  t.equal(state.syncs.length, 1, 'the next everyEvents starts the next one');
  state.syncs.shift()!(null);
  t.same(
    state.signed.map((c) => c.seq),
    [5, 10],
  );
});

t.test('everyEvents written during a sync are checkpointed when it completes, with no write after', async (t) => {
  const { cp, state, write } = setup(t, 5);
  write(5);
  await turn();
  write(6); // 11 unsigned while the first sync runs; nothing is written after this
  await turn();
  t.equal(state.syncs.length, 1, 'one sync at a time');
  state.syncs.shift()!(null);
  t.same(
    state.signed.map((c) => c.seq),
    [5],
  );
  t.equal(state.syncs.length, 1, 'the 6 written meanwhile start their own checkpoint at once');
  state.syncs.shift()!(null);
  t.same(
    state.signed.map((c) => c.seq),
    [5, 11],
  );
  t.equal(cp.eventsSinceCheckpoint, 0);
});

t.test('a failed signature is not retried in a loop: only a write past everyEvents retries', async (t) => {
  const { state, write, cp } = setup(t, 5, () => {
    throw new Error('HSM unplugged');
  });
  write(5);
  await turn();
  write(6); // 11 unsigned while the sync runs: this turn's check is queued
  state.syncs.shift()!(null); // the signature fails
  await turn(); // the queued check is that write's retry
  t.equal(state.syncs.length, 1, 'the write during the sync retries once');
  state.syncs.shift()!(null); // fails again
  for (let i = 0; i < 5; i++) await turn();
  t.same(state.signed, [], 'nothing signed');
  t.equal(state.syncs.length, 0, 'no new fdatasync without a write');
  t.equal(cp.eventsSinceCheckpoint, 11);
  write(1);
  await turn();
  t.equal(state.syncs.length, 1, 'the next write past everyEvents tries again');
});
