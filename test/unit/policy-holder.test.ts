import t from 'tap';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

/** The holder's next debounce, armed by a file event of the kernel; false when none came within `ms` (a bound, never a delay). */
function armedWithin(timers: FakeTimers, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const bound = setTimeout(() => resolve(false), ms);
    void timers.armed().then(() => {
      clearTimeout(bound);
      resolve(true);
    });
  });
}

t.test('the watch survives atomic saves (temporary file renamed over), and in-place writes still reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-holder-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, base('0..100'));
  const timers = new FakeTimers();
  const h = PolicyHolder.load(file, { audit: { append: () => ({ ok: true, seq: 1 }) }, timers });
  t.teardown(() => h.close());
  h.watch(200);
  const save = async (what: string, write: () => void): Promise<void> => {
    const armed = armedWithin(timers, 3000);
    write();
    t.ok(await armed, `${what}: the change armed the debounce`);
    timers.advance(200);
    // the rest of this save's events (a rename sends several) come in this poll phase: let them pass, so the
    // next save's debounce is armed by the next save's own event
    await new Promise((resolve) => setImmediate(resolve));
  };
  const atomic = (text: string) => () => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  const allows = (value: number) =>
    h.engine.evaluate(
      peer,
      'plc',
      { ...req, writes: [{ table: 'holding', start: 1, count: 1, values: [value] }] },
      new Date(),
    ).effect === 'allow';
  for (const [n, limit] of [
    [1, 10],
    [2, 20],
    [3, 30],
  ] as const) {
    await save(`atomic save ${n}`, atomic(base(`0..${limit}`)));
    t.ok(allows(limit) && !allows(limit + 1), `atomic save ${n} reloaded (values 0..${limit})`);
  }
  await save('in-place write', () => writeFileSync(file, base('0..40')));
  t.ok(allows(40) && !allows(41), 'the in-place write reloaded');
});

t.test('a policy symlinked into another directory reloads when its target is edited in place', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-holder-ln-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'etc'));
  mkdirSync(join(dir, 'real'));
  const target = join(dir, 'real', 'policy.yaml');
  writeFileSync(target, base('0..10'));
  symlinkSync(target, join(dir, 'etc', 'policy.yaml'));
  const timers = new FakeTimers();
  const h = PolicyHolder.load(join(dir, 'etc', 'policy.yaml'), {
    audit: { append: () => ({ ok: true, seq: 1 }) },
    timers,
  });
  t.teardown(() => h.close());
  let swaps = 0;
  h.onSwap(() => swaps++);
  h.watch(200);
  for (const n of [1, 2]) {
    const armed = armedWithin(timers, 3000);
    writeFileSync(target, base(`0..${n}`)); // the watched directory (etc/) sees nothing of this
    t.ok(await armed, `edit ${n} of the target armed the debounce`);
    timers.advance(200);
    await new Promise((resolve) => setImmediate(resolve));
    t.equal(swaps, n, `edit ${n} reloaded`);
  }
});

t.test('the watch follows a Kubernetes ConfigMap update (the ..data symlink swapped)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vg-holder-cm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // the layout of a ConfigMap volume: policy.yaml -> ..data/policy.yaml, ..data -> ..<timestamp>
  const version = (name: string, text: string): void => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'policy.yaml'), text);
  };
  version('..v1', base('0..10'));
  symlinkSync('..v1', join(dir, '..data'));
  symlinkSync(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
  const timers = new FakeTimers();
  const h = PolicyHolder.load(join(dir, 'policy.yaml'), { audit: { append: () => ({ ok: true, seq: 1 }) }, timers });
  t.teardown(() => h.close());
  let swaps = 0;
  h.onSwap(() => swaps++);
  h.watch(200);
  version('..v2', base('0..5'));
  const armed = armedWithin(timers, 3000);
  symlinkSync('..v2', join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  t.ok(await armed, 'the swap armed the debounce');
  timers.advance(200);
  t.equal(swaps, 1, 'reloaded');
  t.equal(h.engine.evaluate(peer, 'plc', req, new Date()).effect, 'deny', 'the new version is enforced');
});
