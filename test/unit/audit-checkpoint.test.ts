import t from 'tap';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCheckpoint, signCheckpoint, type Checkpoint } from '../../gateway/audit/audit-checkpoint.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { svidCheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { buildCertificate, exportPkcs8, generateKeyPair, KeyUsage } from '../../gateway/identity/cert-builder.js';
import { makeTestPki } from '../helpers/rsyslog.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const ID = 'spiffe://plant.example/verigate';

/** A generated EC P-256 key and a self-signed certificate naming `id` (URI SAN). */
async function selfSigned(id = ID, notAfter = new Date(Date.now() + 3600_000)) {
  const keys = await generateKeyPair();
  const cert = buildCertificate({
    subject: 'CN=verigate',
    keys,
    notBefore: new Date(Date.now() - 60_000),
    notAfter,
    keyUsage: KeyUsage.digitalSignature,
    eku: null,
    uris: [id],
  });
  const der = exportPkcs8(keys.privateKey);
  const privateKey: KeyObject = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { privateKey, chainPem: cert.toString(), spiffeId: id };
}

const head = { seq: 10, headHash: 'a'.repeat(64), time: new Date().toISOString() };

t.test('ES256 checkpoint with a self-signed SVID-like certificate verifies; tampering does not', async (t) => {
  const svid = await selfSigned();
  const cp = signCheckpoint(
    head,
    svidCheckpointSigner(() => svid),
  );
  t.equal(cp.alg, 'ES256');
  t.equal(cp.signer.spiffeId, ID);
  t.equal(Buffer.from(cp.sig, 'base64url').length, 64, 'P1363 r||s');
  t.equal(checkCheckpoint(cp), null);
  t.equal(checkCheckpoint(cp, svid.chainPem), null, 'self-signed cert as its own bundle');
  t.equal(checkCheckpoint({ ...cp, headHash: 'b'.repeat(64) }), 'bad checkpoint signature');
  t.equal(checkCheckpoint({ ...cp, seq: 11 }), 'bad checkpoint signature');
  t.match(
    checkCheckpoint({ ...cp, signer: { ...cp.signer, spiffeId: 'spiffe://plant.example/other' } }),
    /does not name/,
  );
  t.match(checkCheckpoint({ ...cp, time: '2000-01-01T00:00:00.000Z' }), /not valid at checkpoint time/);
  const other = await selfSigned();
  t.equal(
    checkCheckpoint({ ...cp, signer: { ...cp.signer, certChainPem: other.chainPem } }),
    'bad checkpoint signature',
    'swapped certificate',
  );
  t.match(checkCheckpoint(cp, other.chainPem), /does not chain/, 'foreign bundle');
});

t.test('CA-issued signer chains to the trust bundle', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-cp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pki = await makeTestPki(dir);
  const cp = signCheckpoint(
    head,
    svidCheckpointSigner(() => ({
      privateKey: pki.clientKey,
      chainPem: pki.clientCertPem,
      spiffeId: pki.clientSpiffeId,
    })),
  );
  t.equal(checkCheckpoint(cp, pki.caPem), null);
  const stranger = await selfSigned(pki.clientSpiffeId);
  const forged = signCheckpoint(
    head,
    svidCheckpointSigner(() => stranger),
  );
  t.equal(checkCheckpoint(forged), null, 'without a bundle any self-consistent signer passes (documented)');
  t.match(checkCheckpoint(forged, pki.caPem), /does not chain/, 'the bundle catches a forger');
});

t.test(
  'the log signs every N events and every T ms, hands checkpoints to subscribers, follows SVID rotation',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-cp-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    let svid = await selfSigned();
    const seen: Checkpoint[] = [];
    const timers = new FakeTimers(Date.now()); // checkpoint times fall inside the signer's validity
    const log = await AuditLog.open({
      dir,
      fsync: 'never',
      checkpoint: { everyEvents: 5, everyMs: 100, signer: svidCheckpointSigner(() => svid) },
      timers,
    });
    let signed: () => void = () => {};
    log.subscribe({ checkpoint: (c) => (seen.push(c), signed()) });
    const nextCheckpoint = () => new Promise<void>((r) => (signed = r));
    for (let i = 0; i < 9; i++) log.append({ type: 'jit.expired', grantId: `g${i}` });
    // Group commit writes the 9 events when this turn ends; the checkpoint is signed after a background fdatasync.
    await new Promise((r) => setImmediate(r));
    t.equal(seen.length, 0, 'not signed on the request path');
    await nextCheckpoint();
    t.equal(seen.length, 1, 'one checkpoint after 5+ events');
    t.equal(seen[0]!.seq, log.head().seq, 'covers the head when signed');
    t.equal(log.lagDetail().eventsSinceCheckpoint, 0);
    const rotated = await selfSigned();
    svid = rotated;
    log.append({ type: 'jit.expired', grantId: 'late' });
    const tail = nextCheckpoint();
    await timers.tick(99);
    t.equal(seen.length, 1, 'one event is below everyEvents: no checkpoint before the timer');
    timers.advance(1); // the 100 ms checkpoint timer: a background fdatasync, then the signature
    await tail;
    t.equal(seen.length, 2, 'timer checkpoint for the tail');
    t.equal(seen[1]!.signer.certChainPem, rotated.chainPem, 'rotated SVID used');
    await log.close();
    const lines = readFileSync(join(dir, 'checkpoints.jsonl'), 'utf8').trim().split('\n');
    t.equal(lines.length, 2, 'close adds none when nothing is new');
    t.match(verifyAuditDir(dir), { ok: true, events: 11, checkpoints: 2 });
  },
);

t.test('a signer failure never breaks appends', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-cp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = await AuditLog.open({
    dir,
    fsync: 'never',
    checkpoint: {
      everyEvents: 1,
      signer: svidCheckpointSigner(() => {
        throw new Error('no SVID yet');
      }),
    },
  });
  t.ok(log.append({ type: 'jit.expired', grantId: 'g' }).ok);
  t.equal(log.checkpointNow(), null);
  t.equal(log.healthy(), true);
  await log.close();
});

t.test(
  'events written while a checkpoint syncs wait for the next everyEvents, not a checkpoint of their own',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vg-cp-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const svid = await selfSigned();
    const seen: Checkpoint[] = [];
    const log = await AuditLog.open({
      dir,
      fsync: 'never',
      checkpoint: { everyEvents: 5, signer: svidCheckpointSigner(() => svid) },
      timers: new FakeTimers(Date.now()),
    });
    let signed: () => void = () => {};
    log.subscribe({ checkpoint: (c) => (seen.push(c), signed()) });
    // Five turns of 5 events each: every turn crosses everyEvents, some while the previous fdatasync runs.
    for (let turn = 0; turn < 5; turn++) {
      for (let i = 0; i < 5; i++) log.append({ type: 'jit.expired', grantId: `g${turn}.${i}` });
      await new Promise((r) => setImmediate(r));
    }
    // No event follows: the checkpoints still pending must come by themselves (a hang here fails on tap's timeout).
    while (log.lagDetail().eventsSinceCheckpoint >= 5) await new Promise<void>((r) => (signed = r));
    t.ok(seen.length >= 1, 'signed at least once');
    const seqs = seen.map((c) => c.seq);
    for (let i = 1; i < seqs.length; i++)
      t.ok(seqs[i]! - seqs[i - 1]! >= 5, `checkpoint ${seqs[i]} is at least everyEvents after ${seqs[i - 1]}`);
    t.ok(log.lagDetail().eventsSinceCheckpoint < 5, 'fewer than everyEvents left unsigned');
    await log.close();
  },
);
