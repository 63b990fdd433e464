/**
 * stunnel4 (Debian) in front of the simulator: TLS server, client certificate REQUIRED and verified against
 * the dev CA bundle (`requireCert` + `verifyChain`), plain TCP to the PLC.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchPki } from './bench-pki.js';
import { startTerminator, type Terminator } from './external-terminator.js';
import { findBinary, freePort } from './ports.js';

export async function startStunnel(dir: string, pki: BenchPki, simPort: number): Promise<Terminator> {
  const bin = findBinary('stunnel4', 'stunnel');
  if (!bin) return { ok: false, why: 'missing: apt-get install stunnel4' };
  const port = await freePort();
  const conf = join(dir, 'stunnel.conf');
  writeFileSync(
    conf,
    `foreground = yes
pid =
debug = 3
output = ${join(dir, 'stunnel.out')}
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1

[modbus]
accept = 127.0.0.1:${port}
connect = 127.0.0.1:${simPort}
cert = ${pki.server.cert}
key = ${pki.server.key}
CAfile = ${pki.server.bundle}
requireCert = yes
verifyChain = yes
sslVersionMin = TLSv1.2
`,
  );
  return startTerminator({ bin, args: [conf], port, logFile: join(dir, 'stunnel.log') });
}
