/**
 * The bench's PKI: one dev CA (the gateway's dev issuer uses the same directory), a client SVID for the load
 * generator, and a server SVID for the baselines (Node TLS pipe, stunnel, haproxy), so every row does the
 * same mTLS with the same key types. Files are written once into the run's temp dir.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DevCa } from '../gateway/identity/dev-ca.js';
import { derToPem } from '../gateway/identity/x509-svid.js';

export const TRUST_DOMAIN = 'plant.example';
export const CLIENT_ID = `spiffe://${TRUST_DOMAIN}/historian`;

export interface BenchPki {
  readonly caDir: string;
  /** PEM strings for tls.connect. */
  readonly client: { cert: string; key: string; ca: string };
  /** Files for the baseline terminators; `combined` is cert + key in one file (haproxy's `crt`). */
  readonly server: { cert: string; key: string; bundle: string; combined: string };
}

export async function createBenchPki(dir: string): Promise<BenchPki> {
  const caDir = join(dir, 'dev-ca');
  const ca = await DevCa.loadOrCreate(caDir, TRUST_DOMAIN);
  const pem = async (spiffeId: string): Promise<{ cert: string; key: string }> => {
    const s = await ca.mintX509Svid({ spiffeId });
    return { cert: s.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''), key: derToPem(s.keyDer, 'PRIVATE KEY') };
  };
  const client = await pem(CLIENT_ID);
  const server = await pem(`spiffe://${TRUST_DOMAIN}/tls-terminator`);
  const files = {
    cert: join(dir, 'server-cert.pem'),
    key: join(dir, 'server-key.pem'),
    bundle: join(dir, 'bundle.pem'),
    combined: join(dir, 'server-combined.pem'),
  };
  writeFileSync(files.cert, server.cert);
  writeFileSync(files.key, server.key, { mode: 0o600 });
  writeFileSync(files.bundle, ca.bundlePem());
  writeFileSync(files.combined, server.cert + server.key, { mode: 0o600 });
  return { caDir, client: { ...client, ca: ca.bundlePem() }, server: files };
}
