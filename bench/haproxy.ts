/**
 * haproxy (Debian) in TCP mode in front of the simulator: `ssl ... verify required` with the dev CA bundle as
 * `ca-file`, so a client certificate is REQUIRED and verified; plain TCP to the PLC. Default threading. Idle
 * timeouts of 10 minutes: the alternating latency rounds (paired-latency.ts) leave half their connections idle
 * between the high-rate windows, for minutes when steal makes windows run again.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchPki } from './bench-pki.js';
import { startTerminator, type Terminator } from './external-terminator.js';
import { findBinary, freePort } from './ports.js';

export async function startHaproxy(dir: string, pki: BenchPki, simPort: number): Promise<Terminator> {
  const bin = findBinary('haproxy');
  if (!bin) return { ok: false, why: 'missing: apt-get install haproxy' };
  const port = await freePort();
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  maxconn 8192

defaults
  mode tcp
  timeout connect 5s
  timeout client 10m
  timeout server 10m

frontend mbaps
  bind 127.0.0.1:${port} ssl crt ${pki.server.combined} ca-file ${pki.server.bundle} verify required ssl-min-ver TLSv1.2
  default_backend plc

backend plc
  server sim 127.0.0.1:${simPort}
`,
  );
  return startTerminator({ bin, args: ['-db', '-f', conf], port, logFile: join(dir, 'haproxy.log') });
}
