import t from 'tap';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { memoryIo } from '../../gateway/cli/cli-io.js';
import { svidCommand } from '../../gateway/cli/svid-command.js';
import { BundleSet, X509Bundle } from '../../gateway/identity/bundle-set.js';
import { verifyPeerChain } from '../../gateway/identity/peer-verifier.js';

const dir = await mkdtemp(join(tmpdir(), 'vg-svid-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

function pemCerts(pem: string): Buffer[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (b) => new X509Certificate(b).raw,
  );
}

t.test('svid mint writes svid.pem, key.pem (0600), bundle.pem that verify as an SVID', async (t) => {
  const io = memoryIo({}, dir);
  const code = await svidCommand(
    ['mint', '--id', 'spiffe://plant.example/hmi/line1', '--out', 'hmi', '--role', 'operator', '--ttl', '5m'],
    io,
  );
  t.equal(code, 0, io.stderr.join('\n'));
  t.match(io.stdout.join('\n'), /minted spiffe:\/\/plant.example\/hmi\/line1 \(role operator\)/);
  const out = join(dir, 'hmi');
  t.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600, 'key.pem is 0600');
  for (const f of ['ca-cert.pem', 'ca-key.pem'])
    t.equal((await stat(join(dir, '.verigate/dev-ca', f))).mode & 0o777, 0o600, `default CA dir ${f} 0600`);
  const chain = pemCerts(await readFile(join(out, 'svid.pem'), 'utf8'));
  const bundlePem = await readFile(join(out, 'bundle.pem'), 'utf8');
  const bundles = BundleSet.of([X509Bundle.fromPem('plant.example', bundlePem)]);
  const r = verifyPeerChain(chain, bundles, new Date());
  t.ok(r.ok, 'the minted SVID verifies against the written bundle');
  if (r.ok) {
    t.equal(r.peer.role, 'operator');
    const ttl = r.peer.notAfter.getTime() - Date.now();
    t.ok(ttl > 4 * 60_000 && ttl <= 5 * 60_000 + 1000, `TTL about 5 minutes (${ttl} ms)`);
  }
  const key = createPrivateKey(await readFile(join(out, 'key.pem'), 'utf8'));
  t.equal(key.asymmetricKeyType, 'ec');

  const io2 = memoryIo({}, dir);
  t.equal(await svidCommand(['mint', '--id', 'spiffe://plant.example/historian', '--out', join(dir, 'hist')], io2), 0);
  t.equal(
    await readFile(join(dir, 'hist', 'bundle.pem'), 'utf8'),
    bundlePem,
    'the second mint reuses the persisted CA',
  );
});

t.test('--ca-dir is honoured; a CA dir of another trust domain is a clear error (exit 2)', async (t) => {
  const io = memoryIo({}, dir);
  t.equal(await svidCommand(['mint', '--id', 'spiffe://other.org/x', '--out', 'o', '--ca-dir', 'ca-other'], io), 0);
  t.ok((await stat(join(dir, 'ca-other', 'ca-cert.pem'))).isFile());
  const io2 = memoryIo({}, dir);
  t.equal(
    await svidCommand(['mint', '--id', 'spiffe://plant.example/x', '--out', 'p', '--ca-dir', 'ca-other'], io2),
    2,
  );
  t.match(io2.stderr.join('\n'), /is for trust domain other.org, not plant.example/);
});

t.test('bad usage exits 2 with a clear message', async (t) => {
  const table: Array<[string[], RegExp]> = [
    [[], /missing subcommand "mint"/],
    [['issue'], /unknown subcommand "issue"/],
    [['mint', '--out', 'x'], /--id is required/],
    [['mint', '--id', 'spiffe://plant.example/x'], /--out DIR is required/],
    [['mint', '--id', 'spiffe://Plant/x', '--out', 'x'], /not a SPIFFE ID: trust domain must be lowercase/],
    [['mint', '--id', 'spiffe://plant.example', '--out', 'x'], /must have a path/],
    [['mint', '--id', 'spiffe://plant.example/x', '--out', 'x', '--ttl', '1 day'], /not a duration/],
    [['mint', '--id', 'spiffe://plant.example/x', '--out', 'x', '--ttl', '500ms'], /whole number of seconds/],
    [['mint', '--id', 'spiffe://plant.example/x', '--out', 'x', '--role', ''], /--role must not be empty/],
    [['mint', '--id', 'spiffe://plant.example/x', '--out', 'x', '--bogus'], /Unknown option '--bogus'/],
    [['mint', 'extra', '--id', 'spiffe://plant.example/x', '--out', 'x'], /unexpected argument "extra"/],
  ];
  for (const [args, re] of table) {
    const io = memoryIo({}, dir);
    t.equal(await svidCommand(args, io), 2, args.join(' '));
    t.match(io.stderr.join('\n'), re);
    t.match(io.stderr.join('\n'), /usage: verigate svid mint/);
  }
  const help = memoryIo({}, dir);
  t.equal(await svidCommand(['--help'], help), 0);
  t.match(help.stdout.join('\n'), /--ca-dir/);
});

t.test('durations 30s, 5m, 24h', async (t) => {
  for (const [ttl, secs] of [
    ['30s', 30],
    ['5m', 300],
    ['24h', 86_400],
  ] as const) {
    const io = memoryIo({}, dir);
    t.equal(await svidCommand(['mint', '--id', 'spiffe://plant.example/d', '--out', `d-${ttl}`, '--ttl', ttl], io), 0);
    const cert = new X509Certificate(await readFile(join(dir, `d-${ttl}`, 'svid.pem'), 'utf8'));
    const life = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / 1000;
    t.ok(Math.abs(life - (secs + 10)) <= 2, `${ttl}: lifetime ${life}s = TTL + 10 s backdate`);
  }
});
