/**
 * `verigate control policy publish` never restarts the revisions (gateways refuse a revision at or below the one
 * they applied): after the `policy` key was deleted the next revision follows the highest one its history
 * holds; with the history purged, publish refuses (exit 1, naming --revision) unless `--revision N` is given;
 * `--revision` must be above the bucket's. Against a real nats-server (test/helpers/nats-hub.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Kvm, type KV } from '@nats-io/kv';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { controlCommand } from '../../gateway/cli/control-command.js';
import { KEY_POLICY, siteBucket } from '../../gateway/fleet/fleet-topology.js';
import { startTestHub, type TestHub } from '../helpers/nats-hub.js';

const SITE = 'site-a';
const POLICY = `version: 1
trustDomain: plant.example
rules:
  - id: hmi-read
    principals: [spiffe://plant.example/hmi]
    devices: [turbine-1]
    allow:
      - { access: read, table: holding, addresses: 0-9 }
`;

let hub: TestHub;
let kv: KV;
let file: string;
t.before(async () => {
  hub = await startTestHub([SITE]);
  await hub.createBuckets([SITE]);
  kv = await new Kvm(await hub.connect()).open(siteBucket(SITE));
  const dir = mkdtempSync(join(tmpdir(), 'vg-publish-rev-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  file = join(dir, 'policy.yaml');
  writeFileSync(file, POLICY);
});
t.teardown(() => hub?.stop());

async function publish(...more: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({}, hub.dir);
  const code = await controlCommand(
    ['policy', 'publish', '--site', SITE, '--file', file, ...more, '--config', hub.configFile],
    io,
  );
  return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
}

async function revisionAtHub(): Promise<number | null> {
  const e = await kv.get(KEY_POLICY);
  return e?.operation === 'PUT' ? (e.json<{ revision: number }>().revision ?? null) : null;
}

t.test('after the policy key was deleted, the next revision follows its history', async (t) => {
  t.equal((await publish()).code, 0);
  t.equal((await publish()).code, 0);
  t.equal(await revisionAtHub(), 2);
  await kv.delete(KEY_POLICY);
  const r = await publish();
  t.equal(r.code, 0, r.err);
  t.match(r.out, /published revision 3 to site-a/, 'not 1: every gateway would refuse that');
  t.equal(await revisionAtHub(), 3);
});

t.test('with the history purged, publish refuses unless --revision names the next one', async (t) => {
  await kv.purge(KEY_POLICY);
  const refused = await publish();
  t.equal(refused.code, 1);
  t.match(refused.err, /NOT published to site-a: .*history holds no revision.*--revision N/);
  t.equal(await revisionAtHub(), null, 'nothing written');
  const given = await publish('--revision', '9');
  t.equal(given.code, 0, given.err);
  t.match(given.out, /published revision 9 to site-a/);
  t.match((await publish()).out, /published revision 10 to site-a/, 'and onwards from there');
});

t.test('--revision must be above the bucket revision and a positive integer', async (t) => {
  const low = await publish('--revision', '10');
  t.equal(low.code, 1);
  t.match(low.err, /--revision 10 is not above revision 10 in site-a/);
  t.equal(await revisionAtHub(), 10);
  const bad = await publish('--revision', 'x');
  t.equal(bad.code, 2);
  t.match(bad.err, /--revision must be a positive integer/);
});
