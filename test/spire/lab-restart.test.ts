/**
 * `npm start` a second time: the lab starts again on its own directory, where the SPIRE server's datastore
 * (its CA and the gateway's registration entry) survived the first run. The restart must reuse them, not
 * fail on the entry that is already registered, and the gateway must get its SVID from the agent again.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { findSpireBinaries, BUILD_HINT } from '../../gateway/cli/spire-lab.js';
import { startLab } from '../../gateway/cli/lab.js';

if (!findSpireBinaries()) throw new Error(`SPIRE binaries missing: ${BUILD_HINT}`);
// Short path: unix socket paths are limited to 107 bytes.
const dir = mkdtempSync(join(tmpdir(), 'vglr-'));
const start = () =>
  startLab({
    dir,
    identity: 'spire',
    ports: { mbaps: 0, grpc: 0, metrics: 0 },
    scanDelayMs: 0,
    logger: pino({ level: 'silent' }),
  });

t.test('the lab starts again in the directory of a stopped lab, on the same SPIRE CA', async (t) => {
  const first = await start();
  const bundle = first.gateway.identity.source.getBundleSet().allAuthoritiesPem().join('');
  await first.stop();
  const second = await start();
  t.teardown(() => second.stop());
  const svid = second.gateway.identity.source.getX509Svid();
  t.equal(svid.id.toString(), 'spiffe://plant.example/verigate', 'the gateway holds its SVID from the agent');
  t.ok(svid.notAfter.getTime() > Date.now() + 20 * 3600_000, 'a fresh 24 h SVID');
  t.equal(
    second.gateway.identity.source.getBundleSet().allAuthoritiesPem().join(''),
    bundle,
    'the same trust bundle as before',
  );
});
