/**
 * A real RFC 5425 receiver for tests: Debian's rsyslogd with the OpenSSL stream driver (rsyslog-openssl),
 * run in the foreground with a private config in a temp dir, mutual TLS (x509/certvalid), writing
 * `MSGID SD MSG` per received message to a file. Plus the test PKI (CA, server, SPIFFE client cert).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  buildCertificate,
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  exportPkcs8,
  generateKeyPair,
  KeyUsage,
} from '../../gateway/identity/cert-builder.js';
import { eventually } from './eventually.js';
import { freePort } from './free-port.js';

export const RSYSLOG_HINT = 'rsyslogd with the OpenSSL driver is required: apt-get install rsyslog rsyslog-openssl';

/** Fails (never skips) when the receiver is not installed. */
export function requireRsyslogd(): string {
  for (const p of ['/usr/sbin/rsyslogd', '/sbin/rsyslogd']) {
    if (existsSync(p)) {
      if (
        !existsSync('/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so') &&
        !existsSync('/usr/lib/rsyslog/lmnsd_ossl.so')
      ) {
        const found = spawnSync('sh', [
          '-c',
          'ls /usr/lib/*/rsyslog/lmnsd_ossl.so /usr/lib/rsyslog/lmnsd_ossl.so 2>/dev/null',
        ])
          .stdout.toString()
          .trim();
        if (found === '') throw new Error(`rsyslog-openssl (lmnsd_ossl.so) missing: ${RSYSLOG_HINT}`);
      }
      return p;
    }
  }
  throw new Error(`rsyslogd not found: ${RSYSLOG_HINT}`);
}

export interface TestPki {
  readonly caPem: string;
  readonly caFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  readonly clientCertPem: string;
  readonly clientKeyPem: string;
  readonly clientKey: KeyObject;
  readonly clientSpiffeId: string;
}

/** CA + server cert (localhost) + client SVID-like cert (URI SAN), EC P-256, written as PEM into dir. */
export async function makeTestPki(dir: string, spiffeId = 'spiffe://plant.example/verigate'): Promise<TestPki> {
  mkdirSync(dir, { recursive: true });
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caKeys = await generateKeyPair();
  const ca = buildCertificate({
    subject: 'CN=verigate test CA',
    keys: caKeys,
    notBefore,
    notAfter,
    ca: true,
    keyUsage: KeyUsage.keyCertSign | KeyUsage.cRLSign,
    eku: null,
  });
  const issuer = { cert: ca, key: caKeys.privateKey };
  const srvKeys = await generateKeyPair();
  const srv = buildCertificate({
    subject: 'CN=localhost',
    keys: srvKeys,
    issuer,
    notBefore,
    notAfter,
    keyUsage: KeyUsage.digitalSignature,
    eku: [EKU_SERVER_AUTH],
    dnsNames: ['localhost'],
  });
  const cliKeys = await generateKeyPair();
  const cli = buildCertificate({
    subject: 'CN=verigate',
    keys: cliKeys,
    issuer,
    notBefore,
    notAfter,
    keyUsage: KeyUsage.digitalSignature,
    eku: [EKU_CLIENT_AUTH],
    uris: [spiffeId],
  });
  const pem = (der: Buffer) =>
    `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  const files = {
    caFile: join(dir, 'ca.pem'),
    serverCertFile: join(dir, 'server.pem'),
    serverKeyFile: join(dir, 'server-key.pem'),
  };
  const caPem = ca.toString();
  writeFileSync(files.caFile, caPem);
  writeFileSync(files.serverCertFile, srv.toString());
  writeFileSync(files.serverKeyFile, pem(exportPkcs8(srvKeys.privateKey)), { mode: 0o600 });
  const clientKeyPem = pem(exportPkcs8(cliKeys.privateKey));
  return {
    ...files,
    caPem,
    clientCertPem: cli.toString(),
    clientKeyPem,
    clientKey: createPrivateKey(clientKeyPem),
    clientSpiffeId: spiffeId,
  };
}

export interface Rsyslog {
  readonly port: number;
  readonly outFile: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Received lines so far. */
  lines(): string[];
  stderr(): string;
}

export async function rsyslogReceiver(dir: string, pki: TestPki, fixedPort?: number): Promise<Rsyslog> {
  const bin = requireRsyslogd();
  mkdirSync(join(dir, 'work'), { recursive: true });
  const port = fixedPort ?? (await freePort());
  const outFile = join(dir, 'received.log');
  const conf = join(dir, 'rsyslog.conf');
  const pidFile = join(dir, 'rsyslogd.pid');
  writeFileSync(
    conf,
    [
      `global(workDirectory="${join(dir, 'work')}" maxMessageSize="64k"`,
      `  DefaultNetstreamDriver="ossl" DefaultNetstreamDriverCAFile="${pki.caFile}"`,
      `  DefaultNetstreamDriverCertFile="${pki.serverCertFile}" DefaultNetstreamDriverKeyFile="${pki.serverKeyFile}")`,
      // RFC 5425: TLS mandatory (Mode 1), client certificate required and checked against the CA.
      `module(load="imtcp" StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")`,
      `template(name="verigate" type="string" string="%msgid% %structured-data% %msg%\\n")`,
      `input(type="imtcp" port="${port}" address="127.0.0.1")`,
      `action(type="omfile" file="${outFile}" template="verigate")`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | null = null;
  let err = '';
  const handle: Rsyslog = {
    port,
    outFile,
    async start() {
      const c = spawn(bin, ['-n', '-f', conf, '-i', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout?.on('data', (d: Buffer) => (err += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
      child = c;
      await waitListening(port, c, () => err);
    },
    async stop() {
      const c = child;
      child = null;
      if (c === null || c.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        const kill = setTimeout(() => c.kill('SIGKILL'), 5000);
        c.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        c.kill('SIGTERM');
      });
    },
    lines() {
      return existsSync(outFile)
        ? readFileSync(outFile, 'utf8')
            .split('\n')
            .filter((l) => l.length > 0)
        : [];
    },
    stderr: () => err,
  };
  return handle;
}

async function waitListening(port: number, c: ChildProcess, out: () => string): Promise<void> {
  // a field, not a `let`: TypeScript does not see the poll callback assign it and would narrow it to null
  const seen: { exited: number | null } = { exited: null };
  const listening = (): Promise<boolean> => {
    seen.exited = c.exitCode;
    if (seen.exited !== null) return Promise.resolve(true); // stop polling: reported below
    return new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  };
  await eventually(`rsyslogd listening on ${port}`, listening, { timeoutMs: 10_000, intervalMs: 50 }).catch(
    (err: Error) => {
      throw new Error(`${err.message}: ${out()}`);
    },
  );
  if (seen.exited !== null) throw new Error(`rsyslogd exited with ${seen.exited}: ${out()}`);
}
