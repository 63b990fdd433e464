/**
 * The trust runtime's refusals are values with a code from the one table (GATE_REASON_CODES, gateway/reasons.ts)
 * and a detail: one test per code it gives, each asserting the exact `{ code, detail }` of `check` (per request)
 * or `admit` (at the handshake). The wire answer of every code is asserted in test/unit/request-pipeline.test.ts.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, loadPolicyText } from '../../gateway/policy/index.js';
import { TrustRuntime } from '../../gateway/trust/trust-runtime.js';
import type { GateSession, PolicyVerdict, SessionPeer, SessionView } from '../../gateway/trust/runtime-gate.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';

const TD = 'spiffe://td.example';
const ENG = `${TD}/eng/bob`;
const POLLER = `${TD}/poller`;
const OPS = `${TD}/ops/ann`;
const POLICY = `version: 1
trustDomain: td.example
admins: [${TD}/ops/**]
rules:
  - id: maint
    principals: [${TD}/eng/*]
    devices: [plc-*]
    allow: [{ access: write, table: holding, addresses: 0-99 }]
    jit: { approvers: [${TD}/ops/*], maxDuration: 5m }
  - id: fast
    principals: [${POLLER}]
    devices: [plc-1]
    allow: [{ access: read-write, table: holding, addresses: 0-9 }]
    rate: 2/s
session: { maxPerIdentity: 1 }
trust: { threshold: 0.85, onBreach: terminate }
`;
const policy = loadPolicyText(POLICY, 'policy.yaml');
const NOW = new Date('2026-03-04T10:00:00Z');

const write: ClassifiedRequest = {
  fc: 6,
  unit: 1,
  kind: 'write',
  reads: [],
  writes: [{ table: 'holding', start: 5, count: 1, values: [1] }],
};
const read: ClassifiedRequest = {
  fc: 3,
  unit: 1,
  kind: 'read',
  reads: [{ table: 'holding', start: 0, count: 1 }],
  writes: [],
};
const verdict = (id: string, req: ClassifiedRequest, device = 'plc-1'): PolicyVerdict =>
  evaluate(policy, { id, role: null }, device, req, NOW);

class Sessions implements SessionView {
  readonly list: (GateSession & { ended: string | null })[] = [];
  add(id: string): GateSession & { ended: string | null } {
    const s = {
      id: `s${this.list.length}`,
      peer: peer(id),
      readOnly: false,
      ended: null as string | null,
      setReadOnly(readOnly: boolean): void {
        s.readOnly = readOnly;
      },
      end(reason: string): void {
        s.ended = reason;
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

function peer(id: string): SessionPeer {
  return { id, role: null, notAfter: new Date(NOW.getTime() + 86_400_000), fingerprint256: 'x' };
}

/** A runtime over a fresh directory; `files` are written into it first (a torn store). */
async function runtime(
  t: Test,
  files: Record<string, string> = {},
): Promise<{ rt: TrustRuntime; sessions: Sessions; now: { ms: number } }> {
  const dir = mkdtempSync(join(tmpdir(), 'vg-gate-reasons-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const sessions = new Sessions();
  const now = { ms: NOW.getTime() };
  const rt = await TrustRuntime.open({
    dir,
    policy: () => policy,
    sessions,
    audit: { append: () => ({ ok: true, seq: 1 }) },
    now: () => now.ms,
    tickMs: 0,
  });
  t.teardown(() => {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { rt, sessions, now };
}

t.test('lock-store-unavailable: the lock store cannot be read, every request and peer is refused', async (t) => {
  const { rt, sessions } = await runtime(t, { 'locks.json': '{ torn' });
  const s = sessions.add(POLLER);
  t.same(rt.check(s, 'plc-1', read, verdict(POLLER, read), 0), {
    effect: 'deny',
    code: 'lock-store-unavailable',
    detail: '',
  });
  t.same(rt.admit(peer(ENG), 0), { ok: false, code: 'lock-store-unavailable', detail: '' });
});

t.test('locked: a lock names its id in the refusal, per request and at admission', async (t) => {
  const { rt, sessions } = await runtime(t);
  const s = sessions.add(POLLER);
  const device = rt.lock({ kind: 'device', value: 'plc-1' }, OPS, 'maintenance');
  if (!device.ok) throw new Error(device.message);
  t.same(rt.check(s, 'plc-1', read, verdict(POLLER, read), 0), {
    effect: 'deny',
    code: 'locked',
    detail: device.lock.id,
  });
  t.equal(s.ended, null, 'a device lock keeps the session');
  const identity = rt.lock({ kind: 'identity', value: ENG }, OPS, 'incident');
  if (!identity.ok) throw new Error(identity.message);
  t.same(rt.admit(peer(ENG), 0), { ok: false, code: 'locked', detail: identity.lock.id });
});

t.test('trust-read-only: a read-only session may read, not write', async (t) => {
  const { rt, sessions, now } = await runtime(t);
  const s = sessions.add(POLLER);
  s.setReadOnly(true);
  t.same(rt.check(s, 'plc-1', write, verdict(POLLER, write), now.ms), {
    effect: 'deny',
    code: 'trust-read-only',
    detail: '',
  });
  t.same(rt.check(s, 'plc-1', read, verdict(POLLER, read), now.ms), { effect: 'allow' });
});

t.test('rate-limited: the bucket is empty, the refusal names the rule', async (t) => {
  const { rt, sessions } = await runtime(t);
  const s = sessions.add(POLLER);
  const v = verdict(POLLER, read);
  t.same(
    [rt.check(s, 'plc-1', read, v, 5000), rt.check(s, 'plc-1', read, v, 5000)],
    [{ effect: 'allow' }, { effect: 'allow' }],
  );
  t.same(rt.check(s, 'plc-1', read, v, 5000), { effect: 'deny', code: 'rate-limited', detail: 'fast' });
});

t.test('jit-required and grant-locked: no grant, then a locked grant, each named', async (t) => {
  const { rt, sessions } = await runtime(t);
  const s = sessions.add(ENG);
  const v = verdict(ENG, write, 'plc-7');
  t.same(rt.check(s, 'plc-7', write, v, NOW.getTime()), { effect: 'deny', code: 'jit-required', detail: 'maint' });
  const g = rt.grants.request({
    requester: ENG,
    device: 'plc-7',
    table: 'holding',
    start: 0,
    end: 9,
    access: 'write',
    durationMs: 60_000,
    reason: 'valve swap',
  });
  if (!g.ok) throw new Error(g.message);
  t.match(rt.grants.approve(g.grant.id, OPS), { ok: true, grant: { status: 'active' } });
  t.match(rt.check(s, 'plc-7', write, v, NOW.getTime()), { effect: 'allow', grantId: g.grant.id });
  t.ok(rt.lock({ kind: 'grant', value: g.grant.id }, OPS, 'suspicious').ok);
  t.same(rt.check(s, 'plc-7', write, v, NOW.getTime()), {
    effect: 'deny',
    code: 'grant-locked',
    detail: g.grant.id,
  });
});

t.test('grant-store-unavailable: a JIT rule applies and the grant store cannot be read', async (t) => {
  const { rt, sessions } = await runtime(t, { 'grants.json': '{ torn' });
  const s = sessions.add(ENG);
  t.same(rt.check(s, 'plc-7', write, verdict(ENG, write, 'plc-7'), NOW.getTime()), {
    effect: 'deny',
    code: 'grant-store-unavailable',
    detail: '',
  });
});

t.test('too-many-sessions: session.maxPerIdentity reached at admission', async (t) => {
  const { rt, sessions } = await runtime(t);
  sessions.add(POLLER);
  t.same(rt.admit(peer(POLLER), 0), { ok: false, code: 'too-many-sessions', detail: '' });
});

t.test('trust-breach: an identity whose trust ended (onBreach terminate) is not admitted again', async (t) => {
  const { rt, sessions, now } = await runtime(t);
  const s = sessions.add(POLLER);
  // a habit of a few reads a second, then a burst far above it (as test/unit/policy-essential.test.ts)
  for (let i = 0; i < 40; i++) rt.observe(s, 'plc-1', read, false, (now.ms += 1000));
  now.ms += 1000;
  for (let i = 0; i < 200; i++) rt.observe(s, 'plc-1', read, false, now.ms);
  t.equal(rt.trustOf(POLLER).state, 'ended');
  t.equal(s.ended, 'trust-breach', 'its session was ended');
  t.same(rt.admit(peer(POLLER), now.ms), { ok: false, code: 'trust-breach', detail: '' });
});
