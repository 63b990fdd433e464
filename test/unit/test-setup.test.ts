/**
 * scripts/test-setup.sh (the first step of `npm test`) and the install scripts it runs, driven with fake
 * system tools placed first on PATH: a dpkg that knows no package, a non-root `id`, an `apt-get`/`sudo` that
 * only record being called, a Go that is too old. Nothing is installed or built: every case either finds the
 * tool present or must refuse with the command that fixes it.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';

const ROOT = resolve(import.meta.dirname, '../..');

type Tap = { teardown(fn: () => void): void };

interface Run {
  readonly status: number | null;
  readonly out: string;
}

function run(script: string, args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync('bash', [join(ROOT, script), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A directory of fake commands (name → shell body) to put first on PATH; `calls` records what ran. */
function fakeBin(t: Tap, tools: Record<string, string>): { path: string; calls: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vg-setup-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const calls = join(dir, 'calls.log');
  mkdirSync(join(dir, 'bin'));
  for (const [name, body] of Object.entries(tools)) {
    const file = join(dir, 'bin', name);
    writeFileSync(file, `#!/bin/sh\necho "${name} $*" >> '${calls}'\n${body}\n`);
    chmodSync(file, 0o755);
  }
  return { path: `${join(dir, 'bin')}:${process.env['PATH'] ?? ''}`, calls };
}

const NOT_ROOT = { 'dpkg-query': 'exit 1', id: 'echo 1000', 'apt-get': 'exit 1', sudo: 'exit 1' };

t.test(
  'system packages, not root: names every missing package and the apt-get command, and installs nothing',
  async (t) => {
    const fake = fakeBin(t, NOT_ROOT);
    const r = run('scripts/install-system-packages.sh', [], { PATH: fake.path });
    t.equal(r.status, 1);
    for (const pkg of [
      'mbpoll',
      'stunnel4',
      'haproxy',
      'rsyslog-openssl',
      'docker-compose',
      'tshark',
      'python3-venv',
      'gcc',
    ])
      t.match(r.out, pkg);
    t.match(r.out, /apt-get needs root/);
    t.match(r.out, /sudo DEBIAN_FRONTEND=noninteractive apt-get install -y mbpoll stunnel4 /);
    const calls = existsSync(fake.calls) ? readFileSync(fake.calls, 'utf8') : '';
    t.notMatch(calls, /^(apt-get|sudo) /m, 'neither apt-get nor sudo ran');
  },
);

t.test('SPIRE missing with a Go too old to build it: says which Go it needs', async (t) => {
  const fake = fakeBin(t, { go: '[ "$1 $2" = "env GOVERSION" ] && echo go1.19.8 && exit 0; exit 1' });
  const empty = mkdtempSync(join(tmpdir(), 'vg-spire-bin-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const r = run('spire-config/build-spire.sh', [], { PATH: fake.path, SPIRE_BIN_DIR: empty });
  t.equal(r.status, 1);
  t.match(r.out, /Go 1\.19\.8 is too old; SPIRE v1\.13 needs Go >= 1\.25\.3/);
});

t.test('--check reports each missing step by name, runs the others, exits 1 and installs nothing', async (t) => {
  const fake = fakeBin(t, { ...NOT_ROOT, go: 'exit 1' });
  const empty = mkdtempSync(join(tmpdir(), 'vg-spire-bin-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const r = run('scripts/test-setup.sh', ['--check'], { PATH: fake.path, SPIRE_BIN_DIR: empty });
  t.equal(r.status, 1);
  t.match(r.out, /system packages missing: mbpoll .*\(install: sudo apt-get install -y mbpoll /);
  t.match(r.out, /spire-server\/spire-agent missing in .*\(build: bash spire-config\/build-spire\.sh\)/);
  t.match(
    r.out,
    /\[test-setup\] NOT READY after \d+ ms: system packages, SPIRE\. /,
    'the summary names exactly the failed steps',
  );
  t.match(r.out, /node modules: present/);
  t.match(r.out, /pymodbus \S+ already installed/, 'the steps after a failed one still ran');
  t.match(r.out, /grpcurl v[\d.]+: .* \(already built\)/);
});

t.test('an unknown argument is a usage error (exit 2)', async (t) => {
  t.equal(run('scripts/test-setup.sh', ['--frobnicate']).status, 2);
});

t.test('on a machine that ran the set-up (npm test runs it first) --check finds everything present', async (t) => {
  const r = run('scripts/test-setup.sh', ['--check']);
  t.equal(r.status, 0, r.out);
  t.match(r.out, /\[test-setup\] ready in \d+ ms/);
});
