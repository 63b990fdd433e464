/**
 * The collector's trail is durable before its cursor moves (audit-collector-nats.ts: handle → commit → cursor):
 * GatewayTrail.sync() flushes (fdatasync) what was appended since the last sync — events, checkpoints and the
 * problems file alike — synchronously, so a crash after the cursor moved cannot lose a checkpoint whose message
 * will never be read again. node:fs is wrapped to see which descriptors were flushed synchronously; the
 * thread-pool fdatasync of checkpoints.jsonl never completes here, like a power cut before it ran.
 */
import t, { type Test } from 'tap';
import * as realFs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Checkpoint } from '../../gateway/audit/audit-checkpoint.js';

interface Flushes {
  /** Paths of descriptors fdatasync'ed synchronously, in order. */
  readonly synced: string[];
}

async function trailModule(t: Test, flushes: Flushes) {
  const paths = new Map<number, string>();
  const fs = {
    ...realFs,
    openSync: (path: realFs.PathLike, flags: realFs.OpenMode, mode?: realFs.Mode) => {
      const fd = realFs.openSync(path, flags, mode);
      paths.set(fd, String(path));
      return fd;
    },
    fdatasyncSync: (fd: number) => {
      realFs.fdatasyncSync(fd);
      flushes.synced.push(paths.get(fd) ?? `fd ${fd}`);
    },
    // the thread pool's flush never completes (the crash comes first)
    fdatasync: () => undefined,
  };
  // the checkpoint file is mocked explicitly: the loader's mock did not reach node:fs two imports down
  const checkpointFile = await t.mockImport<typeof import('../../gateway/audit/checkpoint-file.js')>(
    '../../gateway/audit/checkpoint-file.js',
    { 'node:fs': fs },
  );
  return t.mockImport<typeof import('../../gateway/fleet/audit-gateway-trail.js')>(
    '../../gateway/fleet/audit-gateway-trail.js',
    { 'node:fs': fs, '../../gateway/audit/checkpoint-file.js': checkpointFile },
  );
}

const cp = (seq: number): Checkpoint => ({ seq, hash: 'h'.repeat(64) }) as unknown as Checkpoint;

t.test('a checkpoint appended since the last sync is flushed by sync()', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-trail-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flushes: Flushes = { synced: [] };
  const { GatewayTrail } = await trailModule(t, flushes);
  const trail = new GatewayTrail(join(dir, 'site-a', 'gw-1'));
  trail.appendCheckpoint(cp(5));
  trail.sync();
  t.ok(
    flushes.synced.some((p) => p.endsWith('checkpoints.jsonl')),
    'checkpoints.jsonl fdatasync-ed before sync() returns (the cursor moves after it)',
  );
  flushes.synced.length = 0;
  trail.sync();
  t.same(flushes.synced, [], 'nothing appended since: nothing to flush');
  trail.close();
});

t.test('a problem is on disk when noteProblem returns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-trail-sync-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const flushes: Flushes = { synced: [] };
  const { GatewayTrail, PROBLEMS_FILE } = await trailModule(t, flushes);
  const trail = new GatewayTrail(join(dir, 'site-a', 'gw-1'));
  trail.noteProblem('gap: 7 after 5', new Date(0).toISOString());
  trail.sync();
  t.ok(
    flushes.synced.some((p) => p.endsWith(PROBLEMS_FILE)),
    'problems.jsonl fdatasync-ed',
  );
  t.match(realFs.readFileSync(join(dir, 'site-a', 'gw-1', PROBLEMS_FILE), 'utf8'), /gap: 7 after 5/);
  trail.close();
});
