import t from 'tap';
import { createPrivateKey } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { canonicalJson, eventHash } from '../../gateway/audit/canonical-json.js';
import { svidCheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import { auditCommand } from '../../gateway/cli/audit-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { makeTestPki, type TestPki } from '../helpers/rsyslog.js';

const root = mkdtempSync(join(tmpdir(), 'vg-verify-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let pki: TestPki;
let pristine: string;
let n = 0;

t.before(async () => {
  pki = await makeTestPki(join(root, 'pki'));
  pristine = join(root, 'pristine');
  const signer = svidCheckpointSigner(() => ({
    privateKey: createPrivateKey(pki.clientKeyPem),
    chainPem: pki.clientCertPem,
    spiffeId: pki.clientSpiffeId,
  }));
  const log = await AuditLog.open({
    dir: pristine,
    fsync: 'never',
    segmentBytes: 1500,
    checkpoint: { everyEvents: 10, signer },
  });
  let signed: () => void = () => {};
  log.subscribe({ checkpoint: () => signed() });
  for (let i = 0; i < 30; i++) {
    log.append({
      type: 'session.open',
      session: `s${i}`,
      identity: 'spiffe://plant.example/hmi/line1',
      peer: `127.0.0.1:${4000 + i}`,
      transport: 'mbaps',
    });
    // the turn's group commit writes the 10 events; the checkpoint is signed after a background fdatasync
    if (i % 10 === 9) await new Promise<void>((r) => (signed = r));
  }
  await log.close(); // checkpoints at seq 11, 21, 31
});

/** A fresh copy of the pristine directory plus helpers to edit it as one list of lines. */
function copy() {
  const dir = join(root, `case-${n++}`);
  cpSync(pristine, dir, { recursive: true });
  const segs = listSegments(dir);
  const read = () =>
    segs.map((s) =>
      readFileSync(join(dir, s), 'utf8')
        .split('\n')
        .filter((l) => l.length > 0),
    );
  const where = (seq: number) => {
    const all = read();
    for (let i = 0; i < all.length; i++) {
      const j = all[i]!.findIndex((l) => (JSON.parse(l) as { seq: number }).seq === seq);
      if (j >= 0) return { seg: i, segment: segs[i]!, line: j + 1 };
    }
    throw new Error(`seq ${seq} not found`);
  };
  const edit = (seg: number, fn: (lines: string[]) => string[]) => {
    const lines = fn(read()[seg]!);
    writeFileSync(join(dir, segs[seg]!), lines.map((l) => l + '\n').join(''));
  };
  return { dir, segs, read, where, edit };
}

t.test('the pristine log verifies, with and without the trust bundle', async (t) => {
  t.match(verifyAuditDir(pristine), { ok: true, events: 31, checkpoints: 3 });
  t.match(verifyAuditDir(pristine, { trustBundlePem: pki.caPem }), { ok: true, events: 31, checkpoints: 3 });
  t.ok(listSegments(pristine).length >= 3, 'several segments');
});

t.test('modified event: named by segment, line and seq', async (t) => {
  const c = copy();
  const at = c.where(12);
  c.edit(at.seg, (ls) => ls.map((l, i) => (i === at.line - 1 ? l.replace('127.0.0.1', '10.6.6.6') : l)));
  t.same(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: at.segment, line: at.line, seq: 12 },
    reason: 'hash does not match the event (modified)',
  });
});

t.test('modified event with its own hash recomputed: the next link breaks', async (t) => {
  const c = copy();
  const at = c.where(12);
  c.edit(at.seg, (ls) =>
    ls.map((l, i) => {
      if (i !== at.line - 1) return l;
      const rec = JSON.parse(l.replace('127.0.0.1', '10.6.6.6')) as Record<string, unknown>;
      return canonicalJson({ ...rec, hash: eventHash(rec) });
    }),
  );
  const next = c.where(13);
  t.match(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: next.segment, line: next.line, seq: 13 },
    reason: /prev does not match/,
  });
});

t.test('whole tail rewritten consistently: the signed checkpoint catches it', async (t) => {
  const c = copy();
  const all = c.read();
  let prev = '';
  const rewritten = all.map((ls) =>
    ls.map((l) => {
      let rec = JSON.parse(l) as Record<string, unknown>;
      if ((rec['seq'] as number) >= 12) {
        if (rec['seq'] === 12) rec = { ...rec, peer: '10.6.6.6:1' };
        rec = { ...rec, prev };
        rec = { ...rec, hash: eventHash(rec) };
      }
      prev = rec['hash'] as string;
      return canonicalJson(rec);
    }),
  );
  rewritten.forEach((ls, i) => writeFileSync(join(c.dir, c.segs[i]!), ls.map((l) => l + '\n').join('')));
  t.match(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: 'checkpoints.jsonl', line: 2, seq: 21 },
    reason: /head hash does not match event 21/,
  });
});

t.test('deleted event', async (t) => {
  const c = copy();
  const at = c.where(15);
  c.edit(at.seg, (ls) => ls.filter((_, i) => i !== at.line - 1));
  t.match(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: at.segment, line: at.line, seq: 16 },
    reason: /sequence 16 where 15 was expected/,
  });
});

t.test('reordered events', async (t) => {
  const c = copy();
  const at = c.where(17);
  t.equal(c.where(18).seg, at.seg, 'same segment');
  c.edit(at.seg, (ls) => {
    const out = [...ls];
    [out[at.line - 1], out[at.line]] = [out[at.line]!, out[at.line - 1]!];
    return out;
  });
  t.match(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: at.segment, line: at.line, seq: 18 },
    reason: /sequence 18 where 17/,
  });
});

t.test('inserted event (self-consistent hash)', async (t) => {
  const c = copy();
  const at = c.where(21);
  c.edit(at.seg, (ls) => {
    const fake = JSON.parse(ls[at.line - 1]!) as Record<string, unknown>;
    const rec = { ...fake, session: 'forged' };
    const out = [...ls];
    out.splice(at.line - 1, 0, canonicalJson({ ...rec, hash: eventHash(rec) }));
    return out;
  });
  // the forged copy claims seq 21 and links correctly; the original seq 21 after it is the first bad one
  t.match(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: at.segment, line: at.line + 1, seq: 21 },
    reason: /sequence 21 where 22 was expected/,
  });
  const c2 = copy();
  const at2 = c2.where(21);
  c2.edit(at2.seg, (ls) => {
    const out = [...ls];
    out.splice(at2.line - 1, 0, ls[at2.line - 1]!.replace('"seq":21', '"seq":99'));
    return out;
  });
  t.match(verifyAuditDir(c2.dir), { ok: false, firstBad: { segment: at2.segment, line: at2.line, seq: 99 } });
});

t.test('truncated tail: the last checkpoint names events that are gone', async (t) => {
  const c = copy();
  const last = c.segs.length - 1;
  const at = c.where(31);
  const end = c.where(29);
  t.equal(at.seg, last);
  c.edit(last, (ls) => ls.slice(0, end.line - 1)); // drop seq 29..31, whole lines: the chain alone looks fine
  const kept = c.where(28);
  t.same(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: kept.segment, line: kept.line + 1, seq: 29 },
    reason: 'truncated: checkpoint 3 names seq 31 but the log ends at seq 28',
  });
});

t.test('a whole segment deleted: at the end (truncation) and in the middle', async (t) => {
  const c = copy();
  unlinkSync(join(c.dir, c.segs.at(-1)!));
  t.match(verifyAuditDir(c.dir), { ok: false, reason: /truncated: checkpoint \d names seq 31/ });
  const d = copy();
  unlinkSync(join(d.dir, d.segs[1]!));
  t.match(verifyAuditDir(d.dir), {
    ok: false,
    firstBad: { segment: d.segs[2], line: 1 },
    reason: /missing or renamed segment/,
  });
});

t.test('bad checkpoint signature', async (t) => {
  const c = copy();
  const cpFile = join(c.dir, 'checkpoints.jsonl');
  const lines = readFileSync(cpFile, 'utf8').trim().split('\n');
  const cp = JSON.parse(lines[1]!) as { sig: string };
  const sig = Buffer.from(cp.sig, 'base64url');
  sig[5] = sig[5]! ^ 0xff;
  lines[1] = JSON.stringify({ ...cp, sig: sig.toString('base64url') });
  writeFileSync(cpFile, lines.join('\n') + '\n');
  t.same(verifyAuditDir(c.dir), {
    ok: false,
    firstBad: { segment: 'checkpoints.jsonl', line: 2, seq: 21 },
    reason: 'bad checkpoint signature',
  });
});

t.test('checkpoint signed by a key outside the trust bundle', async (t) => {
  const c = copy();
  const other = await makeTestPki(join(root, 'other-pki'));
  t.match(verifyAuditDir(c.dir, { trustBundlePem: other.caPem }), {
    ok: false,
    firstBad: { segment: 'checkpoints.jsonl', line: 1 },
    reason: /does not chain/,
  });
});

t.test('verigate audit verify: ok, first bad record, usage', async (t) => {
  const io = memoryIo();
  t.equal(await auditCommand(['verify', pristine, '--bundle', pki.caFile], io), 0);
  t.match(io.stdout.join('\n'), /^ok: 31 events, 3 checkpoints verified/);

  const c = copy();
  const at = c.where(15);
  c.edit(at.seg, (ls) => ls.filter((_, i) => i !== at.line - 1));
  const bad = memoryIo();
  t.equal(await auditCommand(['verify', c.dir], bad), 1);
  t.equal(
    bad.stderr[0],
    `FAIL: ${at.segment}:${at.line} (seq 16): sequence 16 where 15 was expected (deleted, inserted or reordered event)`,
  );

  const u = memoryIo();
  t.equal(await auditCommand(['check', c.dir], u), 2);
  t.equal(await auditCommand(['verify'], u), 2);
  t.equal(await auditCommand(['verify', c.dir, '--bogus'], u), 2);
  t.equal(await auditCommand(['verify', c.dir, '--bundle', join(root, 'nope.pem')], u), 2);
  t.match(u.stderr.join('\n'), /usage: verigate audit verify DIR/);
  const missing = memoryIo();
  t.equal(await auditCommand(['verify', join(root, 'missing')], missing), 1);
});

t.test('pinning the signer and checking an off-box checkpoint', async (t) => {
  t.match(verifyAuditDir(pristine, { signer: pki.clientSpiffeId }), { ok: true });
  t.match(verifyAuditDir(pristine, { signer: 'spiffe://plant.example/verigate-other' }), {
    ok: false,
    reason: /signed by .*expected spiffe:\/\/plant.example\/verigate-other/,
  });
  // An attacker on the box cuts the tail AND the checkpoint lines that named it: only an off-box copy tells.
  const c = copy();
  const cps = readFileSync(join(c.dir, 'checkpoints.jsonl'), 'utf8').trim().split('\n');
  const last = JSON.parse(cps[cps.length - 1]!) as { seq: number };
  const lastSeg = c.segs.length - 1;
  c.edit(lastSeg, (lines) => lines.filter((l) => (JSON.parse(l) as { seq: number }).seq < last.seq - 3));
  writeFileSync(
    join(c.dir, 'checkpoints.jsonl'),
    cps
      .slice(0, -1)
      .map((l) => l + '\n')
      .join(''),
  );
  t.match(verifyAuditDir(c.dir), { ok: true }, 'on-box evidence alone is consistent');
  t.match(verifyAuditDir(c.dir, { external: [JSON.parse(cps[cps.length - 1]!)] }), {
    ok: false,
    reason: /truncated: an external checkpoint names seq/,
  });
  const offBox = join(c.dir, '..', `siem-${n}.jsonl`);
  writeFileSync(offBox, cps[cps.length - 1]! + '\n');
  const io = memoryIo();
  t.equal(await auditCommand(['verify', c.dir, '--checkpoint', offBox], io), 1);
  t.match(io.stderr.join('\n'), /truncated/);
});
