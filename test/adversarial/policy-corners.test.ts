/**
 * Policy corners on a real gateway: an FC23 (read/write multiple registers) whose write half only a JIT rule
 * grants and whose read half another rule allows without JIT is judged half by half — refused without a grant,
 * allowed with an approved one (the grant covers the write half only; the read half needs none), refused again
 * after the grant expires, on the same connection. The sample policy has exactly this shape (`eng-reads` +
 * `eng-maintenance`). Time is moved with an injected clock.
 */
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { encodeRequest } from '../../protocols/modbus/index.js';
import { startHarness, TestClock, TestMbapsClient } from '../helpers/gateway-harness.js';

const clock = new TestClock();
const h = await startHarness({ policy: readFileSync('gateway/config/samples/policy.yaml', 'utf8'), now: clock.now });
t.teardown(() => h.stop());

const ENG = 'spiffe://plant.example/eng/alice';
const LEAD = 'spiffe://plant.example/ops/shift-lead';
const fc23 = (readAddress: number, readQuantity: number, writeAddress: number, values: number[]): Buffer =>
  encodeRequest({ type: 'read-write-registers', fc: 23, readAddress, readQuantity, writeAddress, values });
const bytes = (b: Buffer | null): number[] => [...(b ?? [])];
const writesAt = (addr: number): number => h.sim.counters().writes[`holding:255:${addr}`] ?? 0;

t.test('FC23: JIT write half + non-JIT read half', async (t) => {
  const c = await TestMbapsClient.connect(h.port, await h.mint(ENG));
  t.teardown(() => c.close());
  t.same(bytes(await c.request(1, fc23(100, 2, 20, [7, 8]))), [0x97, 0x01], 'no grant: 0x01');
  t.equal(writesAt(20), 0, 'nothing reached the PLC');

  const trust = h.gateway.trust;
  // A write-only grant for the write half: the read half (holding 100-101) is outside it and needs none.
  const asked = trust.grants.request({
    requester: ENG,
    device: 'turbine-1',
    table: 'holding',
    start: 0,
    end: 99,
    access: 'write',
    durationMs: 5 * 60_000,
    reason: 'retune PID',
  });
  if (!asked.ok) throw new Error(asked.message);
  t.same(bytes(await c.request(1, fc23(100, 2, 20, [7, 8]))), [0x97, 0x01], 'pending grant: still 0x01');
  t.match(trust.grants.approve(asked.grant.id, LEAD), { ok: true, grant: { status: 'active' } });

  const ok = bytes(await c.request(1, fc23(100, 2, 20, [7, 8])));
  t.equal(ok[0], 0x17, 'approved grant: FC23 answered by the PLC');
  t.equal(ok[1], 4, 'two registers read');
  t.equal(writesAt(20), 1, 'the write half reached the PLC once');
  t.same(bytes(await c.request(1, fc23(100, 2, 120, [1]))), [0x97, 0x01], 'write half outside the grant: 0x01');

  clock.advance(5 * 60_000 + 1);
  t.same(
    bytes(await c.request(1, fc23(100, 2, 20, [9, 9]))),
    [0x97, 0x01],
    'expired grant: refused on the same connection',
  );
  t.equal(writesAt(20), 1, 'no further write reached the PLC');
  t.notOk(c.isClosed, 'denials keep the session');
});

t.test('another identity with the same read rights but no grant is refused', async (t) => {
  const c = await TestMbapsClient.connect(h.port, await h.mint('spiffe://plant.example/eng/bob'));
  t.teardown(() => c.close());
  t.same(bytes(await c.request(1, fc23(100, 2, 20, [1]))), [0x97, 0x01], "alice's grant is not bob's");
});

t.test('the decision is audited with the write half rule and the grant', async (t) => {
  const lines = readFileSync(`${h.dir}/audit/${readdir(`${h.dir}/audit`)}`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const fc23Events = lines.filter((e) => e.type === 'request.decision' && e.fc === 23);
  t.equal(fc23Events.length, 6, 'every FC23 decision is audited');
  const allowed = fc23Events.filter((e) => e.decision === 'allow');
  t.equal(allowed.length, 1, 'exactly one allowed');
  // FC23 may change the device: its decision is written ahead (`pending`), its outcome follows.
  t.match(allowed[0], { ruleId: 'eng-maintenance', outcome: 'pending' });
  t.match(
    lines.find((e) => e.type === 'request.outcome' && e.decisionSeq === allowed[0]?.seq),
    { fc: 23, outcome: 'ok' },
  );
});

function readdir(dir: string): string {
  const seg = readdirSync(dir)
    .filter((f) => f.startsWith('audit-') && f.endsWith('.jsonl'))
    .sort();
  return seg[seg.length - 1] as string;
}
