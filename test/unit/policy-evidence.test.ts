/**
 * Policy from evidence, offline: `policy learn` (merge rule, values, principals, what is never learned),
 * `policy replay` (exactly the requests a tightened candidate denies, checked against the evaluator one by
 * one; exit codes), a tampered or truncated trail refused with its first bad record named, `policy diff` in
 * plain words. Trails are written by the real AuditLog with a test clock.
 */
import t from 'tap';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import { listSegments } from '../../gateway/audit/audit-segments.js';
import { svidCheckpointSigner } from '../../gateway/audit/checkpoint-signer.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { policyCommand } from '../../gateway/cli/policy-command.js';
import { compilePolicyText, evaluate, explain } from '../../gateway/policy/index.js';
import { learnPolicy } from '../../gateway/evidence/learn.js';
import { mergeRuns } from '../../gateway/evidence/learn-proposal.js';
import { principalsFor } from '../../gateway/evidence/learn-rules.js';
import { replayTrail, type ReplayChange } from '../../gateway/evidence/policy-replay.js';
import { recordedRequest } from '../../gateway/evidence/recorded-request.js';
import { verifyAuditDir } from '../../gateway/audit/audit-verify.js';
import { makeTestPki } from '../helpers/rsyslog.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const TD = 'plant.example';
const HMI = `spiffe://${TD}/hmi/line1`;
const HIST = `spiffe://${TD}/historian`;
const ENG = `spiffe://${TD}/eng/alice`;
const STRANGER = `spiffe://${TD}/stranger`;
/** A minute ago, whole second: checkpoints are signed at trail time by a certificate valid now. */
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const root = mkdtempSync(join(tmpdir(), 'vg-evidence-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

type Req = {
  id: string;
  fc: number;
  reads?: { table: 'holding' | 'input' | 'coils'; start: number; count: number }[];
  writes?: { table: 'holding' | 'coils'; start: number; count: number; values: number[] | null }[];
  decision?: 'allow' | 'deny' | 'learn';
  reason?: string;
  device?: string;
  sub?: number;
};

function decisionEvent(r: Req): AuditEventInput {
  const decision = r.decision ?? 'learn';
  return {
    type: 'request.decision',
    session: 's1',
    identity: r.id,
    device: r.device ?? 'turbine-1',
    unit: 1,
    fc: r.fc,
    ...(r.sub !== undefined ? { subFunction: r.sub } : {}),
    reads: r.reads ?? [],
    writes: r.writes ?? [],
    decision,
    ruleId: null,
    reason: r.reason ?? (decision === 'learn' ? 'learn no-rule' : decision === 'deny' ? 'no-rule' : 'allowed'),
    outcome: decision === 'deny' ? 'denied' : 'ok',
    latencyMs: 1,
    policyVersion: 'test',
  };
}

/** Writes the requests as a trail, one every 100 ms of test time (10 per second). */
async function trail(reqs: readonly Req[], opts: { checkpointEvery?: number } = {}): Promise<string> {
  const dir = join(root, `trail-${n++}`);
  const timers = new FakeTimers(T0);
  const signer = opts.checkpointEvery ? await testSigner() : undefined;
  const log = await AuditLog.open({
    dir,
    fsync: 'never',
    values: 'include',
    timers,
    ...(signer ? { checkpoint: { everyEvents: opts.checkpointEvery!, signer } } : {}),
  });
  for (const r of reqs) {
    log.append(decisionEvent(r));
    timers.advance(100);
  }
  await log.close();
  return dir;
}

let signerCache: ReturnType<typeof svidCheckpointSigner> | undefined;
async function testSigner() {
  if (signerCache) return signerCache;
  const pki = await makeTestPki(join(root, 'pki'));
  signerCache = svidCheckpointSigner(() => ({
    privateKey: createPrivateKey(pki.clientKeyPem),
    chainPem: pki.clientCertPem,
    spiffeId: pki.clientSpiffeId,
  }));
  return signerCache;
}

const verify = { allowMissingCheckpoints: true };
const read = (start: number, count: number, table: 'holding' | 'input' = 'holding'): Req['reads'] => [
  { table, start, count },
];
const write1 = (start: number, value: number): Req['writes'] => [
  { table: 'holding', start, count: 1, values: [value] },
];

/** Plant traffic: historian reads, HMI reads and writes setpoints, engineer writes a block, a stranger denied. */
function plant(): Req[] {
  const out: Req[] = [];
  for (let i = 0; i < 20; i++) {
    out.push({ id: HIST, fc: 4, reads: read(0, 3, 'input'), decision: 'allow', reason: 'allowed' });
    out.push({ id: HIST, fc: 3, reads: read(i % 2 === 0 ? 0 : 6, 4) }); // holding 0-3 and 6-9: a gap of 2 → one range
    out.push({ id: HIST, fc: 3, reads: read(40, 2) }); // holding 40-41: far (gap 30) → its own range
    out.push({ id: HMI, fc: 6, writes: write1(100, [1500, 1600, 1550][i % 3]!) });
    out.push({ id: ENG, fc: 16, writes: [{ table: 'holding', start: 200, count: 2, values: [i * 10, 7] }] });
    out.push({ id: STRANGER, fc: 6, writes: write1(100, 9000), decision: 'deny' });
  }
  return out;
}

const BASE = `version: 1
trustDomain: ${TD}
rules:
  - id: historian-input
    principals: [${HIST}]
    devices: [turbine-1]
    allow: [{ access: read, table: input, addresses: 0-9 }]
  - id: no-safety-writes
    effect: deny
    principals: ["spiffe://${TD}/**"]
    devices: ["*"]
    deny: [{ access: write, table: holding, addresses: 500-599 }]
tests:
  - { id: "${HIST}", device: turbine-1, fc: 4, address: 0, count: 3, expect: allow, rule: historian-input }
`;

t.test('the merge rule: runs at most maxGap untouched addresses apart merge, farther ones stay apart', async (t) => {
  t.same(
    mergeRuns(
      [
        [0, 3],
        [8, 9],
      ],
      4,
    ),
    [[0, 9]],
    'gap of 4 merges',
  );
  t.same(
    mergeRuns(
      [
        [0, 3],
        [9, 9],
      ],
      4,
    ),
    [
      [0, 3],
      [9, 9],
    ],
    'gap of 5 stays',
  );
  t.same(
    mergeRuns(
      [
        [0, 0],
        [2, 2],
        [4, 4],
        [100, 101],
      ],
      4,
    ),
    [
      [0, 4],
      [100, 101],
    ],
  );
});

t.test('principals: a pattern only when it covers no other identity seen', async (t) => {
  const a = `spiffe://${TD}/hmi/line1`;
  const b = `spiffe://${TD}/hmi/line2`;
  t.same(principalsFor([a, b], new Set([a, b, HIST])), [`spiffe://${TD}/hmi/*`]);
  t.same(
    principalsFor([a, b], new Set([a, b, `spiffe://${TD}/hmi/rogue`])),
    [a, b],
    'a denied hmi/rogue was seen: no pattern',
  );
  t.same(principalsFor([a], new Set([a])), [a]);
});

t.test('learn proposes least privilege that allows every observed request and nothing for the stranger', async (t) => {
  const dir = await trail(plant());
  const base = { text: BASE, file: 'policy.yaml' };
  const r = learnPolicy({ dir, verify, window: {}, base });
  if (!r.ok) throw new Error(JSON.stringify(r));
  const policy = compilePolicyText(r.text, 'proposed.yaml');
  t.ok(r.text.includes('# evidence: 20 requests'), 'each rule carries its evidence');
  t.notOk(r.text.includes('stranger'), 'no rule for the only-denied identity');
  t.equal(r.skipped.get('denied (never learned)'), 20);
  t.equal(r.skipped.get('already allowed by the base policy'), 20, 'the base already allowed the input reads');
  t.ok(
    policy.rules.some((x) => x.id === 'no-safety-writes'),
    'the base rules are kept',
  );
  const hist = r.rules.find((x) => x.principals.includes(HIST))!;
  t.same(
    hist.entries.map((e) => e.entry),
    [{ access: 'read', table: 'holding', addresses: ['0-9', '40-41'] }],
    'merge rule on the historian reads',
  );
  const hmi = r.rules.find((x) => x.principals.includes(HMI))!;
  t.same(
    hmi.entries[0]!.entry,
    { access: 'write', table: 'holding', addresses: 100, values: [1500, 1550, 1600] },
    'few distinct values: enumerated',
  );
  const eng = r.rules.find((x) => x.principals.includes(ENG))!;
  // values per address: 200 saw 20 distinct values 0..190 → range widened by 10 % of its span; 201 always 7
  t.same(
    eng.entries.slice(0, 2).map((e) => e.entry),
    [
      { access: 'write', table: 'holding', addresses: 200, values: '0..209' },
      { access: 'write', table: 'holding', addresses: 201, values: [7] },
    ],
    'write bounds per address, never merged across addresses with different specs',
  );
  t.equal(hmi.rate, '4/s', 'the HMI wrote every 600 ms: 2 in its busiest second, × 2');
  t.same(
    r.rules.map((x) => x.units),
    r.rules.map(() => [1]),
    'every rule names the one unit the plant used',
  );
  // replay of the trail under the proposal: nothing that was allowed is denied
  const rep = replayTrail({ dir, verify, window: {}, candidate: policy });
  if (!rep.ok) throw new Error('replay failed');
  t.equal(rep.tightened, 0, 'replay: 0 allow→deny');
  t.equal(rep.loosened, 0, 'the stranger stays denied');
  // probes just outside what was observed are denied
  const probe = (id: string, fc: number, address: number, more: object = {}) =>
    explain(policy, { id, device: 'turbine-1', fc, address, ...more }).decision;
  t.equal(probe(HMI, 6, 100, { value: 1700 }).effect, 'deny', 'HMI value not seen');
  t.equal(probe(HMI, 6, 101, { value: 1500 }).effect, 'deny', 'HMI next register');
  t.equal(probe(HMI, 6, 100, { value: 1500, unit: 2 }).effect, 'deny', 'HMI at a unit it never used');
  t.equal(probe(HIST, 3, 20, { count: 1 }).effect, 'deny', 'historian inside the big gap');
  t.equal(probe(ENG, 16, 200, { values: [220, 7] }).effect, 'deny', 'engineer value past the widened bound');
  t.equal(probe(ENG, 16, 200, { values: [10, 8] }).effect, 'deny', '201 was only ever written 7');
  t.equal(probe(STRANGER, 3, 0, { count: 1 }).reason, 'no-rule');
  t.ok(r.tests.allow > 0 && r.tests.deny > 0, `generated tests: ${r.tests.allow} allow, ${r.tests.deny} deny`);
  // the file passes policy check (its own tests included)
  const file = join(root, `proposed-${n++}.yaml`);
  writeFileSync(file, r.text);
  const io = memoryIo();
  t.equal(await policyCommand(['check', file], io), 0, io.stderr.join('\n'));
  t.match(io.stdout.join('\n'), /tests passed/);
});

t.test('learn CLI: writes the proposal, names what it skipped; --since excludes older requests', async (t) => {
  const dir = await trail(plant());
  const out = join(root, `cli-${n++}.yaml`);
  const io = memoryIo();
  t.equal(
    await policyCommand(['learn', '--audit', dir, '--out', out, '--allow-missing-checkpoints'], io),
    0,
    io.stderr.join('\n'),
  );
  t.match(io.stdout.join('\n'), /proposed 3 rule\(s\)/);
  t.ok(statSync(out).size > 0);
  const late = memoryIo();
  // the trail spans 12 s; from T0 + 6 s only the second half is learned
  t.equal(
    await policyCommand(
      [
        'learn',
        '--audit',
        dir,
        '--out',
        out,
        '--allow-missing-checkpoints',
        '--since',
        new Date(T0 + 6000).toISOString(),
      ],
      late,
    ),
    0,
  );
  t.match(late.stdout.join('\n'), /from 50 of 60 requests/);
});

t.test('replay reports exactly the requests a tightened candidate denies, and exits non-zero', async (t) => {
  const dir = await trail(plant());
  const learned = learnPolicy({ dir, verify, window: {}, base: null });
  if (!learned.ok) throw new Error('learn failed');
  // tighten: the HMI may only write 1500; the historian loses holding 40-41; and loosen: the stranger may write 9000
  const tightened =
    learned.text
      .replace('values: [ 1500, 1550, 1600 ]', 'values: [ 1500 ]')
      .replace('addresses: [ 0-9, 40-41 ]', 'addresses: 0-9')
      .replace(/tests:[\s\S]*$/, '') +
    `  - { id: stranger-ok, principals: [${STRANGER}], devices: [turbine-1], allow: [{ access: write, table: holding, addresses: 100, values: 9000 }] }\n`;
  const candidate = compilePolicyText(tightened, 'candidate.yaml');
  const changes: ReplayChange[] = [];
  const r = replayTrail({ dir, verify, window: {}, candidate, onChange: (c) => changes.push(c) });
  if (!r.ok) throw new Error('replay failed');
  // the evaluator, request by request, on the same trail
  const expectDenied: number[] = [];
  const expectAllowed: number[] = [];
  verifyAuditDir(dir, {
    allowMissingCheckpoints: true,
    onEvent: (e) => {
      const rec = recordedRequest(e);
      if (rec === null || rec.kind !== 'modbus') return;
      const d = evaluate(
        candidate,
        { id: rec.identity, role: rec.role },
        rec.device,
        rec.request,
        new Date(rec.decidedMs),
      );
      if (rec.decision !== 'deny' && d.effect === 'deny') expectDenied.push(rec.seq);
      if (rec.decision === 'deny' && d.effect === 'allow') expectAllowed.push(rec.seq);
    },
  });
  t.same(
    changes.filter((c) => c.direction === 'allow→deny').map((c) => c.seq),
    expectDenied,
    "allow→deny = the evaluator's verdicts",
  );
  t.same(
    changes.filter((c) => c.direction === 'deny→allow').map((c) => c.seq),
    expectAllowed,
  );
  t.equal(r.tightened, 13 + 20, '13 HMI writes of 1550/1600, 20 historian reads of 40-41');
  t.equal(r.loosened, 20);
  const hmiGroup = r.groups.find((g) => g.identity === HMI)!;
  t.match(hmiGroup, { direction: 'allow→deny', device: 'turbine-1', reason: 'value-not-allowed', count: 13 });
  t.equal(hmiGroup.samples.length, 3, 'samples per group');
  const file = join(root, `candidate-${n++}.yaml`);
  writeFileSync(file, tightened);
  const io = memoryIo();
  t.equal(
    await policyCommand(['replay', '--audit', dir, '--policy', file, '--allow-missing-checkpoints'], io),
    1,
    'tightening fails the CI gate',
  );
  t.match(io.stdout.join('\n'), /allow→deny: 33 request/);
  t.match(
    io.stdout.join('\n'),
    /13 × spiffe:\/\/plant.example\/hmi\/line1 on turbine-1: rule \(none\) → value-not-allowed/,
  );
  t.match(io.stderr.join('\n'), /33 request\(s\) allowed in the trail would be DENIED/);
  const ok = memoryIo();
  t.equal(
    await policyCommand(
      ['replay', '--audit', dir, '--policy', file, '--allow-missing-checkpoints', '--allow-tightening', '--json'],
      ok,
    ),
    0,
  );
  t.match(JSON.parse(ok.stdout.join('\n')), { tightened: 33, loosened: 20 });
});

t.test('a tampered or truncated trail is refused by learn and replay, naming the first bad record', async (t) => {
  const pristine = await trail(plant().slice(0, 30), { checkpointEvery: 10 });
  const policyFile = join(root, `p-${n++}.yaml`);
  writeFileSync(policyFile, BASE);
  const run = async (dir: string, verb: 'learn' | 'replay') => {
    const io = memoryIo();
    const args =
      verb === 'learn'
        ? ['learn', '--audit', dir, '--out', join(root, `x-${n++}.yaml`)]
        : ['replay', '--audit', dir, '--policy', policyFile, '--allow-tightening'];
    const code = await policyCommand([...args, '--allow-missing-checkpoints'], io);
    return { code, err: io.stderr.join('\n') };
  };
  for (const verb of ['learn', 'replay'] as const) {
    const r = await run(pristine, verb);
    t.equal(r.code, 0, `${verb}: the pristine trail is evidence ${r.err}`);
  }
  const seg = (dir: string) => join(dir, listSegments(dir)[0]!);
  // tampered: the HMI's value in seq 5 changed without re-hashing
  const tampered = join(root, `tampered-${n++}`);
  cpSync(pristine, tampered, { recursive: true });
  const lines = readFileSync(seg(tampered), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes('"seq":5,'));
  lines[i] = lines[i]!.replace(/"values":\[1500\]/, '"values":[3600]');
  writeFileSync(seg(tampered), lines.join('\n'));
  // truncated: the last events cut, while a signed checkpoint names a later seq
  const truncated = join(root, `truncated-${n++}`);
  cpSync(pristine, truncated, { recursive: true });
  const all = readFileSync(seg(truncated), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  writeFileSync(
    seg(truncated),
    all
      .slice(0, 25)
      .map((l) => `${l}\n`)
      .join(''),
  );
  // torn: the last line cut in the middle
  const torn = join(root, `torn-${n++}`);
  cpSync(pristine, torn, { recursive: true });
  truncateSync(seg(torn), statSync(seg(torn)).size - 10);
  for (const verb of ['learn', 'replay'] as const) {
    const a = await run(tampered, verb);
    t.equal(a.code, 1, `${verb} refuses a tampered trail`);
    t.match(
      a.err,
      new RegExp(`FAIL: audit-0+1\\.jsonl:${i + 1} \\(seq 5\\): (hash does not match|line is not canonical)`),
    );
    const b = await run(truncated, verb);
    t.equal(b.code, 1, `${verb} refuses a truncated trail`);
    t.match(
      b.err,
      /FAIL: audit-0+1\.jsonl:26 \(seq 26\): truncated: checkpoint \d+ names seq \d+ but the log ends at seq 25/,
    );
    const c = await run(torn, verb);
    t.equal(c.code, 1, `${verb} refuses a torn trail`);
    t.match(c.err, /FAIL: audit-0+1\.jsonl:\d+ \(seq \d+\): torn last line/);
  }
});

t.test('diff says what changed in plain words', async (t) => {
  const a = `version: 1
trustDomain: ${TD}
rules:
  - id: hmi
    principals: [${HMI}]
    devices: [turbine-1]
    allow:
      - { access: write, table: holding, addresses: 100-109, values: "0..3600" }
      - { access: read, table: holding, addresses: 0-99 }
  - id: old
    principals: [${HIST}]
    devices: [turbine-1]
    allow: [{ access: read, table: input, addresses: 0-9 }]
`;
  const b = `version: 1
trustDomain: ${TD}
mode: shadow
rules:
  - id: hmi
    principals: [${HMI}, spiffe://${TD}/hmi/line2]
    devices: [turbine-1]
    rate: 10/s
    allow:
      - { access: write, table: holding, addresses: 100-119, values: "0..3000" }
      - { access: read, table: holding, addresses: [0-49, 50-99] }
  - id: new
    principals: [${ENG}]
    devices: [tank-1]
    allow: [{ access: read, table: coils, addresses: 0 }]
`;
  const fa = join(root, `a-${n++}.yaml`);
  const fb = join(root, `b-${n++}.yaml`);
  writeFileSync(fa, a);
  writeFileSync(fb, b);
  const io = memoryIo();
  t.equal(await policyCommand(['diff', fa, fb], io), 0);
  const out = io.stdout.join('\n');
  t.match(out, /\+ new: allow spiffe:\/\/plant.example\/eng\/alice on tank-1: read coils 0/);
  t.match(out, /- old: allow spiffe:\/\/plant.example\/historian on turbine-1: read input 0-9/);
  t.match(out, /principals added: spiffe:\/\/plant.example\/hmi\/line2/);
  t.match(out, /write holding 100-109 values 0\.\.3600 → 0\.\.3000 — narrowed/);
  t.match(out, /write holding 110-119 now allowed \(values 0\.\.3000\) — widened/);
  t.notMatch(out, /read holding/, '0-49 + 50-99 is the same as 0-99');
  t.match(out, /rate: \(none\) → 10\/s/);
  t.match(out, /mode: enforce → shadow/);
  t.match(out, /summary: 1 added, 1 removed, 1 changed/);
});
