/**
 * Every segment archived off the box while checkpoints.jsonl stays: the log must not start again at seq 1 from
 * the genesis hash (a forked trail, segment names colliding with the archived ones, checkpoints naming seqs the
 * new chain lacks). It refuses to open, leaves the directory as it was, and opens again once the operator either
 * puts the newest segment back (the chain continues) or moves the checkpoints along (a new trail).
 */
import t from 'tap';
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { CHECKPOINTS_FILE, listSegments } from '../../gateway/audit/audit-segments.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { svidCheckpointSigner, type CheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import { makeTestPki } from '../helpers/rsyslog.js';

const ev = (i: number): AuditEventInput =>
  ({ type: 'session.close', session: `s${i}`, identity: 'spiffe://t/a', reason: 'r' }) as unknown as AuditEventInput;
let signer: CheckpointSigner;
t.before(async () => {
  const root = mkdtempSync(join(tmpdir(), 'vg-arch-pki-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const pki = await makeTestPki(root);
  const key = createPrivateKey(pki.clientKeyPem);
  signer = svidCheckpointSigner(() => ({ privateKey: key, chainPem: pki.clientCertPem, spiffeId: pki.clientSpiffeId }));
});
const open = (dir: string) => AuditLog.open({ dir, fsync: 'never', segmentBytes: 4096, checkpoint: { signer } });
const events = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number; hash: string; prev: string; type: string });

/** A trail of two segments whose head (seq 42) is checkpointed, all of it then archived into `archive`. */
async function archivedTrail(t: { teardown(fn: () => void): void }) {
  const root = mkdtempSync(join(tmpdir(), 'vg-arch-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'audit');
  const archive = join(root, 'archive');
  const log = await open(dir);
  for (let i = 0; i < 41; i++) log.append(ev(i));
  await log.close(); // the final checkpoint names seq 42
  mkdirSync(archive);
  const archived = listSegments(dir);
  for (const s of archived) renameSync(join(dir, s), join(archive, s));
  return { dir, archive, archived };
}

t.test('every segment archived, checkpoints kept: open is refused and changes nothing', async (t) => {
  const { dir, archived } = await archivedTrail(t);
  t.ok(archived.length > 1, `archived ${archived.length} segments`);
  const checkpoints = readFileSync(join(dir, CHECKPOINTS_FILE));
  writeFileSync(join(dir, archived.at(-1)!), ''); // an empty segment is no event: still refused
  await t.rejects(open(dir), {
    code: 'GW_ERR_AUDIT_WRITE',
    message:
      /holds no audit events, but checkpoints\.jsonl signs the chain up to seq 42: .*put the newest archived segment back.*move checkpoints\.jsonl to the archive/,
  });
  t.same(readdirSync(dir).sort(), [archived.at(-1)!, CHECKPOINTS_FILE].sort(), 'no segment created');
  t.same(readFileSync(join(dir, CHECKPOINTS_FILE)), checkpoints, 'checkpoints untouched');
});

t.test('the newest segment put back: the chain continues after the archived head', async (t) => {
  const { dir, archive, archived } = await archivedTrail(t);
  const newest = archived.at(-1)!;
  renameSync(join(archive, newest), join(dir, newest));
  const head = events(join(dir, newest)).at(-1)!;
  t.equal(head.seq, 42);
  const log = await open(dir);
  t.equal(log.head().seq, 43, 'audit.started follows seq 42');
  await log.close();
  t.match(
    events(join(dir, newest)).find((e) => e.seq === 43),
    { prev: head.hash, type: 'audit.started' },
  );
  // the archive and the box together are one trail again
  for (const s of listSegments(archive)) renameSync(join(archive, s), join(dir, s));
  t.ok(verifyAuditDir(dir, { allowMissingCheckpoints: true }).ok, 'one trail, verified from seq 1');
});

t.test('the checkpoints moved to the archive too: a new trail starts at seq 1', async (t) => {
  const { dir, archive } = await archivedTrail(t);
  renameSync(join(dir, CHECKPOINTS_FILE), join(archive, CHECKPOINTS_FILE));
  t.ok(verifyAuditDir(archive).ok, 'the archive verifies on its own, checkpoints included');
  const log = await open(dir);
  t.equal(log.head().seq, 1);
  await log.close();
  t.ok(verifyAuditDir(dir).ok, 'and so does the new trail');
});
