/**
 * `policy replay` over a trail recorded with `audit.values: hash`: a write whose values are unknown is
 * `undecidable` only when its values are all that could make the candidate deny it. A request the candidate
 * denies whatever the values — the read half of an FC23, or an FC16 reaching a register no entry covers — is
 * allow→deny (the CI gate fails), even when the evaluator's first refusal happens to be about a value.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '../../gateway/audit/audit-log.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import type { ReadRange, WriteRange } from '../../protocols/modbus/types.js';
import { compilePolicyText } from '../../gateway/policy/index.js';
import { replayTrail } from '../../gateway/evidence/policy-replay.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const TD = 'plant.example';
const HMI = `spiffe://${TD}/hmi/line1`;
const T0 = Math.floor(Date.now() / 1000) * 1000 - 60_000;

function allowed(fc: number, writes: WriteRange[], reads: ReadRange[]): AuditEventInput {
  return {
    type: 'request.decision',
    session: 's1',
    identity: HMI,
    device: 'turbine-1',
    unit: 1,
    fc,
    reads,
    writes,
    decision: 'allow',
    ruleId: 'hmi',
    reason: 'allowed',
    outcome: 'ok',
    latencyMs: 1,
    policyVersion: 'test',
  };
}

const candidate = (allow: string): ReturnType<typeof compilePolicyText> =>
  compilePolicyText(
    `version: 1
trustDomain: ${TD}
rules:
  - id: hmi
    principals: [${HMI}]
    devices: [turbine-1]
    allow:
${allow}`,
    'candidate.yaml',
  );

t.test('hashed values: undecidable only when the values alone could decide', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-replay-hash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const timers = new FakeTimers(T0);
  const log = await AuditLog.open({ dir, fsync: 'never', values: 'hash', timers });
  // FC23: write holding 100 = 5, read holding 0-9
  log.append(
    allowed(23, [{ table: 'holding', start: 100, count: 1, values: [5] }], [{ table: 'holding', start: 0, count: 10 }]),
  );
  timers.advance(100);
  // FC16: write holding 100-102
  log.append(allowed(16, [{ table: 'holding', start: 100, count: 3, values: [1, 2, 3] }], []));
  await log.close();

  const run = (allow: string): { tightened: number; undecidable: number; unchanged: number } => {
    const r = replayTrail({ dir, verify: { allowMissingCheckpoints: true }, window: {}, candidate: candidate(allow) });
    if (!r.ok) throw new Error('replay failed');
    return { tightened: r.tightened, undecidable: r.undecidable, unchanged: r.unchanged };
  };

  // the candidate grants no read at all and only 100-101 for writes: both requests are denied whatever the values
  t.same(
    run('      - { access: write, table: holding, addresses: 100-101, values: "0..10" }\n'),
    { tightened: 2, undecidable: 0, unchanged: 0 },
    'denied for a register no entry covers: allow→deny, not undecidable',
  );
  // the candidate covers every register, bounds the values: the hashed values decide
  t.same(
    run(
      '      - { access: write, table: holding, addresses: 100-102, values: "0..10" }\n      - { access: read, table: holding, addresses: 0-9 }\n',
    ),
    { tightened: 0, undecidable: 2, unchanged: 0 },
    'only the values could deny them: undecidable',
  );
  t.same(
    run(
      '      - { access: write, table: holding, addresses: 100-102 }\n      - { access: read, table: holding, addresses: 0-9 }\n',
    ),
    { tightened: 0, undecidable: 0, unchanged: 2 },
  );
});
