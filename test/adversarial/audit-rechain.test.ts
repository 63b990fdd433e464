/**
 * A trail re-chained on the box: an attacker rewrites an event, recomputes every hash after it and deletes (or,
 * holding the gateway's key, re-signs) the local checkpoints. On-box evidence alone is then consistent, so
 * `audit verify` (1) refuses a trail spanning more than the checkpoint interval that holds no checkpoint at all,
 * unless told to accept it, and (2) with the checkpoints the SIEM kept — the exported stream as stored, RFC 5424
 * or CEF — fails, naming the stream line whose checkpoint no longer matches. The trail is written by the real
 * AuditLog with an injected clock (one event every 10 s); the stream lines by the exporter's own formatters.
 */
import t from 'tap';
import { createPrivateKey } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signCheckpoint, type Checkpoint } from '../../gateway/audit/audit-checkpoint.js';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { canonicalJson, eventHash } from '../../gateway/audit/canonical-json.js';
import { cefForCheckpoint, cefForEvent } from '../../gateway/audit/cef-format.js';
import { svidCheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import { parseExternalCheckpoints } from '../../gateway/audit/external-checkpoints.js';
import {
  frameOctetCounted,
  rfc5424ForCheckpoint,
  rfc5424ForEvent,
  Severity,
  syslogMessage,
  type SyslogHeader,
} from '../../gateway/audit/syslog-format.js';
import { auditCommand } from '../../gateway/cli/audit-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { makeTestPki } from '../helpers/rsyslog.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const root = mkdtempSync(join(tmpdir(), 'vg-rechain-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
const pki = await makeTestPki(join(root, 'pki'));
const signer = svidCheckpointSigner(() => ({
  privateKey: createPrivateKey(pki.clientKeyPem),
  chainPem: pki.clientCertPem,
  spiffeId: pki.clientSpiffeId,
}));

// audit.started, then 30 events 10 s apart (a 300 s span); checkpoints after every 10 events (seq 11, 21, 31).
const pristine = join(root, 'pristine');
const timers = new FakeTimers(Date.now() - 30 * 60_000); // inside the test certificate's validity
const log = await AuditLog.open({
  dir: pristine,
  fsync: 'never',
  segmentBytes: 2000,
  checkpoint: { everyEvents: 10, signer },
  timers,
});
const events: AuditRecord[] = [];
const checkpoints: Checkpoint[] = [];
let signed: () => void = () => {};
log.subscribe({ event: (r) => events.push(r), checkpoint: (c) => (checkpoints.push(c), signed()) });
for (let i = 0; i < 30; i++) {
  timers.advance(10_000);
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
await log.close();

// The exported stream as the SIEM stored it, three ways.
const header: SyslogHeader = {
  hostname: 'edge-1',
  appName: 'verigate',
  procId: '4242',
  facility: 13,
  enterpriseId: '32473',
};
type Item = { seq: number; text5424: string; cef: string };
const items: Item[] = [
  ...events.map((e) => ({
    seq: e.seq,
    text5424: rfc5424ForEvent(header, e),
    cef: cefForEvent('0.1.0', e, Severity.info),
  })),
  ...checkpoints.map((c) => ({
    seq: c.seq + 0.5,
    text5424: rfc5424ForCheckpoint(header, c),
    cef: cefForCheckpoint('0.1.0', c),
  })),
].sort((a, b) => a.seq - b.seq);
const streams = {
  'RFC 5424 lines': items.map((i) => i.text5424),
  'RFC 5425 frames, one per line': items.map((i) => frameOctetCounted(i.text5424).toString('utf8')),
  "rsyslog '%msgid% %structured-data% %msg%'": items.map((i) => i.text5424.split(' ').slice(5).join(' ')),
  'CEF in RFC 5424': items.map((i) =>
    syslogMessage(header, {
      time: '2026-03-04T10:00:00.000Z',
      msgId: i.cef.split('|')[4] ?? '',
      severity: Severity.notice,
      sd: '-',
      msg: i.cef,
    }),
  ),
};
const streamFiles = Object.entries(streams).map(([name, lines], k) => {
  const file = join(root, `siem-${k}.log`);
  writeFileSync(file, lines.join('\n') + '\n');
  return { name, file, lines };
});

let n = 0;
/** A copy of the trail with event `seq` rewritten and every later hash recomputed; checkpoints deleted. */
function rechained(seq: number, opts: { resign?: boolean; keepCheckpointsBefore?: boolean } = {}): string {
  const dir = join(root, `case-${n++}`);
  cpSync(pristine, dir, { recursive: true });
  let prev: string | null = null;
  for (const seg of listSegments(dir)) {
    const out = readFileSync(join(dir, seg), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => {
        let rec = JSON.parse(l) as Record<string, unknown>;
        if (rec['seq'] === seq) rec = { ...rec, peer: '10.6.6.6:4444' };
        if (prev !== null) rec = { ...rec, prev };
        if ((rec['seq'] as number) >= seq) {
          const { hash: _drop, ...body } = rec;
          rec = { ...body, hash: eventHash(body) };
        }
        prev = (rec['seq'] as number) >= seq ? (rec['hash'] as string) : null;
        return canonicalJson(rec);
      });
    writeFileSync(join(dir, seg), out.map((l) => l + '\n').join(''));
  }
  if (opts.keepCheckpointsBefore === true) {
    // Keep the checkpoints that precede the rewrite (they still match); delete only those it invalidated.
    const kept = checkpoints
      .filter((c) => c.seq < seq)
      .map((c) => JSON.stringify(c) + '\n')
      .join('');
    writeFileSync(join(dir, 'checkpoints.jsonl'), kept);
  } else unlinkSync(join(dir, 'checkpoints.jsonl'));
  if (opts.resign === true) {
    // The attacker holds the gateway's key: a fresh, validly signed checkpoint over the forged head.
    const last = JSON.parse(
      readFileSync(join(dir, listSegments(dir).at(-1)!), 'utf8')
        .trim()
        .split('\n')
        .at(-1)!,
    ) as { seq: number; hash: string; time: string };
    writeFileSync(
      join(dir, 'checkpoints.jsonl'),
      JSON.stringify(signCheckpoint({ seq: last.seq, headHash: last.hash, time: last.time }, signer)) + '\n',
    );
  }
  return dir;
}

t.test('the pristine trail verifies, alone and against every stored form of the stream', async (t) => {
  t.same(
    checkpoints.map((c) => c.seq),
    [11, 21, 31],
    'checkpoints at 11, 21, 31 (none more at close)',
  );
  t.match(verifyAuditDir(pristine), { ok: true, events: 31, checkpoints: 3 });
  for (const s of streamFiles) {
    const p = parseExternalCheckpoints(s.lines.join('\n'), s.name);
    t.equal(p.ok ? p.checkpoints.length : -1, 3, `${s.name}: the three checkpoints are found among the events`);
    const io = memoryIo();
    t.equal(
      await auditCommand(
        ['verify', pristine, '--checkpoint', s.file, '--bundle', pki.caFile, '--signer', pki.clientSpiffeId],
        io,
      ),
      0,
      s.name,
    );
    t.match(io.stdout[0], /^ok: 31 events, 3 checkpoints verified, 3 off-box checkpoints matched/);
  }
});

t.test('re-chained, checkpoints deleted: refused for want of any checkpoint unless told', async (t) => {
  const dir = rechained(15);
  const r = verifyAuditDir(dir);
  t.match(r, {
    ok: false,
    firstBad: { seq: 31 },
    reason: /^no checkpoint in a trail spanning 300 s .*longer than the checkpoint interval of 60 s/,
  });
  t.match(
    verifyAuditDir(dir, { allowMissingCheckpoints: true }),
    { ok: true, events: 31, checkpoints: 0 },
    'the on-box chain alone is consistent',
  );
  t.match(
    verifyAuditDir(dir, { checkpointIntervalMs: 300_000 }),
    { ok: true },
    'a trail shorter than the interval needs none',
  );

  const io = memoryIo();
  t.equal(await auditCommand(['verify', dir], io), 1, 'exit 1');
  t.match(
    io.stderr.join('\n'),
    /FAIL: audit-\d+\.jsonl:\d+ \(seq 31\): no checkpoint in a trail spanning 300 s[\s\S]*--allow-missing-checkpoints/,
  );
  t.equal(await auditCommand(['verify', dir, '--allow-missing-checkpoints'], memoryIo()), 0);
  t.equal(await auditCommand(['verify', dir, '--checkpoint-interval', '5m'], memoryIo()), 0);
  t.equal(await auditCommand(['verify', dir, '--checkpoint-interval', '4m'], memoryIo()), 1);
  const bad = memoryIo();
  t.equal(await auditCommand(['verify', dir, '--checkpoint-interval', 'soon'], bad), 2);
  t.match(bad.stderr.join('\n'), /not a duration/);
});

t.test(
  're-chained, only the checkpoints after the rewrite deleted: the uncovered tail is refused unless told',
  async (t) => {
    // The checkpoints at seq 11 and 21 precede the rewrite of seq 25 and still match; 31 is gone. The events
    // after the last checkpoint span 90 s: a gateway checkpointing every 60 s would have covered them.
    const dir = rechained(25, { keepCheckpointsBefore: true });
    t.match(
      verifyAuditDir(dir, { allowMissingCheckpoints: true }),
      { ok: true, checkpoints: 2 },
      'the on-box chain alone is consistent',
    );
    t.match(verifyAuditDir(dir), {
      ok: false,
      firstBad: { seq: 31 },
      reason: /^no checkpoint after seq 21: events 22-31 spanning 90 s/,
    });
    t.match(
      verifyAuditDir(dir, { checkpointIntervalMs: 90_000 }),
      { ok: true },
      'a tail within the interval needs none',
    );
    t.match(
      verifyAuditDir(dir, { external: checkpoints.slice(0, 2) }),
      { ok: false },
      'off-box checkpoints before the rewrite do not cover the tail',
    );
    t.equal(await auditCommand(['verify', dir], memoryIo()), 1, 'exit 1');
    t.match(verifyAuditDir(pristine), { ok: true }, 'the pristine trail: its last checkpoint is at its head');
  },
);

t.test('re-chained, checkpoints deleted, last event time made unreadable: its span cannot hide the gap', async (t) => {
  const dir = rechained(15);
  const seg = join(dir, listSegments(dir).at(-1)!);
  const lines = readFileSync(seg, 'utf8').trim().split('\n');
  const { hash: _drop, ...body }: Record<string, unknown> = {
    ...(JSON.parse(lines.at(-1)!) as Record<string, unknown>),
    time: 'soon',
  };
  lines[lines.length - 1] = canonicalJson({ ...body, hash: eventHash(body) });
  writeFileSync(seg, lines.map((l) => l + '\n').join(''));
  t.match(verifyAuditDir(dir, { allowMissingCheckpoints: true }), { ok: true }, 'the on-box chain alone is consistent');
  t.match(verifyAuditDir(dir), { ok: false, reason: /^no checkpoint in a trail with an unreadable time \(seq 31\)/ });
});

t.test('re-chained: the SIEM copy names the checkpoint that no longer matches', async (t) => {
  for (const resign of [false, true]) {
    const dir = rechained(15, { resign });
    if (resign)
      t.match(
        verifyAuditDir(dir),
        { ok: true, checkpoints: 1 },
        're-signed with the gateway key: on-box evidence verifies',
      );
    for (const s of streamFiles) {
      const line =
        s.lines.findIndex((l) => l.includes('audit.checkpoint') && l.includes(`${checkpoints[1]!.headHash}`)) + 1;
      const io = memoryIo();
      t.equal(
        await auditCommand(['verify', dir, '--checkpoint', s.file, '--allow-missing-checkpoints'], io),
        1,
        `${s.name}${resign ? ' (re-signed)' : ''}: exit 1`,
      );
      t.match(
        io.stderr[0],
        new RegExp(
          `^FAIL: \\S*siem-\\d\\.log:${line} \\(seq 21\\): head hash [0-9a-f]{16}… of the off-box checkpoint does not match event 21`,
        ),
        'names the stream line and the event',
      );
    }
  }
  // The checkpoint at seq 10 precedes the rewrite and still matches: a rewrite after the last off-box checkpoint
  // is beyond what any checkpoint can see (state it, do not pretend).
  t.match(verifyAuditDir(rechained(25), { external: checkpoints.slice(0, 2), allowMissingCheckpoints: true }), {
    ok: true,
  });
  t.match(verifyAuditDir(rechained(25), { external: checkpoints }), { ok: false, reason: /does not match event 31/ });
});

t.test('a stream that cannot serve as evidence is a usage error', async (t) => {
  const empty = join(root, 'no-checkpoints.log');
  writeFileSync(empty, streams['RFC 5424 lines'].filter((l) => !l.includes('audit.checkpoint')).join('\n'));
  const io = memoryIo();
  t.equal(await auditCommand(['verify', pristine, '--checkpoint', empty], io), 2);
  t.match(io.stderr.join('\n'), /holds no checkpoint/);
  const torn = join(root, 'torn.log');
  writeFileSync(
    torn,
    streams['RFC 5424 lines'].map((l) => (l.includes('audit.checkpoint') ? l.slice(0, -20) : l)).join('\n'),
  );
  const io2 = memoryIo();
  t.equal(await auditCommand(['verify', pristine, '--checkpoint', torn], io2), 2);
  t.match(io2.stderr.join('\n'), /torn\.log:\d+: checkpoint message is not valid JSON/);
});
