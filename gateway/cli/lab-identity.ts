/**
 * Identity for the lab: real SPIRE (server + agent started from the project's build in `.spire/bin`) when
 * available or asked for, else the embedded dev issuer. Either way the gateway reads its SVID over the
 * Workload API, and lab clients get PEM credentials (svid.pem, key.pem, bundle.pem) in `clients/<name>/`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { GatewayError } from '../errors.js';
import { DevCa } from '../identity/dev-ca.js';
import { derToPem } from '../identity/x509-svid.js';
import { findSpireBinaries, startSpireLab } from './spire-lab.js';

export const LAB_TRUST_DOMAIN = 'plant.example';
export const GATEWAY_ID = `spiffe://${LAB_TRUST_DOMAIN}/verigate`;

export interface ClientFiles {
  readonly cert: string;
  readonly key: string;
  readonly bundle: string;
}

export interface LabIdentity {
  readonly kind: 'spire' | 'dev';
  readonly trustDomain: string;
  /** The `identity:` block of gateway.yaml, as YAML lines. */
  readonly gatewayYaml: string;
  mintClient(name: string, spiffeId: string, role?: string): Promise<ClientFiles>;
  stop(): Promise<void>;
}

export async function startLabIdentity(
  dir: string,
  mode: 'spire' | 'dev' | 'auto',
  logger: Logger,
): Promise<LabIdentity> {
  const useSpire = mode === 'spire' || (mode === 'auto' && findSpireBinaries() !== null);
  if (mode === 'spire' && !findSpireBinaries()) {
    throw new GatewayError(
      'GW_ERR_SPIRE_LAB',
      'lab: --identity spire, but no SPIRE binaries: run `bash spire-config/build-spire.sh`',
    );
  }
  return useSpire ? spireIdentity(dir, logger) : devIdentity(dir);
}

async function devIdentity(dir: string): Promise<LabIdentity> {
  const caDir = join(dir, 'dev-ca');
  const ca = await DevCa.loadOrCreate(caDir, LAB_TRUST_DOMAIN);
  return {
    kind: 'dev',
    trustDomain: LAB_TRUST_DOMAIN,
    gatewayYaml: `identity:\n  source: dev\n  dev: { trustDomain: ${LAB_TRUST_DOMAIN}, caDir: dev-ca, spiffeId: "${GATEWAY_ID}" }\n`,
    mintClient: async (name, spiffeId, role) => {
      const svid = await ca.mintX509Svid({ spiffeId, ...(role ? { role } : {}) });
      const out = clientDir(dir, name);
      const files = { cert: join(out, 'svid.pem'), key: join(out, 'key.pem'), bundle: join(out, 'bundle.pem') };
      writeFileSync(files.cert, svid.chainDer.map((d) => derToPem(d, 'CERTIFICATE')).join(''));
      writeFileSync(files.key, derToPem(svid.keyDer, 'PRIVATE KEY'), { mode: 0o600 });
      writeFileSync(files.bundle, ca.bundlePem());
      return files;
    },
    stop: () => Promise.resolve(),
  };
}

async function spireIdentity(dir: string, logger: Logger): Promise<LabIdentity> {
  const spire = await startSpireLab({ dir: join(dir, 'spire'), trustDomain: LAB_TRUST_DOMAIN, logger });
  try {
    // The unix workload attestor keys on the caller's uid: the gateway runs in this process.
    await spire.createEntry({
      spiffeId: GATEWAY_ID,
      selectors: [`unix:uid:${process.getuid?.() ?? 0}`],
      x509SvidTtlSeconds: 86_400,
      dnsNames: ['localhost'],
    });
  } catch (err) {
    await spire.stop();
    throw err;
  }
  return {
    kind: 'spire',
    trustDomain: LAB_TRUST_DOMAIN,
    gatewayYaml: `identity:\n  source: workload-api\n  socket: "unix://${spire.agentSocket}"\n  startupTimeout: 90s\n`,
    // `spire-server x509 mint` cannot add the Modbus role extension: under SPIRE, roles come from policy `roles:`.
    mintClient: async (name, spiffeId) => {
      const m = await spire.mintX509(spiffeId, 86_400, clientDir(dir, name));
      return { cert: m.certPath, key: m.keyPath, bundle: m.bundlePath };
    },
    stop: () => spire.stop(),
  };
}

function clientDir(dir: string, name: string): string {
  const out = join(dir, 'clients', name);
  mkdirSync(out, { recursive: true });
  return out;
}
