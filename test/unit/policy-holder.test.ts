import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyHolder } from '../../gateway/policy/policy-holder.js';
import type { AuditEventInput } from '../../gateway/audit/audit-events.js';
import type { ClassifiedRequest } from '../../protocols/modbus/types.js';
import { FakeTimers } from '../helpers/fake-timers.js';

const base = (values: string): string => `version: 1
trustDomain: td.example
rules:
  - id: hmi-write
    principals: [spiffe://td.example/hmi]
    devices: [plc]
    allow: [{ access: write, table: holding, addresses: 0-9, values: "${values}" }]
`;
const req: ClassifiedRequest = {
  fc: 6,
  unit: 1,
  kind: 'write',
  reads: [],
  writes: [{ table: 'holding', start: 1, count: 1, values: [50] }],
};
const peer = { id: 'spiffe://td.example/hmi', role: null };

t.test('reload swaps one reference; a bad file keeps the old one and is audited', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-holder-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, base('0..100'));
  const events: AuditEventInput[] = [];
  const h = PolicyHolder.load(file, { audit: { append: (e) => (events.push(e), { ok: true, seq: 1 }) } });
  const swaps: string[] = [];
  h.onSwap((next, prev) => swaps.push(`${prev.version.slice(0, 6)}→${next.version.slice(0, 6)}`));
  const v1 = h.current.version;
  t.equal(h.engine.evaluate(peer, 'plc', req, new Date()).effect, 'allow');
  t.same(h.reload('test'), { ok: true, version: v1, changed: false }, 'same file: nothing to swap');
  writeFileSync(file, base('0..10'));
  t.match(h.reload('test'), { ok: true, changed: true });
  t.equal(h.engine.evaluate(peer, 'plc', req, new Date()).effect, 'deny', 'the new engine answers');
  writeFileSync(file, 'version: 1\nrules: oops\n');
  const bad = h.reload('test');
  t.equal(bad.ok, false);
  if (!bad.ok) t.match(bad.error, /policy\.yaml:\d+:\d+/);
  t.equal(h.engine.evaluate(peer, 'plc', req, new Date()).effect, 'deny', 'old policy still in force');
  t.equal(swaps.length, 1);
  t.same(
    events.map((e) => e.type),
    ['policy.reloaded', 'policy.reload-failed'],
  );
  h.close();
});

t.test('a candidate policy in shadow is evaluated beside the enforced one, never enforced', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-holder-'));
  writeFileSync(join(dir, 'policy.yaml'), base('0..100'));
  writeFileSync(join(dir, 'candidate.yaml'), base('0..10'));
  const h = PolicyHolder.load(join(dir, 'policy.yaml'), {
    audit: { append: () => ({ ok: true, seq: 1 }) },
    shadowFile: join(dir, 'candidate.yaml'),
  });
  const d = h.engine.evaluate(peer, 'plc', req, new Date());
  t.equal(d.effect, 'allow', 'enforced verdict unchanged');
  t.match(d.shadow, [{ ruleId: /^candidate:/, effect: 'deny' }], 'would-deny reported');
  h.close();
});

t.test('a file change triggers a reload once the debounce has passed on the injected clock', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-holder-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, base('0..100'));
  const timers = new FakeTimers();
  const h = PolicyHolder.load(file, { audit: { append: () => ({ ok: true, seq: 1 }) }, timers });
  t.teardown(() => h.close());
  let swaps = 0;
  h.onSwap(() => swaps++);
  h.watch(200);
  const armed = timers.armed();
  writeFileSync(file, base('0..5'));
  await armed; // the kernel's change event armed the debounce
  timers.advance(199);
  t.equal(swaps, 0, 'not reloaded 1 ms before the debounce ends');
  t.equal(h.engine.evaluate(peer, 'plc', req, new Date()).effect, 'allow', 'the old policy is still in force');
  timers.advance(1);
  t.equal(swaps, 1, 'reloaded when the debounce ends');
  t.equal(h.engine.evaluate(peer, 'plc', req, new Date()).effect, 'deny');
  h.close();
  t.equal(timers.pending, 0, 'close leaves no timer armed');
});
