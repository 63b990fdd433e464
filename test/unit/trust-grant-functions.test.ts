/**
 * A JIT grant names registers (or record indices), never functions (gateway/trust/grant-scope.ts `coversNeed`):
 * a request of a `jit` rule's `functions` that touches no register — FC8 diagnostics, FC43, FC20/21 file records,
 * user-defined codes — is covered by no grant, and a `records` grant covers no Modbus request at all.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicyText, evaluate } from '../../gateway/policy/index.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession } from '../../gateway/trust/runtime-gate.js';
import type { GrantRequest } from '../../gateway/trust/grant-service.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';

const TD = 'spiffe://plant.example';
const ENG = { id: `${TD}/eng/alice`, role: null };
const policy = compilePolicyText(
  `version: 1
trustDomain: plant.example
rules:
  - id: maint
    principals: [${TD}/eng/alice]
    devices: [turbine-1]
    jit: { approvers: ["${TD}/ops/**"], maxDuration: 1h }
    allow: [{ access: read-write, table: holding, addresses: 0-99 }]
    functions: [8, 20, 21, 43, 65]
  - id: pn-maint
    principals: [${TD}/eng/alice]
    devices: [rio-1]
    jit: { approvers: ["${TD}/ops/**"], maxDuration: 1h }
    profinet: [{ access: read, slots: "*", subslots: "*", indices: 0-0xFF, length: 64 }]
    allow: [{ access: read, table: holding, addresses: 0-99 }]
    functions: [8]
`,
  'p.yaml',
);

const NOW = Date.parse('2026-03-04T10:00:00Z');
const fn = (fc: number, kind: ClassifiedRequest['kind'], subFunction?: number): ClassifiedRequest => ({
  fc,
  unit: 1,
  kind,
  reads: [],
  writes: [],
  ...(subFunction === undefined ? {} : { subFunction }),
});
const FUNCTIONS: readonly [string, ClassifiedRequest][] = [
  ['FC8/1 restart', fn(8, 'diagnostic', 1)],
  ['FC8/0 echo', fn(8, 'diagnostic', 0)],
  ['FC20 file read', fn(20, 'file-record')],
  ['FC21 file write', fn(21, 'file-record')],
  ['FC43/14 device id', fn(43, 'device-id', 14)],
  ['FC65 user-defined', fn(65, 'user-defined')],
];
const readHolding5: ClassifiedRequest = {
  fc: 3,
  unit: 1,
  kind: 'read',
  reads: [{ table: 'holding', start: 5, count: 1 }],
  writes: [],
};
const session: GateSession = {
  id: 's',
  peer: { ...ENG, notAfter: new Date(NOW + 864e5), fingerprint256: 'x' },
  readOnly: false,
  setReadOnly() {},
  end() {},
};

async function runtimeWith(t: Test, grant: Omit<GrantRequest, 'requester' | 'durationMs' | 'reason'>) {
  const dir = mkdtempSync(join(tmpdir(), 'vg-grant-fn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rt = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions: { all: () => [], countFor: () => 0, endMatching: () => 0 },
    audit: { append: () => ({ ok: true, seq: 1 }) },
    now: () => NOW,
    tickMs: 0,
  });
  const g = rt.grants.request({ ...grant, requester: ENG.id, durationMs: 600_000, reason: 'look at one value' });
  if (!g.ok) throw new Error(g.message);
  t.ok(rt.grants.approve(g.grant.id, `${TD}/ops/bob`).ok, 'grant approved');
  const gate = (device: string, req: ClassifiedRequest) => {
    const verdict = evaluate(policy, ENG, device, req, new Date(NOW));
    t.match(verdict, { effect: 'allow', obligations: { jit: {} } }, 'the policy allows it with a JIT obligation');
    return rt.check(session, device, req, verdict, NOW);
  };
  return { gate, grantId: g.grant.id };
}

t.test('a register grant covers its registers, and no function request of the rule', async (t) => {
  const { gate, grantId } = await runtimeWith(t, {
    device: 'turbine-1',
    table: 'holding',
    start: 5,
    end: 5,
    access: 'read',
  });
  t.same(gate('turbine-1', readHolding5), { effect: 'allow', grantId }, 'the granted register is read');
  for (const [name, req] of FUNCTIONS)
    t.same(gate('turbine-1', req), { effect: 'deny', code: 'jit-required', detail: 'maint' }, `${name}: not covered`);
});

t.test('a records grant covers no Modbus request, register or function', async (t) => {
  const { gate } = await runtimeWith(t, { device: 'rio-1', table: 'records', start: 0, end: 0xff, access: 'read' });
  for (const req of [readHolding5, fn(8, 'diagnostic', 1)])
    t.same(gate('rio-1', req), { effect: 'deny', code: 'jit-required', detail: 'pn-maint' }, `fc ${req.fc}`);
});
