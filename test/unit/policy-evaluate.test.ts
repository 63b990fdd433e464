import t from 'tap';
import { classify } from '../../protocols/modbus/index.js';
import type { ClassifiedRequest, ModbusRequest } from '../../protocols/modbus/index.js';
import {
  compilePolicyText,
  evaluate,
  explain,
  loadPolicyText,
  reasonCode,
  type CompiledPolicy,
  type Decision,
} from '../../gateway/policy/index.js';

const TD = 'spiffe://plant.example';
const HMI = { id: `${TD}/hmi/line1`, role: null };
const NOW = new Date('2026-03-04T10:00:00Z'); // a Wednesday

function policy(rules: string, extra = ''): CompiledPolicy {
  return compilePolicyText(`version: 1\ntrustDomain: plant.example\n${extra}rules:\n${rules}`, 'test.yaml');
}

const rd = (fc: 1 | 2 | 3 | 4, address: number, quantity = 1, unit = 1): ClassifiedRequest =>
  classify(
    fc <= 2
      ? { type: 'read-bits', fc: fc as 1 | 2, address, quantity }
      : { type: 'read-registers', fc: fc as 3 | 4, address, quantity },
    unit,
  );
const wr = (address: number, value: number, unit = 1): ClassifiedRequest =>
  classify({ type: 'write-single-register', fc: 6, address, value }, unit);
const wrm = (address: number, values: number[], unit = 1): ClassifiedRequest =>
  classify({ type: 'write-multiple-registers', fc: 16, address, values }, unit);
const req = (r: ModbusRequest, unit = 1): ClassifiedRequest => classify(r, unit);

function ev(
  p: CompiledPolicy,
  r: ClassifiedRequest,
  peer: { id: string; role: string | null } = HMI,
  device = 'turbine-1',
  now = NOW,
): Decision {
  return evaluate(p, peer, device, r, now);
}

const setpoint = `  - id: hmi-setpoint
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow:
      - { access: write, table: holding, addresses: 100-109, values: 0..3600 }
      - { access: read, tables: [holding, input], addresses: 0-199 }
`;

t.test('default deny: no-rule for unknown peer, device, or trust domain', async (t) => {
  const p = policy(setpoint);
  t.same(ev(p, rd(3, 0), { id: `${TD}/stranger`, role: null }), {
    effect: 'deny',
    ruleId: null,
    code: 'no-rule',
    detail: '',
    reason: 'no-rule',
  });
  t.equal(ev(p, rd(3, 0), HMI, 'tank-1').reason, 'no-rule');
  t.equal(ev(p, rd(3, 0), { id: 'spiffe://evil.example/hmi/line1', role: null }).reason, 'no-rule');
  t.equal(ev(p, rd(3, 0), { id: 'not a spiffe id', role: null }).reason, 'no-rule');
  t.same(ev(p, rd(3, 0)), { effect: 'allow', ruleId: 'hmi-setpoint', code: 'allowed', detail: '', reason: 'allowed' });
});

t.test('whole-request denial at range edges', async (t) => {
  const p = policy(setpoint);
  t.equal(ev(p, wrm(100, new Array<number>(10).fill(1))).effect, 'allow', '100-109 exactly');
  t.same(ev(p, wrm(100, new Array<number>(11).fill(1))), {
    effect: 'deny',
    ruleId: null,
    code: 'address-not-allowed',
    detail: 'write holding:110',
    reason: 'address-not-allowed write holding:110',
  });
  t.equal(ev(p, wrm(99, [1, 1])).reason, 'address-not-allowed write holding:99');
  t.equal(ev(p, wr(109, 5)).effect, 'allow');
  t.equal(ev(p, wr(110, 5)).effect, 'deny');
  t.equal(ev(p, rd(3, 190, 10)).effect, 'allow', 'read 190-199');
  t.equal(ev(p, rd(3, 190, 11)).reason, 'address-not-allowed read holding:200');
  t.equal(ev(p, rd(4, 0, 125)).effect, 'allow');
  t.equal(ev(p, rd(1, 0)).reason, 'address-not-allowed read coils:0', 'other table');
  t.equal(ev(p, rd(3, 0, 1, 1)).effect, 'allow');
});

t.test('coverage may combine several entries and rules', async (t) => {
  const p =
    policy(`  - { id: a, principals: [${TD}/hmi/line1], devices: [turbine-1], allow: [{ access: read, table: holding, addresses: [0-9, 20-29] }] }
  - { id: b, principals: [${TD}/hmi/*], devices: [turbine-*], allow: [{ access: read, table: holding, addresses: 10-19 }] }
`);
  t.same(ev(p, rd(3, 0, 30)), { effect: 'allow', ruleId: 'a', code: 'allowed', detail: '', reason: 'allowed' });
  t.equal(ev(p, rd(3, 10, 5)).ruleId, 'b');
  t.equal(ev(p, rd(3, 0, 31)).reason, 'address-not-allowed read holding:30');
  t.equal(ev(p, rd(3, 10, 5), HMI, 'tank-1').reason, 'no-rule');
});

t.test('written values: FC6, FC16 every value, FC5/15 coils', async (t) => {
  const p =
    policy(`${setpoint}  - { id: coils, principals: [${TD}/hmi/line1], devices: [turbine-1], allow: [{ access: write, table: coils, addresses: 0-15, values: 0 }] }
`);
  t.equal(ev(p, wr(100, 3600)).effect, 'allow');
  t.same(ev(p, wr(100, 3601)), {
    effect: 'deny',
    ruleId: null,
    code: 'value-not-allowed',
    detail: 'holding:100=3601',
    reason: 'value-not-allowed holding:100=3601',
  });
  t.equal(ev(p, wrm(100, [0, 3600, 1200])).effect, 'allow');
  t.equal(ev(p, wrm(100, [0, 3600, 4000, 1])).reason, 'value-not-allowed holding:102=4000', 'one bad value denies all');
  t.equal(ev(p, req({ type: 'write-single-coil', fc: 5, address: 3, value: false })).effect, 'allow');
  t.equal(
    ev(p, req({ type: 'write-single-coil', fc: 5, address: 3, value: true })).reason,
    'value-not-allowed coils:3=1',
  );
  t.equal(ev(p, req({ type: 'write-multiple-coils', fc: 15, address: 0, values: [false, false] })).effect, 'allow');
  t.equal(
    ev(p, req({ type: 'write-multiple-coils', fc: 15, address: 0, values: [false, true] })).reason,
    'value-not-allowed coils:1=1',
  );
  t.equal(
    ev(p, req({ type: 'write-multiple-coils', fc: 15, address: 10, values: new Array(7).fill(false) })).reason,
    'address-not-allowed write coils:16',
  );
});

t.test('values per address may come from different entries', async (t) => {
  const p = policy(`  - id: v
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow:
      - { access: write, table: holding, addresses: 0-9, values: 0..10 }
      - { access: write, table: holding, addresses: 5-9, values: 100..200 }
`);
  t.equal(ev(p, wrm(4, [10, 150, 5])).effect, 'allow');
  t.equal(ev(p, wrm(3, [150, 150])).reason, 'value-not-allowed holding:3=150');
});

t.test('FC22 mask write: only where any value is allowed', async (t) => {
  const p =
    policy(`${setpoint}  - { id: free, principals: [${TD}/hmi/line1], devices: [turbine-1], allow: [{ access: write, table: holding, addresses: 0-9 }] }
`);
  const mask = (address: number): ClassifiedRequest =>
    req({ type: 'mask-write-register', fc: 22, address, andMask: 0xff00, orMask: 1 });
  t.same(ev(p, mask(100)), {
    effect: 'deny',
    ruleId: null,
    code: 'value-not-allowed',
    detail: 'holding:100=?',
    reason: 'value-not-allowed holding:100=?',
  });
  t.same(ev(p, mask(5)), { effect: 'allow', ruleId: 'free', code: 'allowed', detail: '', reason: 'allowed' });
  t.equal(ev(p, mask(50)).reason, 'address-not-allowed write holding:50');
});

t.test('FC23 needs both its write and its read', async (t) => {
  const p = policy(`  - id: rw
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow:
      - { access: write, table: holding, addresses: 100-109 }
      - { access: read, table: holding, addresses: 0-49 }
  - { id: both, principals: [${TD}/hmi/line1], devices: [turbine-1], allow: [{ access: read-write, table: holding, addresses: 200-209, values: 0..5 }] }
`);
  const rw = (readAddress: number, writeAddress: number, values = [1]): ClassifiedRequest =>
    req({ type: 'read-write-registers', fc: 23, readAddress, readQuantity: 2, writeAddress, values });
  t.equal(ev(p, rw(0, 100)).effect, 'allow');
  t.equal(ev(p, rw(100, 100)).reason, 'address-not-allowed read holding:100', 'write ok, read not');
  t.equal(ev(p, rw(0, 0)).reason, 'address-not-allowed write holding:0', 'read ok, write not');
  t.equal(ev(p, rw(200, 200)).effect, 'allow', 'read-write entry grants both');
  t.equal(ev(p, rw(200, 200, [6])).reason, 'value-not-allowed holding:200=6', 'values apply to the write part');
  t.equal(ev(p, rd(3, 200, 10)).effect, 'allow', 'read-write entry grants plain reads');
});

t.test('explicit deny wins over any allow', async (t) => {
  const p =
    policy(`${setpoint}  - { id: freeze-102, effect: deny, principals: [${TD}/**], devices: ["*"], deny: [{ access: write, table: holding, addresses: 102 }] }
  - { id: no-high, effect: deny, principals: [${TD}/hmi/*], devices: [turbine-1], deny: [{ access: write, table: holding, addresses: 100-109, values: 3000..65535 }] }
  - { id: ban-eve, effect: deny, principals: [${TD}/hmi/eve], devices: ["*"] }
  - { id: eve, principals: [${TD}/hmi/eve], devices: ["*"], allow: [{ access: read, table: holding, addresses: 0-9 }] }
`);
  t.same(ev(p, wrm(100, [1, 1, 1])), {
    effect: 'deny',
    ruleId: 'freeze-102',
    code: 'explicit-deny',
    detail: 'write holding:102',
    reason: 'explicit-deny write holding:102',
  });
  t.equal(ev(p, wrm(103, [1, 1])).effect, 'allow');
  t.same(ev(p, wr(104, 3100)), {
    effect: 'deny',
    ruleId: 'no-high',
    code: 'explicit-deny',
    detail: 'write holding:104',
    reason: 'explicit-deny write holding:104',
  });
  t.equal(ev(p, wr(104, 2999)).effect, 'allow');
  t.equal(ev(p, rd(3, 102)).effect, 'allow', 'a write-deny leaves reads alone');
  t.same(ev(p, rd(3, 0), { id: `${TD}/hmi/eve`, role: null }, 'tank-1'), {
    effect: 'deny',
    ruleId: 'ban-eve',
    code: 'explicit-deny',
    detail: 'all',
    reason: 'explicit-deny all',
  });
  const mask = req({ type: 'mask-write-register', fc: 22, address: 105, andMask: 0, orMask: 0 });
  t.equal(ev(p, mask).ruleId, 'no-high', 'unknown value (FC22) meets a value-scoped deny: fail closed');
});

t.test('non read/write function codes: denied unless named', async (t) => {
  const p = policy(`${setpoint}  - id: diag
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    functions: [{ fc: 8, sub: [0] }, { fc: 43, sub: [14] }, 65, 24]
  - { id: fifo-read, principals: [${TD}/hmi/line1], devices: [turbine-1], allow: [{ access: read, table: holding, addresses: 200-231 }] }
`);
  const diag = (sub: number): ClassifiedRequest =>
    req({ type: 'diagnostics', fc: 8, subFunction: sub, data: Buffer.from([0, 0]) });
  t.same(ev(p, diag(0)), { effect: 'allow', ruleId: 'diag', code: 'allowed', detail: '', reason: 'allowed' });
  t.same(
    ev(p, diag(1)),
    {
      effect: 'deny',
      ruleId: null,
      code: 'function-not-allowed',
      detail: 'fc:8/1',
      reason: 'function-not-allowed fc:8/1',
    },
    'restart comms is not named',
  );
  t.equal(ev(p, req({ type: 'device-id', fc: 43, meiType: 14, readDeviceIdCode: 1, objectId: 0 })).effect, 'allow');
  t.equal(
    ev(p, req({ type: 'other', fc: 43, data: Buffer.from([13]) })).reason,
    'function-not-allowed fc:43/13',
    'CANopen MEI',
  );
  t.equal(ev(p, req({ type: 'other', fc: 65, data: Buffer.alloc(0) })).effect, 'allow', 'user-defined named');
  t.equal(ev(p, req({ type: 'other', fc: 66, data: Buffer.alloc(0) })).reason, 'function-not-allowed fc:66');
  t.equal(
    ev(p, req({ type: 'serial-diagnostic', fc: 17, data: Buffer.alloc(0) })).reason,
    'function-not-allowed fc:17',
  );
  t.equal(
    ev(p, req({ type: 'file-record', fc: 20, subRequests: [{ fileNumber: 1, recordNumber: 0, recordLength: 1 }] }))
      .reason,
    'function-not-allowed fc:20',
  );
  t.equal(
    ev(p, req({ type: 'read-fifo', fc: 24, address: 200 })).effect,
    'allow',
    'FC24 named and its window readable',
  );
  t.equal(
    ev(p, req({ type: 'read-fifo', fc: 24, address: 210 })).reason,
    'address-not-allowed read holding:232',
    'FC24 window must be readable',
  );
  const sub = policy(`  - { id: d, principals: [${TD}/hmi/line1], devices: [turbine-1], functions: [8] }\n`);
  t.equal(ev(sub, diag(4)).effect, 'allow', 'no sub list = any sub-function');
  t.equal(ev(sub, rd(3, 0)).reason, 'address-not-allowed read holding:0');
  const denyFn = policy(`${setpoint}  - { id: d, principals: [${TD}/hmi/line1], devices: [turbine-1], functions: [8] }
  - { id: no-restart, effect: deny, principals: [${TD}/**], devices: ["*"], functions: [{ fc: 8, sub: [1, 4] }] }
`);
  t.same(ev(denyFn, diag(4)), {
    effect: 'deny',
    ruleId: 'no-restart',
    code: 'explicit-deny',
    detail: 'fc:8/4',
    reason: 'explicit-deny fc:8/4',
  });
  t.equal(ev(denyFn, diag(2)).effect, 'allow');
});

t.test('broadcast: unit 0 writes only when a rule names unit 0', async (t) => {
  const p = policy(setpoint);
  t.same(ev(p, wr(100, 1, 0)), {
    effect: 'deny',
    ruleId: null,
    code: 'broadcast-not-allowed',
    detail: '',
    reason: 'broadcast-not-allowed',
  });
  t.equal(ev(p, rd(3, 0, 1, 0)).effect, 'allow', 'reads on unit 0 are not broadcasts');
  const named =
    policy(`${setpoint}  - { id: bcast, principals: [${TD}/hmi/line1], devices: [turbine-1], units: [0], allow: [{ access: write, table: holding, addresses: 100 }] }
`);
  t.same(ev(named, wr(100, 1, 0)), {
    effect: 'allow',
    ruleId: 'bcast',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
  });
  t.equal(ev(named, wr(101, 1, 0)).reason, 'broadcast-not-allowed');
  t.equal(ev(named, wr(100, 1, 1)).ruleId, 'hmi-setpoint');
});

t.test('units restrict a rule', async (t) => {
  const p = policy(
    `  - { id: u, principals: [${TD}/hmi/line1], devices: [gw], units: ["1-3", 7], allow: [{ access: read, table: holding, addresses: 0-9 }] }\n`,
  );
  t.equal(ev(p, rd(3, 0, 1, 2), HMI, 'gw').effect, 'allow');
  t.equal(ev(p, rd(3, 0, 1, 7), HMI, 'gw').effect, 'allow');
  t.same(ev(p, rd(3, 0, 1, 4), HMI, 'gw'), {
    effect: 'deny',
    ruleId: null,
    code: 'unit-not-allowed',
    detail: '4',
    reason: 'unit-not-allowed 4',
  });
});

t.test('schedules with time zones (Intl), days, overnight windows', async (t) => {
  const p = policy(`  - id: day-shift
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-9 }]
    schedule: { days: mon-fri, hours: "06:00-22:00", tz: Europe/Berlin }
  - id: night
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: read, table: input, addresses: 0-9 }]
    schedule: { days: [sat, sun], hours: "22:00-06:00", tz: America/New_York }
`);
  const at = (iso: string): Date => new Date(iso);
  // Berlin is UTC+1 in winter, UTC+2 in summer.
  t.equal(ev(p, rd(3, 0), HMI, 'turbine-1', at('2026-01-14T05:00:00Z')).effect, 'allow', 'Wed 06:00 Berlin (winter)');
  t.same(
    ev(p, rd(3, 0), HMI, 'turbine-1', at('2026-01-14T04:59:00Z')),
    {
      effect: 'deny',
      ruleId: null,
      code: 'outside-schedule',
      detail: 'day-shift',
      reason: 'outside-schedule day-shift',
    },
    'Wed 05:59 Berlin',
  );
  t.equal(
    ev(p, rd(3, 0), HMI, 'turbine-1', at('2026-07-15T04:30:00Z')).effect,
    'allow',
    'Wed 06:30 Berlin (summer, UTC+2)',
  );
  t.equal(ev(p, rd(3, 0), HMI, 'turbine-1', at('2026-01-14T20:59:00Z')).effect, 'allow', '21:59 Berlin');
  t.equal(ev(p, rd(3, 0), HMI, 'turbine-1', at('2026-01-14T21:00:00Z')).effect, 'deny', '22:00 Berlin: end exclusive');
  t.equal(ev(p, rd(3, 0), HMI, 'turbine-1', at('2026-01-17T10:00:00Z')).effect, 'deny', 'Saturday');
  t.equal(
    ev(p, rd(3, 0), HMI, 'turbine-1', at('2026-01-16T23:30:00Z')).effect,
    'deny',
    'Sat 00:30 Berlin while still Friday in UTC',
  );
  // New York: UTC-5 in January.
  t.equal(ev(p, rd(4, 0), HMI, 'turbine-1', at('2026-01-18T04:00:00Z')).effect, 'allow', 'Sat 23:00 New York');
  t.equal(ev(p, rd(4, 0), HMI, 'turbine-1', at('2026-01-18T10:00:00Z')).effect, 'allow', 'Sun 05:00 New York');
  t.equal(ev(p, rd(4, 0), HMI, 'turbine-1', at('2026-01-18T11:00:00Z')).effect, 'deny', 'Sun 06:00 New York');
  t.equal(
    ev(p, rd(4, 0), HMI, 'turbine-1', at('2026-01-19T04:00:00Z')).effect,
    'allow',
    'Sun 23:00 New York: the local day of the instant counts',
  );
  t.equal(
    ev(p, rd(4, 0), HMI, 'turbine-1', at('2026-01-19T07:00:00Z')).effect,
    'deny',
    'Mon 02:00 New York: Monday is not listed',
  );
  t.equal(ev(p, rd(4, 0), HMI, 'turbine-1', at('2026-01-20T04:00:00Z')).effect, 'deny', 'Mon 23:00 New York');
  t.equal(
    evaluate(p, HMI, 'turbine-1', rd(3, 0), at('2026-01-17T10:00:00Z'), { ignoreSchedules: true }).effect,
    'allow',
    'ignoreSchedules',
  );
});

t.test('role principals: claim honoured only for listed holders', async (t) => {
  const p = policy(
    `  - { id: ops, principals: ["role:operator"], devices: ["*"], allow: [{ access: read, table: holding, addresses: 0-9 }] }\n`,
    `roles:\n  operator: [${TD}/hmi/*]\n`,
  );
  t.same(ev(p, rd(3, 0), { id: `${TD}/hmi/line7`, role: 'operator' }), {
    effect: 'allow',
    ruleId: 'ops',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
  });
  t.equal(ev(p, rd(3, 0), { id: `${TD}/hmi/line7`, role: null }).reason, 'no-rule', 'no role claim');
  t.equal(ev(p, rd(3, 0), { id: `${TD}/hmi/line7`, role: 'engineer' }).reason, 'no-rule', 'other role');
  t.equal(ev(p, rd(3, 0), { id: `${TD}/eng/bob`, role: 'operator' }).reason, 'no-rule', 'claim from a non-holder');
});

t.test('SPIFFE patterns: * one segment, ** any depth', async (t) => {
  const p =
    policy(`  - { id: one, principals: [${TD}/hmi/*], devices: [d], allow: [{ access: read, table: holding, addresses: 0 }] }
  - { id: deep, principals: [${TD}/eng/**], devices: [d], allow: [{ access: read, table: holding, addresses: 1 }] }
`);
  t.equal(ev(p, rd(3, 0), { id: `${TD}/hmi/a`, role: null }, 'd').effect, 'allow');
  t.equal(ev(p, rd(3, 0), { id: `${TD}/hmi/a/b`, role: null }, 'd').effect, 'deny');
  t.equal(ev(p, rd(3, 1), { id: `${TD}/eng/a/b/c`, role: null }, 'd').effect, 'allow');
  t.equal(ev(p, rd(3, 1), { id: `${TD}/eng`, role: null }, 'd').effect, 'deny');
});

t.test('obligations: jit and rate, and the preference for rules needing no grant', async (t) => {
  const p = policy(`  - id: eng-maint
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 0-999 }]
    jit: { approvers: [${TD}/ops/shift-lead], maxDuration: 5m, threshold: 2 }
  - id: eng-scratch
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 500-509 }]
    rate: 10/s
`);
  const eng = { id: `${TD}/eng/alice`, role: null };
  t.same(ev(p, wr(10, 1), eng), {
    effect: 'allow',
    ruleId: 'eng-maint',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
    obligations: {
      jit: { ruleId: 'eng-maint', approvers: [`${TD}/ops/shift-lead`], maxDurationMs: 300_000, threshold: 2 },
    },
  });
  t.same(
    ev(p, wr(505, 1), eng),
    {
      effect: 'allow',
      ruleId: 'eng-scratch',
      code: 'allowed',
      detail: '',
      reason: 'allowed',
      obligations: { rate: { ruleId: 'eng-scratch', perSecond: 10 } },
    },
    'no-JIT rule preferred',
  );
  const both = ev(p, wrm(508, [1, 2, 3]), eng);
  t.equal(both.ruleId, 'eng-scratch');
  t.equal(both.obligations?.jit?.ruleId, 'eng-maint', 'part of the request needs the JIT rule');
  t.equal(both.obligations?.rate?.perSecond, 10);
});

t.test('FC23: each half is judged by its own best rule; the JIT grant scope is the JIT half only', async (t) => {
  const p = policy(`  - id: eng-read
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-999 }]
  - id: eng-maint
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 0-999 }]
    jit: { approvers: [${TD}/ops/shift-lead], maxDuration: 5m }
  - id: eng-scratch
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 500-509 }]
`);
  const eng = { id: `${TD}/eng/alice`, role: null };
  const rw = (readAddress: number, readQuantity: number, writeAddress: number, values: number[]): ClassifiedRequest =>
    req({ type: 'read-write-registers', fc: 23, readAddress, readQuantity, writeAddress, values });
  const d = ev(p, rw(0, 4, 10, [1, 2]), eng);
  t.equal(d.effect, 'allow');
  t.equal(d.ruleId, 'eng-maint', 'the write half reports its rule');
  t.equal(d.obligations?.jit?.ruleId, 'eng-maint', 'the obligation is the write half rule');
  t.same(
    d.obligations?.jit?.scope,
    { reads: [], writes: [{ table: 'holding', start: 10, count: 2 }] },
    'the grant must cover the write half only',
  );
  const free = ev(p, rw(0, 4, 500, [1, 2]), eng);
  t.same(
    free,
    { effect: 'allow', ruleId: 'eng-scratch', code: 'allowed', detail: '', reason: 'allowed' },
    'write half by a rule needing no grant: no obligation',
  );
  const mixed = ev(p, rw(0, 1, 508, [1, 2, 3, 4]), eng);
  t.same(
    mixed.obligations?.jit?.scope?.writes,
    [{ table: 'holding', start: 510, count: 2 }],
    'only the registers no free rule covers',
  );
  t.equal(
    ev(p, wr(10, 1), eng).obligations?.jit?.scope,
    undefined,
    'a request the JIT rule grants whole: the grant covers all of it',
  );
  const noRead = policy(`  - id: eng-maint
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 0-999 }]
    jit: { approvers: [${TD}/ops/shift-lead], maxDuration: 5m }
`);
  t.equal(
    ev(noRead, rw(0, 4, 10, [1]), eng).reason,
    'address-not-allowed read holding:0',
    'the read half still needs a rule',
  );
  const readJit =
    policy(`  - { id: w, principals: [${TD}/eng/*], devices: [turbine-1], allow: [{ access: write, table: holding, addresses: 0-9 }] }
  - id: r-jit
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-999 }]
    jit: { approvers: [${TD}/ops/shift-lead], maxDuration: 5m }
`);
  const rj = ev(readJit, rw(100, 3, 0, [7]), eng);
  t.equal(rj.ruleId, 'w', 'the write half reports its rule');
  t.same(
    rj.obligations?.jit,
    {
      ruleId: 'r-jit',
      approvers: [`${TD}/ops/shift-lead`],
      maxDurationMs: 300_000,
      threshold: 1,
      scope: { reads: [{ table: 'holding', start: 100, count: 3 }], writes: [] },
    },
    'the read half needs the grant',
  );
});

t.test('shadow rules are reported, never change the verdict', async (t) => {
  const p =
    policy(`${setpoint}  - { id: try-deny, mode: shadow, effect: deny, principals: [${TD}/hmi/*], devices: [turbine-1], deny: [{ access: write, table: holding, addresses: 105-109 }] }
  - { id: try-allow, mode: shadow, principals: [${TD}/hmi/line1], devices: [turbine-1], allow: [{ access: write, table: coils, addresses: 0-3 }] }
`);
  t.same(ev(p, wr(106, 1)), {
    effect: 'allow',
    ruleId: 'hmi-setpoint',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
    shadow: [{ ruleId: 'try-deny', effect: 'deny' }],
  });
  t.same(
    ev(p, wr(101, 1)),
    { effect: 'allow', ruleId: 'hmi-setpoint', code: 'allowed', detail: '', reason: 'allowed' },
    'nothing reported when no shadow rule applies',
  );
  const coil = ev(p, req({ type: 'write-single-coil', fc: 5, address: 1, value: true }));
  t.equal(coil.effect, 'deny');
  t.same(coil.shadow, [{ ruleId: 'try-allow', effect: 'allow' }]);
  t.equal(
    ev(p, req({ type: 'write-single-coil', fc: 5, address: 9, value: true })).shadow,
    undefined,
    'partial grant is not reported',
  );
  const onlyShadow = policy(
    `  - { id: s, mode: shadow, principals: [${TD}/x], devices: [d], allow: [{ access: read, table: holding, addresses: 0 }] }\n`,
  );
  t.same(ev(onlyShadow, rd(3, 0), { id: `${TD}/x`, role: null }, 'd'), {
    effect: 'deny',
    ruleId: null,
    code: 'no-rule',
    detail: '',
    reason: 'no-rule',
    shadow: [{ ruleId: 's', effect: 'allow' }],
  });
});

t.test('policy-level shadow (test) mode: denials reported, not enforced', async (t) => {
  const p = policy(setpoint, 'mode: shadow\n');
  const d = ev(p, wr(100, 9999));
  t.same(d, {
    effect: 'allow',
    ruleId: null,
    code: 'shadow-mode',
    detail: 'value-not-allowed holding:100=9999',
    reason: 'shadow-mode value-not-allowed holding:100=9999',
    shadow: [{ ruleId: 'default-deny', effect: 'deny' }],
  });
  t.equal(reasonCode(d.reason), 'shadow-mode');
  t.same(ev(p, wr(100, 1)), {
    effect: 'allow',
    ruleId: 'hmi-setpoint',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
  });
});

t.test('index: globs, many rules, caches never change results', async (t) => {
  const rules: string[] = [];
  for (let i = 0; i < 2000; i++) {
    rules.push(
      `  - { id: r${i}, principals: [${TD}/client/c${i}], devices: [plc-${i % 50}], allow: [{ access: read, table: holding, addresses: ${i}-${i + 9} }] }`,
    );
  }
  rules.push(
    `  - { id: all-plc, principals: [${TD}/client/**], devices: ["plc-?"], allow: [{ access: read, table: input, addresses: 0-9 }] }`,
  );
  const p = policy(rules.join('\n') + '\n');
  const peer = (i: number) => ({ id: `${TD}/client/c${i}`, role: null });
  t.same(ev(p, rd(3, 1234, 10), peer(1234), 'plc-34'), {
    effect: 'allow',
    ruleId: 'r1234',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
  });
  t.equal(ev(p, rd(3, 1234, 11), peer(1234), 'plc-34').reason, 'address-not-allowed read holding:1244');
  t.equal(ev(p, rd(3, 1234), peer(1234), 'plc-35').reason, 'no-rule');
  t.equal(ev(p, rd(4, 0), peer(1234), 'plc-3').ruleId, 'all-plc', '? matches one character');
  t.equal(
    ev(p, rd(4, 0), peer(1234), 'plc-34').reason,
    'address-not-allowed read input:0',
    'plc-? does not match plc-34',
  );
  for (let k = 0; k < 3; k++)
    t.same(ev(p, rd(3, 1234, 10), peer(1234), 'plc-34').ruleId, 'r1234', 'same answer from cache');
});

t.test('a value-limited rule needing no grant is preferred over a JIT rule covering the same register', async (t) => {
  const p = loadPolicyText(
    `version: 1
trustDomain: plant.example
rules:
  - id: hmi-setpoint
    principals: [spiffe://plant.example/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 100-109, values: 0..3600 }]
  - id: hmi-jit
    principals: [spiffe://plant.example/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 0-999 }]
    jit: { approvers: [spiffe://plant.example/ops/lead], maxDuration: 5m }
`,
    'prefer.yaml',
  );
  const w = (value: number) =>
    explain(p, { id: 'spiffe://plant.example/hmi/line1', device: 'turbine-1', fc: 6, address: 100, value }).decision;
  t.match(w(1500), { effect: 'allow', ruleId: 'hmi-setpoint' });
  t.equal(w(1500).obligations?.jit, undefined, 'no grant needed for a setpoint in range');
  t.match(w(9000), { effect: 'allow', obligations: { jit: { ruleId: 'hmi-jit' } } }, 'out of range: only with a grant');
});
