/**
 * The gateway's Node flags are stated in five places (launcher shebang, `npm start`, systemd unit, compose
 * file, the bench's gateway child); they must not drift, or the bench would measure another process than the
 * one users run (issue 11: "run the gateway in the bench from dist/, as users run it").
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { GATEWAY_NODE_FLAGS } from '../../bench/gateway-fixture.js';

const read = (f: string): string => readFileSync(new URL(`../../${f}`, import.meta.url), 'utf8');
const flags = GATEWAY_NODE_FLAGS.join(' ');

t.test('one set of Node flags for the gateway everywhere it is launched', async (t) => {
  t.ok(flags.length > 0, `flags: ${flags}`);
  t.equal(read('gateway/cli/verigate.ts').split('\n')[0], `#!/usr/bin/env -S node ${flags}`, 'launcher shebang');
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  t.equal(pkg.scripts['start'], `node ${flags} dist/gateway/cli/verigate.js lab`, 'npm start');
  t.match(
    read('deploy/systemd/verigate.service'),
    `ExecStart=/usr/bin/node ${flags} /opt/verigate/dist/gateway/cli/verigate.js run`,
    'systemd unit',
  );
  t.match(
    read('docker-compose.yml'),
    `command: ["node", ${GATEWAY_NODE_FLAGS.map((f) => `"${f}"`).join(', ')}, "dist/gateway/cli/verigate.js", "run"`,
    'compose',
  );
});
