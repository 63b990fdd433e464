/**
 * The identity `verigate control` presents to the hub and signs policy with: an X.509-SVID from files (PEM
 * chain + PKCS#8 key + trust bundle) or from a Workload API (the same X509Source the gateway uses,
 * gateway/identity/x509-source.ts). Read per use (`svid()`), so a rotated SVID signs the next publish and
 * opens the next connection.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type tls from 'node:tls';
import { GatewayError, errorMessage } from '../errors.js';
import type { FleetControlConfig } from '../fleet/fleet-control-config.js';
import { authorizeMatching } from '../identity/authorizers.js';
import { BundleSet, X509Bundle } from '../identity/bundle-set.js';
import { clientTlsOptions } from '../identity/tls-options.js';
import { X509Source } from '../identity/x509-source.js';
import { parseX509Svid, type X509Svid } from '../identity/x509-svid.js';
import type { Logger } from '../logger.js';

export interface ControlIdentity {
  /** The current SVID (throws while a Workload API source is failed closed). */
  svid(): X509Svid;
  bundles(): BundleSet;
  spiffeId(): string;
  trustDomain(): string;
  /** TLS options for the hub: our SVID as client certificate; the hub verified as `spiffe://<td>/fleet/hub/*`
   * (or, with hub.caFile, by that CA and the host name). */
  hubTls(caFile: string | null): tls.ConnectionOptions;
  close(): void;
}

export async function openControlIdentity(config: FleetControlConfig, logger: Logger): Promise<ControlIdentity> {
  const id = config.identity;
  if (id.source === 'files') {
    const svid = svidFromFiles(id.cert, id.key);
    const td = svid.id.trustDomain.name;
    const bundles = BundleSet.of([X509Bundle.fromPem(td, readText(id.bundle, 'trust bundle'))]);
    return fixed(svid, bundles);
  }
  const source = await X509Source.create({
    ...(id.socket === null ? {} : { address: id.socket }),
    timeoutMs: id.startupTimeoutMs,
    logger,
  });
  return {
    ...common(
      () => source.getX509Svid(),
      () => source.getBundleSet(),
    ),
    close: () => source.close(),
  };
}

function fixed(svid: X509Svid, bundles: BundleSet): ControlIdentity {
  return {
    ...common(
      () => svid,
      () => bundles,
    ),
    close: () => undefined,
  };
}

function common(svid: () => X509Svid, bundles: () => BundleSet): Omit<ControlIdentity, 'close'> {
  const trustDomain = (): string => svid().id.trustDomain.name;
  return {
    svid,
    bundles,
    spiffeId: () => svid().id.toString(),
    trustDomain,
    hubTls: (caFile) => {
      const base = clientTlsOptions(svid(), bundles(), {
        authorizer: authorizeMatching([`spiffe://${trustDomain()}/fleet/hub/*`]),
      });
      if (caFile === null) return base;
      // A hub with certificates from another CA: that CA and ordinary host name verification.
      const { checkServerIdentity: _spiffeCheck, ...rest } = base;
      return { ...rest, ca: readText(caFile, 'hub CA') };
    },
  };
}

/** An SVID from PEM files: the chain (leaf first) and its unencrypted private key (PKCS#8 or SEC1/PKCS#1). */
export function svidFromFiles(certFile: string, keyFile: string): X509Svid {
  const certPem = readText(certFile, 'SVID certificate');
  const blocks = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw invalid(`${certFile}: no PEM certificate found`);
  let chainDer: Buffer;
  let keyDer: Buffer;
  try {
    chainDer = Buffer.concat(blocks.map((b) => new X509Certificate(b).raw));
    keyDer = createPrivateKey(readText(keyFile, 'SVID key')).export({ format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw invalid(`${certFile} / ${keyFile}: ${errorMessage(err)}`, err);
  }
  return parseX509Svid(chainDer, keyDer);
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`, err);
  }
}

function invalid(message: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_IDENTITY_INVALID', `control: ${message}`, cause === undefined ? {} : { cause });
}
