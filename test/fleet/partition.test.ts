/**
 * Issue 15 "Verified by" 2 — partition: an edge cut off from the hub (its leaf's link disabled by a config
 * reload) keeps the same allow/deny answers for a 200-request probe, also after a gateway restart while cut
 * off (fleet lock and grant persisted locally, the mirror still served by the leaf); a lock made at the hub
 * during the cut is enforced there ≤ 30 s after the link returns; a grant issued before the cut ends at its
 * expiry while still cut off.
 */
import t from 'tap';
import { startFleetLab } from './fleet-lab.js';
import { HubSide, startFleetGateway, type FleetGateway } from './fleet-gateway.js';
import { TestMbapsClient } from '../helpers/gateway-harness.js';
import { eventually } from '../helpers/eventually.js';

const TD = 'spiffe://plant.example';
const ID = {
  reader: `${TD}/op/reader`,
  writer: `${TD}/op/writer`,
  eng: `${TD}/eng/bob`,
  stranger: `${TD}/visitor/x`,
  locked: `${TD}/op/locked`,
};
const POLICY = `version: 1
trustDomain: plant.example
rules:
  - id: read-all
    principals: [${TD}/op/*]
    devices: [turbine-1]
    allow: [{ access: read, table: holding, addresses: 0-99 }]
  - id: writer
    principals: [${ID.writer}]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 20-29 }]
  - id: maintenance
    principals: [${TD}/eng/*]
    devices: [turbine-1]
    allow: [{ access: write, table: holding, addresses: 50-59 }]
    jit: { approvers: [${TD}/ops/*], maxDuration: 5m }
`;
const read = (addr: number) => Buffer.from([0x03, 0, addr, 0, 1]);
const write = (addr: number, v: number) => Buffer.from([0x06, 0, addr, 0, v]);
const answer = (pdu: Buffer | null): string =>
  pdu === null ? 'closed' : (pdu[0] ?? 0) & 0x80 ? `exception ${pdu[1]}` : 'ok';

/** One probe step: who asks what. 5 steps × 40 rounds = 200 requests. */
const STEPS: readonly [keyof typeof ID, Buffer][] = [
  ['reader', read(1)], // allow
  ['reader', write(5, 1)], // deny: read-only for the reader
  ['writer', write(21, 2)], // allow (best_effort rule)
  ['eng', write(51, 3)], // allow only with the hub grant
  ['stranger', read(1)], // deny: no rule
];

async function probe(gw: FleetGateway): Promise<string[]> {
  const clients = new Map<string, TestMbapsClient>();
  for (const who of new Set(STEPS.map(([w]) => w))) clients.set(who, await gw.client(ID[who]));
  const out: string[] = [];
  for (let round = 0; round < 40; round++)
    for (const [who, pdu] of STEPS) out.push(`${who}: ${answer((await clients.get(who)?.request(1, pdu)) ?? null)}`);
  for (const c of clients.values()) c.close();
  return out;
}

/** Whether a new session of `id` is refused (closed without an answer). */
async function refused(gw: FleetGateway, id: string): Promise<boolean> {
  try {
    const c = await TestMbapsClient.connect(gw.port(), await gw.mint(id));
    const r = await c.request(1, read(1), 2000);
    c.close();
    return r === null;
  } catch {
    return true;
  }
}

const tally = (answers: readonly string[]): Record<string, number> =>
  answers.reduce<Record<string, number>>((m, a) => ((m[a] = (m[a] ?? 0) + 1), m), {});

t.test('an edge cut off keeps its answers, across a restart; catches up after; grants expire locally', async (t) => {
  const lab = await startFleetLab({ sites: ['site-a'] });
  t.teardown(() => lab.stop());
  const hub = HubSide.open(lab, ['site-a']);
  const gw = await startFleetGateway(lab, 'site-a', 'gw-1', {
    policy: POLICY,
    fleetYaml: `policySigners: ["${TD}/fleet/control"]`,
  });
  t.teardown(() => gw.stop());
  const trust = () => gw.gateway().trust;

  // hub state before the cut, all through `verigate control`: the site's policy (grants are checked against its
  // JIT rules at the hub), a lock, and a grant that expires 20 s after it is issued
  await hub.publishPolicy('site-a', POLICY);
  await eventually('policy revision 1 applied', () => gw.gateway().fleet?.apply.appliedRevision() === 1, {
    timeoutMs: 15_000,
    intervalMs: 50,
  });
  const before = await hub.lockIdentity(ID.locked);
  const grant = await hub.issueGrant(
    'site-a',
    { requester: ID.eng, device: 'turbine-1', table: 'holding', start: 50, end: 59, access: 'write' },
    { duration: '20s', reason: 'valve swap', approver: `${TD}/ops/lead` },
  );
  const expiresAt = grant.expiresAt;
  await eventually(
    'lock and grant applied',
    () =>
      trust()
        .locks.list()
        .some((l) => l.id === before.id) &&
      trust()
        .grants.list()
        .some((g) => g.id === grant.id && g.status === 'active'),
    { timeoutMs: 15_000, intervalMs: 50 },
  );

  const answers = await probe(gw);
  t.same(
    tally(answers),
    {
      'reader: ok': 40,
      'reader: exception 1': 40,
      'writer: ok': 40,
      'eng: ok': 40,
      'stranger: exception 1': 40,
    },
    'the probe before the cut',
  );
  t.ok(await refused(gw, ID.locked), 'the locked identity is refused');

  await lab.site('site-a').cutLink();
  const during = await hub.lockIdentity(ID.writer, { reason: 'made while site-a is cut off' });
  t.same(await probe(gw), answers, 'cut off: the same 200 answers');
  t.ok(await refused(gw, ID.locked), 'cut off: the locked identity still refused');

  await gw.restart();
  t.notOk(await lab.site('site-a').linkUp(), 'still cut off after the restart');
  t.same(await probe(gw), answers, 'restarted while cut off: the same 200 answers');
  t.ok(await refused(gw, ID.locked), 'restarted while cut off: the locked identity still refused');
  t.ok(Date.now() < expiresAt, 'all probes ran before the grant expiry');

  // the grant issued before the cut ends at its expiry, with the edge still cut off
  const eng = await gw.client(ID.eng);
  t.equal(answer(await eng.request(1, write(52, 4))), 'ok', 'grant still live');
  await eventually('the grant expired locally', () => Date.now() > expiresAt + 50, {
    timeoutMs: 25_000,
    intervalMs: 100,
  });
  t.equal(answer(await eng.request(1, write(52, 5))), 'exception 1', 'cut off: refused once the grant expired');
  t.match(trust().grants.list(), [{ id: grant.id, status: 'expired', source: 'fleet' }]);

  // the lock made during the cut reaches the edge once the link returns
  const writer = await gw.client(ID.writer);
  t.equal(answer(await writer.request(1, write(22, 6))), 'ok', 'not yet locked here');
  const back = Date.now();
  await lab.site('site-a').restoreLink();
  await eventually('the lock made during the cut is enforced', () => refused(gw, ID.writer), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  const took = (Date.now() - back) / 1000;
  t.comment(`lock made during the cut enforced ${took.toFixed(2)} s after the link returned`);
  t.ok(took <= 30, `≤ 30 s after the link returned (${took.toFixed(2)} s)`);
  t.ok(writer.isClosed, "the writer's live session was ended by it");
  t.match(
    gw.auditEvents('lock.created').map((e) => [e['lockId'], e['source']]),
    [
      [before.id, 'fleet'],
      [during.id, 'fleet'],
    ],
  );
});
