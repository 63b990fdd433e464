/**
 * The gateway's Node flags and environment are stated wherever it is launched (launcher shebang, `npm start`,
 * systemd unit, compose file, image, the bench's gateway child); they must not drift, or the bench would
 * measure another process than the one users run (issue 11: "run the gateway in the bench from dist/, as
 * users run it").
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { GATEWAY_ENV, GATEWAY_NODE_FLAGS } from '../../bench/gateway-fixture.js';

const read = (f: string): string => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
const flags = GATEWAY_NODE_FLAGS.join(' ');
const envWords = Object.entries(GATEWAY_ENV).map(([k, v]) => `${k}=${v}`);
const env = envWords.join(' ');

t.test('one set of Node flags and environment for the gateway everywhere it is launched', async (t) => {
  t.ok(flags.length > 0, `flags: ${flags}`);
  t.ok(env.length > 0, `environment: ${env}`);
  t.equal(read('gateway/cli/verigate.ts').split('\n')[0], `#!/usr/bin/env -S ${env} node ${flags}`, 'launcher shebang');
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  t.equal(pkg.scripts['start'], `${env} node ${flags} dist/gateway/cli/verigate.js lab`, 'npm start');
  const unit = read('deploy/systemd/verigate.service');
  t.match(unit, `ExecStart=/usr/bin/node ${flags} /opt/verigate/dist/gateway/cli/verigate.js run`, 'systemd unit');
  for (const w of envWords) t.match(unit, new RegExp(`^Environment=${w}$`, 'm'), `systemd unit sets ${w}`);
  const argv = `"node", ${GATEWAY_NODE_FLAGS.map((f) => `"${f}"`).join(', ')}, "dist/gateway/cli/verigate.js", "run"`;
  t.match(read('docker-compose.yml'), `command: [${argv}`, 'compose');
  t.match(read('docker-compose.fleet.yml'), `exec node ${flags} dist/gateway/cli/verigate.js run`, 'fleet compose');
  const image = read('Dockerfile');
  t.match(image, `CMD [${argv}`, 'image CMD');
  const runtimeStage = image.slice(image.lastIndexOf('\nFROM '));
  for (const w of envWords) t.match(runtimeStage, new RegExp(`^\\s*(ENV )?${w}( \\\\)?$`, 'm'), `image ENV ${w}`);
  // each variable set once per file: a later line would silently override the value checked above
  for (const k of Object.keys(GATEWAY_ENV)) {
    for (const [f, text] of [
      ['systemd unit', unit],
      ['image', image],
    ] as const)
      t.equal(text.split(k).length - 1, 1, `${k} appears once in the ${f}`);
  }
  // the bench's gateway child is started with the same flags and environment
  t.match(
    read('bench/gateway-fixture.ts'),
    '[...GATEWAY_NODE_FLAGS, ...nodeFlags], GATEWAY_ENV)',
    'bench gateway child: spawnBenchChild gets GATEWAY_NODE_FLAGS and GATEWAY_ENV',
  );
});

t.test('the launcher shebang starts node with that environment and those flags', async (t) => {
  // `env -S` splits the shebang's one argument and applies its NAME=VALUE words before running node.
  const dir = mkdtempSync(join(tmpdir(), 'verigate-shebang-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'probe.mjs');
  const shebang = read('gateway/cli/verigate.ts').split('\n')[0]!;
  writeFileSync(script, `${shebang}\nconsole.log(JSON.stringify([process.env, process.execArgv]));\n`, { mode: 0o755 });
  const r = spawnSync(script, { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  const [seen, execArgv] = JSON.parse(r.stdout) as [Record<string, string>, string[]];
  for (const [k, v] of Object.entries(GATEWAY_ENV)) t.equal(seen[k], v, k);
  t.same(execArgv, GATEWAY_NODE_FLAGS);
});
