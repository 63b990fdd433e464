/**
 * Verification and recovery compare bytes, not decoded text: UTF-8 decoding maps invalid bytes to U+FFFD, so a
 * stored U+FFFD (EF BF BD) replaced by a single 0xFF decodes to the same line, same hash. Such a line is no line
 * the log wrote: the verifier names it, and recovery cuts it when it is the torn-tail candidate.
 */
import t from 'tap';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { svidCheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import { makeTestPki } from '../helpers/rsyslog.js';

const FFFD = Buffer.from([0xef, 0xbf, 0xbd]);
const ev = (reason: string): AuditEventInput =>
  ({ type: 'session.close', session: 's1', identity: 'spiffe://t/a', reason }) as unknown as AuditEventInput;

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'vg-utf8-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Replaces the first stored U+FFFD of `file` at or after byte `from` with the one byte 0xFF. */
function tamper(file: string, from = 0): void {
  const before = readFileSync(file);
  const at = before.indexOf(FFFD, from);
  if (at < 0) throw new Error('no U+FFFD stored');
  writeFileSync(file, Buffer.concat([before.subarray(0, at), Buffer.from([0xff]), before.subarray(at + 3)]));
}

async function trail(t: { teardown(fn: () => void): void }, reasons: string[]): Promise<string> {
  const dir = tmp(t);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  for (const r of reasons) log.append(ev(r));
  await log.close();
  return dir;
}

t.test('an event whose U+FFFD became the byte 0xFF fails verification, named by segment and line', async (t) => {
  const dir = await trail(t, ['peer sent \uFFFD', 'later']);
  t.ok(verifyAuditDir(dir, { allowMissingCheckpoints: true }).ok, 'the pristine trail verifies');
  const seg = listSegments(dir)[0]!;
  tamper(join(dir, seg));
  t.match(verifyAuditDir(dir, { allowMissingCheckpoints: true }), {
    ok: false,
    firstBad: { segment: seg, line: 2, seq: 2 },
    reason: 'line is not valid UTF-8 (modified)',
  });
});

t.test('a checkpoint line with the same change fails verification', async (t) => {
  const pki = await makeTestPki(join(tmp(t), 'pki'));
  const dir = tmp(t);
  const svid = () => ({
    privateKey: createPrivateKey(pki.clientKeyPem),
    chainPem: pki.clientCertPem + '\uFFFD', // text around the PEM blocks is not read: the signature still holds
    spiffeId: pki.clientSpiffeId,
  });
  const log = await AuditLog.open({ dir, fsync: 'never', checkpoint: { signer: svidCheckpointSigner(svid) } });
  log.append(ev('x'));
  await log.close();
  t.ok(verifyAuditDir(dir).ok, 'the pristine trail and its checkpoint verify');
  tamper(join(dir, 'checkpoints.jsonl'));
  t.match(verifyAuditDir(dir), {
    ok: false,
    firstBad: { segment: 'checkpoints.jsonl', line: 1 },
    reason: 'checkpoint is not valid UTF-8 (modified)',
  });
});

t.test('recovery does not take a last line that is not UTF-8 as the chain head: cut and recorded', async (t) => {
  const dir = await trail(t, ['a', 'peer sent \uFFFD']);
  const seg = join(dir, listSegments(dir)[0]!);
  // the tail's U+FFFD: audit.started, a, the event with U+FFFD, then nothing (close writes no event)
  tamper(seg);
  const log = await AuditLog.open({ dir, fsync: 'never' });
  t.equal(log.head().seq, 4, 'seq 3 was cut, the audit.recovered is seq 3 and audit.started seq 4');
  await log.close();
  const recovered = readFileSync(seg, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e['type'] === 'audit.recovered');
  t.match(recovered, { reason: 'unparsable-tail', lastGoodSeq: 2 });
  t.ok(verifyAuditDir(dir, { allowMissingCheckpoints: true }).ok, 'the trail after the cut verifies');
});
