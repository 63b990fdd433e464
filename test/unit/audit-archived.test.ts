/**
 * Every segment archived off the box while checkpoints.jsonl stays: the log must not start again at seq 1 from
 * the genesis hash (a forked trail, segment names colliding with the archived ones, checkpoints naming seqs the
 * new chain lacks). It refuses to open, leaves the directory as it was, and opens again once the operator either
 * puts the newest segment back (the chain continues) or moves the checkpoints along (a new trail).
 * Only the newest segments archived, the older ones kept: the checkpoints sign a seq beyond the last present
 * event, so continuing from it would fork the trail too; refused the same way, until they are back.
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

/** A trail over several segments, checkpointed at its head (seq 42), whose NEWEST segment is then archived. */
async function newestArchived(t: { teardown(fn: () => void): void }) {
  const { dir, archive, archived } = await archivedTrail(t);
  const newest = archived.at(-1)!;
  for (const s of archived.slice(0, -1)) renameSync(join(archive, s), join(dir, s)); // the older ones stay
  const kept = events(join(dir, archived.at(-2)!)).at(-1)!;
  return { dir, archive, newest, kept };
}

t.test('only the newest segment archived, checkpoints kept: open is refused and changes nothing', async (t) => {
  const { dir, newest, kept } = await newestArchived(t);
  t.ok(kept.seq < 42, `the last present event is seq ${kept.seq}`);
  const before = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
  await t.rejects(open(dir), {
    code: 'GW_ERR_AUDIT_WRITE',
    message: new RegExp(
      `the newest event in .* is seq ${kept.seq} \\(audit-\\d{16}\\.jsonl\\), but checkpoints\\.jsonl signs the chain ` +
        `up to seq 42: .*would fork the trail.*put the archived segments back.*move the remaining segments and ` +
        `checkpoints\\.jsonl to the archive`,
    ),
  });
  t.same(new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))])), before, 'the directory as it was');
  t.notOk(readdirSync(dir).includes(newest), 'no segment made in its place');
});

t.test('a torn line after the last present event: refused, and the tail is not cut', async (t) => {
  const { dir, kept } = await newestArchived(t);
  const last = listSegments(dir).at(-1)!;
  writeFileSync(join(dir, last), readFileSync(join(dir, last), 'utf8') + '{"seq":', { flag: 'w' });
  const size = readFileSync(join(dir, last)).length;
  await t.rejects(open(dir), { message: new RegExp(`newest event .* is seq ${kept.seq}\\b`) });
  t.equal(readFileSync(join(dir, last)).length, size, 'no repair before the refusal');
});

t.test('the newest segment put back: the directory is whole again and opens', async (t) => {
  const { dir, archive, newest } = await newestArchived(t);
  renameSync(join(archive, newest), join(dir, newest));
  const log = await open(dir);
  t.equal(log.head().seq, 43, 'audit.started follows the checkpointed head');
  await log.close();
  t.ok(verifyAuditDir(dir).ok, 'one trail, checkpoints included');
});

t.test('an unchanged directory over several segments opens, its head checkpointed', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'vg-arch-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'audit');
  const log = await open(dir);
  for (let i = 0; i < 41; i++) log.append(ev(i));
  await log.close();
  t.ok(listSegments(dir).length > 1);
  const again = await open(dir);
  t.equal(again.head().seq, 43, 'audit.started follows seq 42: the chain continues');
  await again.close();
  t.ok(verifyAuditDir(dir).ok);
});
