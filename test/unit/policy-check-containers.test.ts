/**
 * `policy check` warns about allow entries that look like they grant a container write but never do
 * [IEC 61158-6-10 Index]: a write entry covering CombinedObjectContainer 0x80B0 (always refused
 * `container-not-judged`), one covering WriteMultiple 0xE040 (the outer record grants nothing; each inner
 * write needs its own entry). Decisions unchanged; a `jit` rule's writes are not warned about.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';

const TD = 'plant.example';
const dir = mkdtempSync(join(tmpdir(), 'vg-containers-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function check(rule: string): Promise<{ code: number; out: string }> {
  const file = join(dir, 'p.yaml');
  writeFileSync(
    file,
    `version: 1
trustDomain: ${TD}
rules:
  - id: eng
    principals: [spiffe://${TD}/eng/*]
    devices: [rio-1]
${rule}`,
  );
  const io = memoryIo({}, dir);
  const code = await policyCommand(['check', file], io);
  return { code, out: io.stdout.join('\n') };
}

t.test('an allow write entry covering 0x80B0 is warned about: the gateway refuses every such write', async (t) => {
  const r = await check(`    profinet:
      - { access: write, slots: 0, subslots: 1, indices: 0x80B0, length: 72 }
`);
  t.equal(r.code, 0, 'a warning, not an error');
  t.match(
    r.out,
    /^warning: rule eng: allows writes to 0x80b0 \(CombinedObjectContainer\), which the gateway always refuses/m,
  );
  t.match(r.out, /^ok: 1 rules/m);
});

t.test(
  'an allow write range covering 0xE040 is warned about: WriteMultiple needs each inner write allowed',
  async (t) => {
    const r = await check(`    profinet:
      - { access: write, slots: 0, subslots: 1, indices: "0xE000-0xE0FF", length: 72 }
`);
    t.match(r.out, /^warning: rule eng: allows writes to 0xe040 \(WriteMultiple\), which grants nothing by itself/m);
    t.notMatch(r.out, /0x80b0/);
  },
);

t.test('ordinary writes, reads of containers and deny entries are not warned about', async (t) => {
  const plain = await check(`    profinet:
      - { access: write, slots: 2, subslots: 1, indices: 0x0100, length: 2 }
      - { access: read, slots: 0, subslots: 1, indices: [0x80B0, 0xE040], length: 64 }
`);
  t.notMatch(plain.out, /warning/);
  const deny = await check(`    effect: deny
    profinet:
      - { access: write, slots: "*", subslots: "*", indices: [0x80B0, 0xE040] }
`);
  t.notMatch(deny.out, /warning/);
  const jitWrites = await check(`    jit: { approvers: [spiffe://${TD}/ops/lead], maxDuration: 15m }
    profinet:
      - { access: write, slots: 2, subslots: 1, indices: 0x0100, length: 2 }
`);
  t.notMatch(jitWrites.out, /warning/, 'a jit rule granting single writes');
});
