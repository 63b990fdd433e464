/**
 * The identity `verigate control` presents to the hub and signs policy with: an X.509-SVID from files (PEM
 * chain + PKCS#8 key + trust bundle) or from a Workload API (the same X509Source the gateway uses,
 * gateway/identity/x509-source.ts). Read per use (`svid()`), so a rotated SVID signs the next publish and
 * opens the next connection. A long-running `control serve` also needs to hear of a rotation (its hub
 * connection must be replaced before the old SVID expires): `onUpdate` reports a Workload API update, and
 * SVID files re-read on a timer (`refresh.timers`) when their content changed.
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
import type { TimerHandle, Timers } from '../timers.js';

export interface ControlIdentity {
  /** The current SVID (throws while a Workload API source is failed closed). */
  svid(): X509Svid;
  bundles(): BundleSet;
  spiffeId(): string;
  trustDomain(): string;
  /** TLS options for the hub: our SVID as client certificate; the hub verified as `spiffe://<td>/fleet/hub/*`
   * (or, with hub.caFile, by that CA and the host name). */
  hubTls(caFile: string | null): tls.ConnectionOptions;
  /** Called after the SVID or the bundle changed (a Workload API update, or new file content); returns off. */
  onUpdate(handler: () => void): () => void;
  close(): void;
}

export interface IdentityRefresh {
  /** Re-read SVID files on these timers (long-running commands); without it files are read once. */
  readonly timers?: Timers;
  /** How often (default 30 s: well inside an SVID's half-life, when SPIRE rewrites the files). */
  readonly everyMs?: number;
}

export const FILE_REFRESH_MS = 30_000;

export async function openControlIdentity(
  config: FleetControlConfig,
  logger: Logger,
  refresh: IdentityRefresh = {},
): Promise<ControlIdentity> {
  const id = config.identity;
  if (id.source === 'files') return fromFiles(id, logger, refresh);
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
    onUpdate: (handler) => {
      source.on('update', handler);
      return () => void source.off('update', handler);
    },
    close: () => source.close(),
  };
}

type Files = { readonly cert: string; readonly key: string; readonly bundle: string };

/** SVID files, re-read on the timers when given: new content (that parses) replaces the SVID and is reported. */
function fromFiles(files: Files, logger: Logger, refresh: IdentityRefresh): ControlIdentity {
  let state = readFiles(files);
  const handlers = new Set<() => void>();
  let timer: TimerHandle | null = null;
  const reread = (): void => {
    timer = null;
    try {
      const next = readFiles(files);
      if (next.text !== state.text) {
        state = next;
        logger.info({ cert: files.cert, spiffeId: next.svid.id.toString() }, 'control: SVID files changed');
        for (const h of handlers) h();
      }
    } catch (err) {
      // half-written during a rotation, say: the SVID in use stays, read again at the next tick
      logger.warn({ err: errorMessage(err) }, 'control: SVID files unreadable, keeping the current SVID');
    }
    arm();
  };
  const arm = (): void => {
    if (refresh.timers !== undefined && handlers.size > 0)
      timer = refresh.timers.setTimeout(reread, refresh.everyMs ?? FILE_REFRESH_MS);
  };
  return {
    ...common(
      () => state.svid,
      () => state.bundles,
    ),
    onUpdate: (handler) => {
      handlers.add(handler);
      if (timer === null) arm();
      return () => void handlers.delete(handler);
    },
    close: () => {
      handlers.clear();
      refresh.timers?.clearTimeout(timer);
      timer = null;
    },
  };
}

function readFiles(files: Files): { svid: X509Svid; bundles: BundleSet; text: string } {
  const svid = svidFromFiles(files.cert, files.key);
  const bundlePem = readText(files.bundle, 'trust bundle');
  const bundles = BundleSet.of([X509Bundle.fromPem(svid.id.trustDomain.name, bundlePem)]);
  const text = readText(files.cert, 'SVID certificate') + readText(files.key, 'SVID key') + bundlePem;
  return { svid, bundles, text };
}

function common(svid: () => X509Svid, bundles: () => BundleSet): Omit<ControlIdentity, 'close' | 'onUpdate'> {
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
