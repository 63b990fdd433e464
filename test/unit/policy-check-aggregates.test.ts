/**
 * `policy check` warns when a deny names a subslot record that aggregate records also return: the review's
 * proof read slot 3's diagnosis (denied as 0x800A) through 0xC00A, 0xF00A and 0xF80C, which another rule of
 * the same contractor allowed [IEC 61158-6-10 Index: slot/AR/API/device-level diagnosis and identification].
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';

const TD = 'plant.example';
const dir = mkdtempSync(join(tmpdir(), 'vg-aggregates-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function check(denied: string): Promise<{ code: number; out: string }> {
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: 1
trustDomain: ${TD}
rules:
  - id: contractor-diag
    principals: [spiffe://${TD}/contractor/*]
    devices: [rio-1]
    profinet:
      - { access: read, slots: "*", subslots: "*", indices: [0x800A, 0xC00A, 0xF00A, 0xF80C], length: 4096 }
  - id: contractor-not-ai
    effect: deny
    principals: [spiffe://${TD}/contractor/*]
    devices: [rio-1]
    profinet:
      - { access: read, slots: 3, subslots: "*", indices: ${denied} }
`,
  );
  const io = memoryIo({}, dir);
  const code = await policyCommand(['check', file], io);
  return { code, out: io.stdout.join('\n') };
}

t.test('a deny of 0x800A alone is warned about, naming the aggregates it leaves open (review F4)', async (t) => {
  const r = await check('0x800A');
  t.equal(r.code, 0, 'a warning, not an error');
  t.match(
    r.out,
    /^warning: rule contractor-not-ai: denies diagnosis 0x800a, but 0xc00a, 0xe00a, 0xf00a, 0xf80c return the same entries/m,
  );
});

t.test('denying the aggregates too leaves nothing to warn about; identification is covered the same way', async (t) => {
  t.notMatch((await check('[0x800A, 0xC00A, 0xE00A, 0xF00A, 0xF80C]')).out, /warning/);
  t.match((await check('0x8001')).out, /denies real identification 0x8001, but 0xc001, 0xe001, 0xf000/);
  t.notMatch((await check('0x0100')).out, /warning/, 'an ordinary record has no aggregate');
});
