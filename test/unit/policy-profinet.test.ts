/**
 * PROFINET record services in policy.yaml: `profinet:` entries compile with located errors, and
 * `evaluateRecord` judges read/write record requests (default deny, deny wins, lengths, typed values, exact
 * bytes, schedules, JIT/rate obligations, shadow, essential), the policy holder's engine included.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../gateway/config/load-yaml.js';
import {
  compilePolicyText,
  evaluate,
  evaluateRecord,
  loadPolicyText,
  type CompiledPolicy,
  type Decision,
} from '../../gateway/policy/index.js';
import { PolicyHolder } from '../../gateway/policy/policy-holder.js';
import { classify } from '../../protocols/modbus/index.js';
import { validateRecordRequest, type RecordRequest } from '../../protocols/profinet/index.js';

const TD = 'spiffe://plant.example';
const HIST = { id: `${TD}/historian`, role: null };
const ENG = { id: `${TD}/eng/bob`, role: null };
const NOW = new Date('2026-03-04T10:00:00+01:00'); // a Wednesday, inside 06:00-22:00 Berlin
const NIGHT = new Date('2026-03-04T23:30:00+01:00');

function thrown(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

const policy = (rules: string, extra = ''): CompiledPolicy =>
  compilePolicyText(`version: 1\ntrustDomain: plant.example\n${extra}rules:\n${rules}`, 'pn.yaml');

const read = (index: number, o: Partial<RecordRequest> = {}): RecordRequest => ({
  access: 'read',
  api: 0,
  slot: 1,
  subslot: 1,
  index,
  length: 64,
  ...o,
});
const write = (index: number, hex: string, o: Partial<RecordRequest> = {}): RecordRequest => {
  const data = Buffer.from(hex, 'hex');
  return { access: 'write', api: 0, slot: 1, subslot: 1, index, length: data.length, data, ...o };
};
const ev = (p: CompiledPolicy, r: RecordRequest, peer = HIST, device = 'rio-1', now = NOW): Decision =>
  evaluateRecord(p, peer, device, r, now);

const historian = `  - id: hist
    principals: [${TD}/historian]
    devices: [rio-*]
    rate: 20/s
    profinet:
      - { access: read, slots: "*", subslots: "*", indices: [0xAFF0, 0x800A, 0xF80C], length: 4096 }
`;
const engineer = `  - id: eng
    principals: [${TD}/eng/*]
    devices: [rio-1]
    schedule: { days: mon-fri, hours: "06:00-22:00", tz: Europe/Berlin }
    jit: { approvers: [${TD}/ops/shift-lead], maxDuration: 15m }
    profinet:
      - access: write
        slots: 1
        subslots: 1
        indices: 0x0100
        length: 4
        values:
          - { offset: 0, type: u16be, range: "0..1000" }
          - { offset: 2, type: u8, values: [0, 1, 2] }
          - { offset: 3, type: i8, range: "-20..20" }
`;

t.test('compile errors with line:col: * indices, write without length, overlapping typed values', async (t) => {
  const text = `version: 1
trustDomain: plant.example
rules:
  - id: a
    principals: [${TD}/historian]
    devices: [rio-1]
    profinet:
      - { access: read, slots: "*", subslots: "*", indices: "*" }
      - { access: read, slots: 1, subslots: 1, indices: [0xAFF0, "*"] }
      - { access: write, slots: 1, subslots: 1, indices: 0x0100 }
      - access: write
        slots: 1
        subslots: 1
        indices: 0x0101
        length: 4
        values:
          - { offset: 0, type: u32be, range: "0..10" }
          - { offset: 2, type: u8, range: "0..3" }
`;
  const err = thrown(() => compilePolicyText(text, 'bad.yaml'));
  t.equal(err.code, 'GW_ERR_POLICY_INVALID');
  const at = err.details.map((d) => `${d.line}:${d.col} ${d.message}`);
  t.match(at[0], /^8:61 "\*" is refused for indices: .*vendor-specific/, 'the * of indices');
  t.match(at[1], /^9:66 "\*" is refused for indices/, 'a * inside an index list points at the item');
  t.match(at[2], /^10:9 a write entry must state its "length"/);
  t.match(at[3], /^18:13 values\[1\] \(bytes 2-2\) overlaps values\[0\] \(bytes 0-3\)/);
  t.equal(err.details.length, 4, 'nothing else');
  t.match(err.message, 'bad.yaml:8:61: "*" is refused for indices');
});

t.test('compile: other located mistakes, and what is accepted', async (t) => {
  const bad = `  - id: b
    principals: [${TD}/eng/*]
    devices: [rio-1]
    profinet:
      - { access: read, slots: "5-3", subslots: 70000, indices: "0x8000-0x8002", values: [{ offset: 0, type: u8, range: "0..1" }] }
      - { access: write, slots: 1, subslots: 1, indices: 1, length: 2, bytes: "0102ab" }
      - { access: write, slots: 1, subslots: 1, indices: 2, length: 2, values: [{ offset: 1, type: u16be, range: "0..1" }] }
      - { access: write, slots: 1, subslots: 1, indices: 3, length: 2, values: [{ offset: 0, type: i16be, range: "-40000..0" }] }
      - { access: write, slots: 1, subslots: 1, indices: 4, length: 2, values: [{ offset: 0, type: u8 }] }
      - { access: write, slots: 1, subslots: 1, indices: zz, length: 2, bytes: "zz" }
`;
  const err = thrown(() => policy(bad));
  const msgs = err.details.map((d) => `${d.line} ${d.message}`);
  for (const re of [
    /^8 slot range "5-3" is reversed/,
    /^8 subslot 70000 is outside 0\.\.0xFFFF/,
    /^8 "values" only applies to write access/,
    /^9 3 bytes given, the entry's length is 2/,
    /^10 u16be at offset 1 ends past the record length 2/,
    /^11 range "-40000\.\.0" is outside i16be/,
    /^12 give either "range"/,
    /^13 bad hex "zz"/,
    /^13 bad index "zz"/,
  ]) {
    t.ok(
      msgs.some((m) => re.test(m)),
      String(re),
    );
  }
  t.equal(msgs.length, 9, msgs.join('\n'));
  const schema = thrown(() =>
    policy(
      `  - { id: s, principals: [${TD}/a], devices: [d], profinet: [{ access: read-write, slots: 1, subslots: 1, indices: 1 }] }\n`,
    ),
  );
  t.equal(schema.details[0]?.line, 4, 'access read-write is a schema error, located');
  const ok = policy(
    `  - { id: ok, principals: [${TD}/a], devices: [d], profinet: [{ access: read, api: 0x10, slots: ["0x8000-0x8002", 1-3], subslots: "*", indices: ["0x8000-0x8002", 0xAFF0] }] }\n`,
  );
  const a = { id: `${TD}/a`, role: null };
  t.equal(
    ev(ok, read(0x8001, { api: 16, slot: 0x8002, subslot: 0xffff }), a, 'd').effect,
    'allow',
    'hex ranges, * subslots, api',
  );
  t.equal(
    ev(ok, read(0x8003, { api: 16, slot: 2 }), a, 'd').reason,
    'index-not-allowed read api 16 slot 2 subslot 0x0001 index 0x8003',
  );
  t.equal(
    ev(ok, read(0xaff0, { api: 16, slot: 4 }), a, 'd').reason,
    'index-not-allowed read api 16 slot 4 subslot 0x0001 index 0xaff0',
  );
});

t.test('a test is Modbus or PROFINET, located when neither or both', async (t) => {
  const err = thrown(() =>
    compilePolicyText(
      `version: 1\ntrustDomain: plant.example\nrules:\n${historian}tests:\n  - { id: x, device: d, expect: deny }\n  - { id: x, device: d, fc: 3, profinet: { access: read, slot: 1, subslot: 1, index: 1 }, expect: deny }\n  - { id: x, device: d, unit: 2, profinet: { access: write, slot: 1, subslot: 1, index: 1 }, expect: deny }\n`,
      't.yaml',
    ),
  );
  const msgs = err.details.map((d) => `${d.line} ${d.message}`);
  t.ok(msgs.some((m) => /^11 a test needs "fc" \(Modbus\) or "profinet"/.test(m)));
  t.ok(msgs.some((m) => /^12 a test is either Modbus \("fc"\) or PROFINET/.test(m)));
  t.ok(msgs.some((m) => /^13 "unit" does not apply to a PROFINET test/.test(m)));
  t.ok(msgs.some((m) => /^13 a write test needs "data" \(hex\) or "length"/.test(m)));
});

t.test('evaluation table', async (t) => {
  const deny = `  - id: no-user-writes
    effect: deny
    principals: [${TD}/**]
    devices: [rio-*]
    profinet:
      - { access: write, slots: "*", subslots: "*", indices: "0x0100-0x01FF", bytes: "ffffffff" }
  - id: hist-no-f80c-on-rio-2
    effect: deny
    principals: [${TD}/historian]
    devices: [rio-2]
    profinet:
      - { access: read, slots: 0, subslots: "0x8000-0x8001", indices: 0xF80C }
`;
  const p = policy(historian + engineer + deny);
  const jit = p.rules.find((r) => r.id === 'eng')?.jit ?? undefined;
  t.ok(jit, 'the engineer rule carries a JIT obligation');
  const rows: [string, RecordRequest, typeof HIST, string, Date, Partial<Decision>][] = [
    ['allowed read I&M0', read(0xaff0), HIST, 'rio-1', NOW, { effect: 'allow', ruleId: 'hist', reason: 'allowed' }],
    [
      'allowed read diagnosis, any slot',
      read(0x800a, { slot: 7, subslot: 0x8000 }),
      HIST,
      'rio-9',
      NOW,
      { effect: 'allow', ruleId: 'hist' },
    ],
    ['read up to the max length', read(0xf80c, { length: 4096 }), HIST, 'rio-1', NOW, { effect: 'allow' }],
    [
      'read over the max length',
      read(0xf80c, { length: 4097 }),
      HIST,
      'rio-1',
      NOW,
      {
        effect: 'deny',
        ruleId: null,
        reason: 'length-not-allowed read api 0 slot 1 subslot 0x0001 index 0xf80c length 4097 (max 4096)',
      },
    ],
    [
      'index not listed (user index 123)',
      read(123),
      HIST,
      'rio-1',
      NOW,
      { effect: 'deny', ruleId: null, reason: 'index-not-allowed read api 0 slot 1 subslot 0x0001 index 0x007b' },
    ],
    [
      'other API',
      read(0xaff0, { api: 1 }),
      HIST,
      'rio-1',
      NOW,
      { effect: 'deny', reason: 'index-not-allowed read api 1 slot 1 subslot 0x0001 index 0xaff0' },
    ],
    [
      'a read grant is no write grant',
      write(0xaff0, '00'),
      HIST,
      'rio-1',
      NOW,
      { effect: 'deny', reason: 'index-not-allowed write api 0 slot 1 subslot 0x0001 index 0xaff0' },
    ],
    [
      'stranger: no rule',
      read(0xaff0),
      { id: `${TD}/stranger`, role: null },
      'rio-1',
      NOW,
      { effect: 'deny', ruleId: null, reason: 'no-rule' },
    ],
    ['other device: no rule', read(0xaff0), HIST, 'plc-1', NOW, { reason: 'no-rule' }],
    [
      'deny rule wins over the allow',
      read(0xf80c, { slot: 0, subslot: 0x8001 }),
      HIST,
      'rio-2',
      NOW,
      {
        effect: 'deny',
        ruleId: 'hist-no-f80c-on-rio-2',
        reason: 'explicit-deny read api 0 slot 0 subslot 0x8001 index 0xf80c',
      },
    ],
    [
      'deny rule narrow: other subslot allowed',
      read(0xf80c, { slot: 0, subslot: 0x8002 }),
      HIST,
      'rio-2',
      NOW,
      { effect: 'allow' },
    ],
    [
      'write in range with JIT obligation',
      write(0x100, '03e80214'),
      ENG,
      'rio-1',
      NOW,
      { effect: 'allow', ruleId: 'eng', reason: 'allowed', obligations: { jit } },
    ],
    [
      'write length short',
      write(0x100, '03e802'),
      ENG,
      'rio-1',
      NOW,
      {
        effect: 'deny',
        reason: 'length-not-allowed write api 0 slot 1 subslot 0x0001 index 0x0100 length 3 (exactly 4)',
      },
    ],
    [
      'write length long',
      write(0x100, '03e8020100'),
      ENG,
      'rio-1',
      NOW,
      { reason: 'length-not-allowed write api 0 slot 1 subslot 0x0001 index 0x0100 length 5 (exactly 4)' },
    ],
    [
      'u16be over its range',
      write(0x100, '03e90200'),
      ENG,
      'rio-1',
      NOW,
      { effect: 'deny', reason: 'value-not-allowed api 0 slot 1 subslot 0x0001 index 0x0100 @0 u16be=1001' },
    ],
    [
      'u8 outside its values',
      write(0x100, '00000300'),
      ENG,
      'rio-1',
      NOW,
      { reason: 'value-not-allowed api 0 slot 1 subslot 0x0001 index 0x0100 @2 u8=3' },
    ],
    ['i8 at its low bound (-20)', write(0x100, '000000ec'), ENG, 'rio-1', NOW, { effect: 'allow' }],
    [
      'i8 below its range (-21)',
      write(0x100, '000000eb'),
      ENG,
      'rio-1',
      NOW,
      { reason: 'value-not-allowed api 0 slot 1 subslot 0x0001 index 0x0100 @3 i8=-21' },
    ],
    [
      'explicit deny of exact bytes',
      write(0x100, 'ffffffff'),
      ENG,
      'rio-1',
      NOW,
      { effect: 'deny', ruleId: 'no-user-writes' },
    ],
    [
      'outside the schedule',
      write(0x100, '00000000'),
      ENG,
      'rio-1',
      NIGHT,
      { effect: 'deny', ruleId: null, reason: 'outside-schedule eng' },
    ],
    [
      'malformed: slot > 0xFFFF',
      read(0xaff0, { slot: 0x10000 }),
      HIST,
      'rio-1',
      NOW,
      { effect: 'deny', reason: 'malformed-request slot 65536 is outside 0..65535' },
    ],
    [
      'malformed: data length ≠ length',
      write(0x100, '00000000', { length: 5 }),
      ENG,
      'rio-1',
      NOW,
      { reason: 'malformed-request write of 4 bytes with length 5' },
    ],
  ];
  for (const [name, r, peer, device, now, want] of rows) t.match(ev(p, r, peer, device, now), want, name);
  t.same(ev(p, read(0xaff0)).obligations, { rate: { ruleId: 'hist', perSecond: 20 } }, 'rate obligation');
  t.equal(ev(p, write(0x100, '00000000'), ENG).obligations?.jit?.scope, undefined, 'the grant covers the whole record');
  t.equal(
    evaluate(p, HIST, 'rio-1', classify({ type: 'read-registers', fc: 3, address: 0, quantity: 1 }, 1), NOW).reason,
    'no-rule',
    'PROFINET-only rules grant no Modbus',
  );
});

t.test('exact bytes, rule preference (no JIT first), deny-everything rules', async (t) => {
  const p = policy(`${engineer}  - id: preset
    principals: [${TD}/eng/*]
    devices: [rio-1]
    profinet:
      - { access: write, slots: 1, subslots: 1, indices: 0x0100, length: 4, bytes: "00 64 01 00" }
      - { access: write, slots: 1, subslots: 1, indices: 0x0200, length: 2, bytes: "0a0b" }
  - { id: quarantine, effect: deny, principals: [${TD}/eng/mallory], devices: [rio-1] }
`);
  t.match(
    ev(p, write(0x100, '00640100'), ENG),
    { effect: 'allow', ruleId: 'preset', reason: 'allowed' },
    'the rule needing no grant is preferred',
  );
  t.equal(ev(p, write(0x100, '00640100'), ENG).obligations, undefined);
  t.match(
    ev(p, write(0x100, '00640200'), ENG),
    { ruleId: 'eng', obligations: { jit: { ruleId: 'eng' } } },
    'other bytes: the JIT rule',
  );
  t.equal(ev(p, write(0x200, '0a0b'), ENG).effect, 'allow');
  t.equal(
    ev(p, write(0x200, '0a0c'), ENG).reason,
    'value-not-allowed api 0 slot 1 subslot 0x0001 index 0x0200 bytes 0a0c',
  );
  t.match(ev(p, write(0x200, '0a0b'), { id: `${TD}/eng/mallory`, role: null }), {
    effect: 'deny',
    ruleId: 'quarantine',
    reason: 'explicit-deny all',
  });
});

t.test('shadow rules, shadow policy mode, essential', async (t) => {
  const p = policy(`${historian}  - id: try-f000
    mode: shadow
    principals: [${TD}/historian]
    devices: [rio-*]
    profinet: [{ access: read, slots: 0, subslots: 1, indices: 0xF000 }]
  - id: try-deny-im0
    mode: shadow
    effect: deny
    principals: [${TD}/historian]
    devices: [rio-*]
    profinet: [{ access: read, slots: "*", subslots: "*", indices: 0xAFF0 }]
  - id: op-diag
    essential: true
    principals: [${TD}/hmi/*]
    devices: [rio-1]
    profinet: [{ access: read, slots: "*", subslots: "*", indices: [0x800A] }]
`);
  t.match(ev(p, read(0xf000, { slot: 0 })), {
    effect: 'deny',
    reason: 'index-not-allowed read api 0 slot 0 subslot 0x0001 index 0xf000',
    shadow: [{ ruleId: 'try-f000', effect: 'allow' }],
  });
  t.match(
    ev(p, read(0xaff0)),
    { effect: 'allow', ruleId: 'hist', shadow: [{ ruleId: 'try-deny-im0', effect: 'deny' }] },
    'a shadow deny never changes the verdict',
  );
  t.equal(ev(p, read(0x800a)).shadow, undefined, 'no shadow rule concerned');
  const hmi = { id: `${TD}/hmi/line1`, role: null };
  t.same(ev(p, read(0x800a), hmi), {
    effect: 'allow',
    ruleId: 'op-diag',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
    essential: true,
  });
  t.equal(ev(p, read(0xaff0), hmi).essential, undefined);

  const shadowMode = policy(historian, 'mode: shadow\n');
  t.same(ev(shadowMode, read(123)), {
    effect: 'allow',
    ruleId: null,
    code: 'shadow-mode',
    detail: 'index-not-allowed read api 0 slot 1 subslot 0x0001 index 0x007b',
    reason: 'shadow-mode index-not-allowed read api 0 slot 1 subslot 0x0001 index 0x007b',
    shadow: [{ ruleId: 'default-deny', effect: 'deny' }],
  });
  t.equal(
    ev(shadowMode, read(1, { slot: -1 })).effect,
    'deny',
    'a malformed request is never let through by shadow mode',
  );
});

t.test('policy tests with PROFINET requests run at load', async (t) => {
  const head = `version: 1\ntrustDomain: plant.example\nrules:\n${historian}${engineer}tests:\n`;
  const good = `${head}  - { id: "${TD}/historian", device: rio-1, profinet: { access: read, slot: 0, subslot: 1, index: 0xAFF0 }, expect: deny, reason: length-not-allowed }
  - { id: "${TD}/historian", device: rio-1, profinet: { access: read, slot: 0, subslot: 1, index: 0xAFF0, length: 60 }, expect: allow, rule: hist }
  - { id: "${TD}/eng/bob", device: rio-1, profinet: { access: write, slot: 1, subslot: 1, index: 0x0100, data: "00640100" }, expect: allow, rule: eng }
  - { id: "${TD}/eng/bob", device: rio-1, at: "2026-03-04T23:30:00+01:00", profinet: { access: write, slot: 1, subslot: 1, index: 0x0100, length: 4 }, expect: deny, reason: outside-schedule }
`;
  t.equal(loadPolicyText(good, 'good.yaml').tests.length, 4, 'an unread length asks 65535; a write of length zeros');
  const failing = `${head}  - { name: wrong, id: "${TD}/historian", device: rio-1, profinet: { access: read, slot: 0, subslot: 1, index: 123, length: 60 }, expect: allow }
`;
  const err = thrown(() => loadPolicyText(failing, 'f.yaml'));
  t.equal(err.code, 'GW_ERR_POLICY_TEST_FAILED');
  t.match(
    err.details[0]?.message,
    /^wrong: spiffe:\/\/plant\.example\/historian profinet read api 0 slot 0 subslot 0x0001 index 0x007b length 60 on rio-1: expected allow, got deny by no rule \(index-not-allowed/,
  );
  t.equal(err.details[0]?.line, 26);
});

t.test('validateRecordRequest: field widths, lengths, data', async (t) => {
  t.ok(validateRecordRequest(read(0xaff0, { api: 0xffffffff, slot: 0xffff, subslot: 0xffff, length: 65535 })).ok);
  const bad: [Partial<RecordRequest>, RegExp][] = [
    [{ api: 2 ** 32 }, /api 4294967296 is outside 0\.\.4294967295/],
    [{ slot: -1 }, /slot -1/],
    [{ subslot: 1.5 }, /subslot 1\.5/],
    [{ index: 0x10000 }, /index 65536/],
    [{ length: 0 }, /length 0 is outside 1\.\.65535/],
    [{ length: 65536 }, /length 65536/],
    [{ data: Buffer.alloc(1) }, /a read carries no data/],
    [{ access: 'erase' as 'read' }, /neither read nor write/],
  ];
  for (const [o, re] of bad) {
    const r = validateRecordRequest(read(1, o));
    t.ok(!r.ok && r.reason === 'field-value' && re.test(r.detail), String(re));
  }
  const noData = validateRecordRequest({ access: 'write', api: 0, slot: 1, subslot: 1, index: 1, length: 2 });
  t.ok(!noData.ok && /needs data/.test(noData.detail));
  t.ok(validateRecordRequest(write(1, 'abcd')).ok);
});

t.test('the holder engine evaluates records, with the candidate as a shadow result', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-pn-holder-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  const candidate = join(dir, 'candidate.yaml');
  writeFileSync(file, `version: 1\ntrustDomain: plant.example\nrules:\n${historian}`);
  writeFileSync(candidate, 'version: 1\ntrustDomain: plant.example\nrules: []\n');
  const audit = { append: () => ({ ok: true as const, seq: 1 }) };
  const plain = PolicyHolder.load(file, { audit });
  t.same(plain.engine.evaluateRecord(HIST, 'rio-1', read(0xaff0), NOW), {
    effect: 'allow',
    ruleId: 'hist',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
    obligations: { rate: { ruleId: 'hist', perSecond: 20 } },
  });
  const h = PolicyHolder.load(file, { audit, shadowFile: candidate });
  t.match(h.engine.evaluateRecord(HIST, 'rio-1', read(0xaff0), NOW), {
    effect: 'allow',
    ruleId: 'hist',
    shadow: [{ ruleId: 'candidate:no-rule', effect: 'deny' }],
  });
  t.equal(h.engine.evaluateRecord(HIST, 'rio-1', read(7), NOW).effect, 'deny');
  plain.close();
  h.close();
});

t.test('an allow entry without api names API 0 only; a deny entry without api denies under every API', async (t) => {
  const p = policy(`  - id: hist-any
    principals: [${TD}/historian]
    devices: [rio-1]
    profinet: [{ access: read, api: 0x1234, slots: "*", subslots: "*", indices: [0xAFF0] }, { access: read, slots: "*", subslots: "*", indices: [0xAFF0] }]
  - id: no-im0
    effect: deny
    principals: [${TD}/historian]
    devices: [rio-1]
    profinet: [{ access: read, slots: "*", subslots: "*", indices: [0xAFF0] }]
`);
  t.match(ev(p, read(0xaff0)), { effect: 'deny', ruleId: 'no-im0' }, 'API 0');
  t.match(
    ev(p, read(0xaff0, { api: 0x1234 })),
    { effect: 'deny', ruleId: 'no-im0' },
    'another API does not slip past the deny',
  );
  const allowOnly = policy(`  - id: hist
    principals: [${TD}/historian]
    devices: [rio-1]
    profinet: [{ access: read, slots: "*", subslots: "*", indices: [0xAFF0] }]
`);
  t.match(ev(allowOnly, read(0xaff0)), { effect: 'allow' });
  t.match(ev(allowOnly, read(0xaff0, { api: 0x1234 })), { effect: 'deny' }, 'an allow without api is API 0 only');
});
