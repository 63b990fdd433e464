/**
 * Rule-level `essential: true`: the decision says so only when every granting rule is essential; deny rules
 * cannot be essential; the policy's own tests can expect it; the trust runtime lets an essential allow through
 * a read-only downgrade (and only that), and a `terminate` breach of an identity holding essential rules
 * becomes read-only. Locks, JIT and value limits still apply.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classify } from '../../protocols/modbus/index.js';
import type { ClassifiedRequest } from '../../protocols/modbus/index.js';
import { compilePolicyText, evaluate, loadPolicyText, type CompiledPolicy } from '../../gateway/policy/index.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession, SessionView } from '../../gateway/trust/runtime-gate.js';

const TD = 'spiffe://plant.example';
const HMI = { id: `${TD}/hmi/line1`, role: null };
const NOW = new Date('2026-03-04T10:00:00Z');
const rd = (address: number, quantity = 1): ClassifiedRequest =>
  classify({ type: 'read-registers', fc: 3, address, quantity }, 1);
const wr = (address: number, value: number): ClassifiedRequest =>
  classify({ type: 'write-single-register', fc: 6, address, value }, 1);
const wrm = (address: number, values: number[]): ClassifiedRequest =>
  classify({ type: 'write-multiple-registers', fc: 16, address, values }, 1);

const rules = `rules:
  - id: hmi-setpoint
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    essential: true
    allow: [{ access: write, table: holding, addresses: 100-109, values: 0..3600 }]
  - id: hmi-tuning
    principals: [${TD}/hmi/line1]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 110-119 }, { access: read, table: holding, addresses: 0-199 }]
`;
const head = (trust = ''): string => `version: 1\ntrustDomain: plant.example\n${trust}`;
const policyOf = (trust = ''): CompiledPolicy => compilePolicyText(head(trust) + rules, 'essential.yaml');

t.test('the decision is essential only when every granting rule is', async (t) => {
  const p = policyOf();
  t.same(evaluate(p, HMI, 'turbine-1', wr(100, 1500), NOW), {
    effect: 'allow',
    ruleId: 'hmi-setpoint',
    code: 'allowed',
    detail: '',
    reason: 'allowed',
    essential: true,
  });
  t.notOk(evaluate(p, HMI, 'turbine-1', wr(110, 5), NOW).essential, 'the non-essential rule');
  t.notOk(evaluate(p, HMI, 'turbine-1', wrm(108, [1, 2, 3]), NOW).essential, 'one register from a non-essential rule');
  t.notOk(evaluate(p, HMI, 'turbine-1', rd(100), NOW).essential, 'reads granted by the non-essential rule');
  t.match(
    evaluate(p, HMI, 'turbine-1', wr(100, 9000), NOW),
    { effect: 'deny', reason: /^value-not-allowed/ },
    'value limits still apply',
  );
  t.notOk(evaluate(p, HMI, 'turbine-1', wr(100, 9000), NOW).essential);
});

t.test('a deny rule cannot be essential; the policy tests can expect it', async (t) => {
  t.throws(
    () =>
      compilePolicyText(
        `${head()}rules:\n  - { id: d, principals: ["${TD}/x"], devices: ["*"], effect: deny, essential: true }\n`,
        'd.yaml',
      ),
    /essential only applies to allow rules/,
  );
  const tests = `tests:
  - { id: "${TD}/hmi/line1", device: turbine-1, fc: 6, address: 100, value: 5, expect: allow, essential: true }
  - { id: "${TD}/hmi/line1", device: turbine-1, fc: 6, address: 110, value: 5, expect: allow, essential: false }
`;
  t.ok(loadPolicyText(head() + rules + tests, 'ok.yaml'));
  const wrong = tests.replace('essential: false', 'essential: true');
  t.throws(() => loadPolicyText(head() + rules + wrong, 'bad.yaml'), /failed/);
});

class Sessions implements SessionView {
  readonly list: (GateSession & { ended: string | null })[] = [];
  add(id: string): GateSession & { ended: string | null } {
    const s = {
      id: `s${this.list.length}`,
      peer: { id, role: null, notAfter: new Date(Date.now() + 86_400_000), fingerprint256: 'x' },
      readOnly: false,
      setReadOnly(readOnly: boolean): void {
        this.readOnly = readOnly;
      },
      ended: null as string | null,
      end(reason: string) {
        this.ended = reason;
      },
    };
    this.list.push(s);
    return s;
  }
  all(): Iterable<GateSession> {
    return this.list.filter((s) => s.ended === null);
  }
  countFor(id: string): number {
    return this.list.filter((s) => s.peer.id === id && s.ended === null).length;
  }
  endMatching(pred: (s: GateSession) => boolean, reason: string): number {
    const hit = this.list.filter((s) => s.ended === null && pred(s));
    for (const s of hit) s.end(reason);
    return hit.length;
  }
}

/** Drives an identity into a breach with a burst far above its habit (injected clock). */
async function breached(trust: string): Promise<{
  rt: TrustRuntime;
  s: GateSession & { ended: string | null };
  p: CompiledPolicy;
  now: number;
  dir: string;
}> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-essential-'));
  const p = policyOf(trust);
  let now = NOW.getTime();
  const sessions = new Sessions();
  const events: unknown[] = [];
  const rt = await TrustRuntime.open({
    dir,
    policy: () => p,
    sessions,
    audit: { append: (e: unknown) => (events.push(e), { ok: true }) } as never,
    now: () => now,
    tickMs: 0,
  });
  const s = sessions.add(HMI.id);
  for (let i = 0; i < 40; i++) rt.observe(s, 'turbine-1', rd(i % 8), false, (now += 1000));
  now += 1000;
  for (let i = 0; i < 200; i++) rt.observe(s, 'turbine-1', rd(0), false, now);
  return { rt, s, p, now, dir };
}

t.test('read-only downgrade: essential writes go on, other writes are refused', async (t) => {
  const { rt, s, p, now, dir } = await breached('trust: { threshold: 0.85, onBreach: read-only }\n');
  t.teardown(() => {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.equal(rt.trustOf(HMI.id).state, 'read-only');
  const ess = wr(100, 1500);
  t.same(
    rt.check(s, 'turbine-1', ess, evaluate(p, HMI, 'turbine-1', ess, NOW), now),
    { effect: 'allow' },
    'essential setpoint',
  );
  const plain = wr(110, 5);
  t.same(rt.check(s, 'turbine-1', plain, evaluate(p, HMI, 'turbine-1', plain, NOW), now), {
    effect: 'deny',
    code: 'trust-read-only',
    detail: '',
  });
  const lock = rt.lock({ kind: 'device', value: 'turbine-1' }, `${TD}/ops/lead`, 'incident');
  t.ok(lock.ok);
  t.match(
    rt.check(s, 'turbine-1', ess, evaluate(p, HMI, 'turbine-1', ess, NOW), now),
    { effect: 'deny', code: 'locked', detail: lock.ok ? lock.lock.id : 'no lock' },
    'a lock still stops it',
  );
});

t.test('terminate on an identity holding essential rules: read-only instead, sessions kept', async (t) => {
  const { rt, s, p, now, dir } = await breached('trust: { threshold: 0.85, onBreach: terminate }\n');
  t.teardown(() => {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.equal(rt.trustOf(HMI.id).state, 'read-only');
  t.equal(s.ended, null, 'session not ended');
  t.same(rt.admit(s.peer, now), { ok: true }, 'new sessions admitted');
  const ess = wr(100, 1500);
  t.same(rt.check(s, 'turbine-1', ess, evaluate(p, HMI, 'turbine-1', ess, NOW), now), { effect: 'allow' });
  const plain = wr(110, 5);
  t.match(rt.check(s, 'turbine-1', plain, evaluate(p, HMI, 'turbine-1', plain, NOW), now), {
    effect: 'deny',
    code: 'trust-read-only',
    detail: '',
  });
});
