/** `verigate policy check|explain` with PROFINET rules, tests and `--profinet` queries. */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/policy/', import.meta.url));
const SAMPLE = fileURLToPath(new URL('../../gateway/config/samples/policy.yaml', import.meta.url));
const TD = 'spiffe://plant.example';
const AT = '2026-03-04T10:00:00+01:00';

async function run(args: string[], cwd = FIXTURES) {
  const io = memoryIo({}, cwd);
  const code = await policyCommand(args, io);
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

const pn = (...more: string[]) => ['explain', 'profinet.yaml', '--device', 'rio-1', ...more];

t.test('check: PROFINET rules and tests pass', async (t) => {
  const r = await run(['check', 'profinet.yaml']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^ok: 3 rules, 6 tests passed, version [0-9a-f]{64}$/);
});

t.test('check: * indices, a write without length, overlapping values — file:line:col, exit 1', async (t) => {
  const r = await run(['check', 'bad-profinet.yaml']);
  t.equal(r.code, 1);
  const lines = r.err.split('\n');
  t.match(lines[0], /^bad-profinet\.yaml:8:61: "\*" is refused for indices/);
  t.match(lines[1], /^bad-profinet\.yaml:13:9: a write entry must state its "length"/);
  t.match(lines[2], /^bad-profinet\.yaml:25:13: values\[1\] \(bytes 1-1\) overlaps values\[0\] \(bytes 0-1\)/);
  t.match(lines[3], /^bad-profinet\.yaml:27:5: a test needs "fc" \(Modbus\) or "profinet"/);
  t.match(r.err, /4 error\(s\) \[GW_ERR_POLICY_INVALID\]/);
  t.equal(r.out, '');
});

t.test('explain --profinet: decision, rule, reason, request, obligations', async (t) => {
  const read = await run(
    pn(
      '--id',
      `${TD}/historian`,
      '--profinet',
      'read',
      '--slot',
      '0',
      '--subslot',
      '0x8000',
      '--index',
      '0xAFF0',
      '--length',
      '64',
    ),
  );
  t.equal(read.code, 0);
  t.match(read.out, /^decision: allow$/m);
  t.match(read.out, /^rule: historian-pn-reads$/m);
  t.match(read.out, /^reason: allowed$/m);
  t.match(read.out, /^request: profinet read api 0 slot 0 subslot 0x8000 index 0xaff0 length 64$/m);
  t.match(read.out, /^rate limit: rule historian-pn-reads, 20\/s$/m);
  const user = await run(
    pn('--id', `${TD}/historian`, '--profinet', 'read', '--slot', '1', '--subslot', '1', '--index', '123'),
  );
  t.match(user.out, /^decision: deny$/m);
  t.match(user.out, /^rule: \(none: default deny\)$/m);
  t.match(user.out, /^reason: index-not-allowed read api 0 slot 1 subslot 0x0001 index 0x007b$/m);
  t.match(user.out, /length 65535$/m, 'a read without --length asks the most');
  const w = [
    '--id',
    `${TD}/eng/bob`,
    '--profinet',
    'write',
    '--slot',
    '1',
    '--subslot',
    '1',
    '--index',
    '0x0100',
    '--at',
    AT,
  ];
  const ok = await run(pn(...w, '--data', '01f40201'));
  t.match(ok.out, /^rule: eng-pn-params$/m);
  t.match(
    ok.out,
    /^requires jit grant: rule eng-pn-params, approvers spiffe:\/\/plant\.example\/ops\/shift-lead, threshold 1, max 15m$/m,
  );
  t.match(ok.out, /data 01f40201$/m);
  const value = await run(pn(...w, '--data', '07d00201'));
  t.match(value.out, /^reason: value-not-allowed api 0 slot 1 subslot 0x0001 index 0x0100 @0 u16be=2000$/m);
  const length = await run(pn(...w, '--length', '6'));
  t.match(
    length.out,
    /^reason: length-not-allowed write .* length 6 \(exactly 4\)$/m,
    'a write of --length zero bytes',
  );
  const denied = await run(pn(...w.map((a) => (a === '0x0100' ? '0x0042' : a)), '--data', '00'));
  t.match(denied.out, /^reason: index-not-allowed write/m);
  const deny = await run([
    'explain',
    'profinet.yaml',
    '--device',
    'rio-7',
    '--id',
    `${TD}/eng/bob`,
    '--profinet',
    'write',
    '--slot',
    '0',
    '--subslot',
    '0x8001',
    '--index',
    '0x10',
    '--data',
    '00',
  ]);
  t.match(deny.out, /^rule: no-user-index-writes-slot0$/m);
  t.match(deny.out, /^reason: explicit-deny write api 0 slot 0 subslot 0x8001 index 0x0010$/m);
  const night = await run(
    pn(...w.filter((a) => a !== AT && a !== '--at'), '--at', '2026-03-04T23:00:00+01:00', '--data', '01f40201'),
  );
  t.match(night.out, /^reason: outside-schedule eng-pn-params$/m);
});

t.test('explain --profinet: usage errors exit 2; Modbus flags keep working', async (t) => {
  const base = ['--id', `${TD}/historian`];
  const cases: [string[], RegExp][] = [
    [
      pn(...base, '--profinet', 'erase', '--slot', '1', '--subslot', '1', '--index', '1'),
      /--profinet must be read or write/,
    ],
    [pn(...base, '--profinet', 'read', '--slot', '1', '--index', '1'), /needs --slot, --subslot and --index/],
    [
      pn(...base, '--profinet', 'read', '--slot', '70000', '--subslot', '1', '--index', '1'),
      /--slot must be an integer 0\.\.65535/,
    ],
    [
      pn(...base, '--profinet', 'read', '--slot', '1', '--subslot', '1', '--index', '1', '--fc', '3'),
      /--fc is a Modbus flag/,
    ],
    [
      pn(...base, '--profinet', 'write', '--slot', '1', '--subslot', '1', '--index', '1'),
      /a write needs data or a length/,
    ],
    [
      pn(...base, '--profinet', 'write', '--slot', '1', '--subslot', '1', '--index', '1', '--data', 'xyz'),
      /bad hex data/,
    ],
    [
      pn(...base, '--profinet', 'read', '--slot', '1', '--subslot', '1', '--index', '1', '--data', '00'),
      /a read carries no data/,
    ],
    [pn(...base, '--fc', '3', '--address', '0', '--slot', '1'), /--slot needs --profinet/],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    t.equal(r.code, 2, String(re));
    t.match(r.err, re);
  }
  const modbus = await run([
    'explain',
    SAMPLE,
    '--id',
    `${TD}/hmi/line1`,
    '--device',
    'turbine-1',
    '--fc',
    '16',
    '--address',
    '100',
    '--values',
    '10,20',
  ]);
  t.equal(modbus.code, 0);
  t.match(modbus.out, /^request: fc16 unit 1 \(write\); writes holding 100-101 = 10,20$/m);
  const modbusOnPn = await run(pn(...base, '--fc', '3', '--address', '0'));
  t.match(modbusOnPn.out, /^reason: no-rule$/m, 'PROFINET-only rules grant no Modbus');
});
