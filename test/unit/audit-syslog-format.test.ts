import t from 'tap';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { cefForEvent, cefHeaderEscape, cefLine, cefValueEscape } from '../../gateway/audit/cef-format.js';
import { DiskSpool } from '../../gateway/audit/syslog-spool.js';
import {
  asciiJson,
  frameOctetCounted,
  rfc5424ForEvent,
  sdValue,
  structuredData,
} from '../../gateway/audit/syslog-format.js';

const header = { hostname: 'edge-1', appName: 'verigate', procId: '42', facility: 13, enterpriseId: '32473' };
const rec = {
  seq: 7,
  time: '2026-01-02T03:04:05.678Z',
  type: 'request.decision',
  prev: 'p'.repeat(64),
  hash: 'h'.repeat(64),
  identity: 'spiffe://plant.example/hmi/line1',
  device: 'turbine-1',
  decision: 'deny',
  ruleId: null,
  reason: 'no rule allows holding 9000 = "x|y\\z"\nnext',
  outcome: 'denied',
  fc: 6,
  latencyMs: 0.5,
  policyVersion: 'v3',
  note: 'Grüße',
} as unknown as AuditRecord;

t.test('RFC 5424 header, structured data, ASCII JSON message', async (t) => {
  const m = rfc5424ForEvent(header, rec);
  // PRI = facility 13 (log audit) * 8 + severity 4 (warning, a denial)
  t.ok(
    m.startsWith(
      `<108>1 2026-01-02T03:04:05.678Z edge-1 verigate 42 request.decision [verigate@32473 seq="7" hash="${'h'.repeat(64)}" prev="${'p'.repeat(64)}"] {`,
    ),
  );
  t.notMatch(m, /[^\x20-\x7e]/, 'only printable ASCII: no BOM needed, no raw newline');
  const msg = m.slice(m.indexOf('] ') + 2);
  t.same(JSON.parse(msg), JSON.parse(JSON.stringify(rec)), 'MSG is the whole event');
  t.equal(asciiJson({ a: 'é' }), '{"a":"\\u00e9"}');
});

t.test('SD-PARAM escaping [RFC 5424 6.3.3]', async (t) => {
  t.equal(sdValue('a"b\\c]d'), 'a\\"b\\\\c\\]d');
  t.equal(structuredData('x@1', { 'k=]"': 'v', skip: undefined }), '[x@1 k___="v"]');
});

t.test('octet counting frames the byte length [RFC 5425 4.3]', async (t) => {
  const f = frameOctetCounted('<14>1 - - - - - - é');
  const sp = f.indexOf(0x20);
  t.equal(Number(f.subarray(0, sp).toString()), f.length - sp - 1);
  t.equal(f.subarray(0, sp).toString(), '20');
});

t.test('CEF escaping: header pipes and backslashes, extension equals, backslashes, newlines', async (t) => {
  t.equal(cefHeaderEscape('a|b\\c'), 'a\\|b\\\\c');
  t.equal(cefValueEscape('a=b\\c\nd\r\ne\rf|g'), 'a\\=b\\\\c\\nd\\ne\\rf|g', 'pipes are not escaped in extensions');
  t.equal(
    cefLine('1.0|beta', 'x.y', 3, { 'bad key!': 'v=1', skipped: undefined, n: 5 }),
    'CEF:0|verigate|verigate|1.0\\|beta|x.y|x.y|8|badkey=v\\=1 n=5',
  );
  const line = cefForEvent('0.1.0', rec, 4);
  t.ok(line.startsWith('CEF:0|verigate|verigate|0.1.0|request.decision|Modbus request decision|6|'));
  t.match(line, /suser=spiffe:\/\/plant.example\/hmi\/line1 /);
  t.match(line, / reason=no rule allows holding 9000 \\= "x\|y\\\\z"\\nnext /);
  t.notMatch(line, /\n/);
  t.match(line, /\|rt=1767323045678 externalId=7 /);
  t.notMatch(line, /cs1Label/, 'no label without a value');
  t.notMatch(line, /[^\x20-\x7e]/, 'ASCII only');
  t.match(line, /cs2Label=hash cs2=h{64}/);
});

t.test('spool: ordered reads, ack persists across reopen, oldest dropped and counted when full', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-spool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sp = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024 });
  const rec = (i: number) => ({ seq: i, text: `msg ${i} `.padEnd(100, 'x') });
  t.equal(sp.push([rec(1), rec(2), rec(3)]), null);
  const first = sp.read(null, 2);
  t.same(
    first.map((e) => e.seq),
    [1, 2],
  );
  t.same(
    sp.read(first[1]!.pos, 10).map((e) => e.seq),
    [3],
    'read after a position',
  );
  sp.ack(first[1]!.pos);
  sp.close();

  const again = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024 });
  t.same(
    again.read(null, 10).map((e) => e.seq),
    [3],
    'cursor survived reopen',
  );
  let drop = null;
  const drops: { dropped: number; firstSeq: number | null; lastSeq: number | null }[] = [];
  for (let i = 4; i <= 60; i++) {
    drop = again.push([rec(i)]);
    if (drop !== null) drops.push(drop);
  }
  t.ok(drops.length > 0, 'spool overflowed');
  t.ok(again.stats().bytes <= 4096, `bounded: ${again.stats().bytes} bytes`);
  const lost = drops.reduce((a, d) => a + d.dropped, 0);
  const left = again.read(null, 1000).map((e) => e.seq);
  t.equal(drops[0]!.firstSeq, 3, 'the oldest unacknowledged record went first');
  t.equal(lost + left.length, 58, 'every record is either still spooled or counted as dropped');
  t.same(
    left,
    [...left].sort((a, b) => a! - b!),
    'order kept',
  );
  t.equal(left.at(-1), 60, 'newest kept');
  again.ack(again.read(null, 1000).at(-1)!.pos);
  t.equal(again.stats().pending, true, 'the loss tally is still to be reported');
  again.close();
  const third = DiskSpool.open({ dir, maxBytes: 4096, fileBytes: 1024 });
  const loss = third.takeLoss();
  t.same(loss, { dropped: lost, firstSeq: 3, lastSeq: drops.at(-1)!.lastSeq }, 'loss tally persisted across reopen');
  t.equal(third.stats().pending, true, 'a notice in flight is owed until acknowledged');
  third.restoreLoss(loss!);
  const again2 = third.takeLoss();
  t.same(again2, loss, 'an unacknowledged notice can be put back');
  third.lossDelivered(again2!);
  t.equal(third.stats().pending, false, 'acknowledged');
  t.equal(third.lastSeq(), 60);
  t.ok(readdirSync(dir).filter((f) => f.startsWith('spool-')).length <= 2, 'acknowledged files deleted');
  third.close();
});
